"""Corpus loaders: one table row per utterance, parsed from the folder layout each release unpacks to.

Every loader walks its folder recursively, parses emotion, speaker and text from the names, reads each file's
header (by content, whatever the extension says) and reports every file it passes over with the reason.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from features.audio import AudioError, probe
from features.registries import Registry

from .emotions import canonical_emotion
from .more import ALIASES as MORE_ALIASES
from .more import DESCRIPTIONS as MORE_DATASETS
from .more import loader as more_loader
from .table import (
    AUDIO_EXTENSIONS,
    COLUMNS,
    Corpus,
    CorpusError,
    ParsedRow,
    Parser,
    Skip,
    Skipped,
    as_table,
    check_usable,
    prefix_ids,
)

# --------------------------------------------------------------------------------------------------------------
# Name parsers: (path, root) -> row fields, or raise Skip(reason).

TESS_SPEAKERS = {"OAF", "YAF"}


def parse_tess(path: Path, root: Path) -> ParsedRow:
    """``OAF_angry/OAF_back_angry.wav``; surprise is spelled ``ps`` or ``pleasant_surprise(d)``."""
    parts = path.stem.split("_")
    if len(parts) < 3:
        raise Skip("name does not parse as TESS (expected SPEAKER_word_emotion)")
    prefix, word, file_emotion = parts[0].upper(), parts[1].lower(), "_".join(parts[2:])
    folder_speaker, _, folder_emotion = path.parent.name.partition("_")
    folder_speaker = folder_speaker.upper()
    # Some releases misname files; the folder a file was filed under is the more reliable speaker.
    speaker = folder_speaker if folder_speaker in TESS_SPEAKERS else prefix
    if speaker not in TESS_SPEAKERS:
        raise Skip(f"name does not parse as TESS (unknown speaker {prefix!r})")
    emotion = canonical_emotion(file_emotion) or canonical_emotion(folder_emotion)
    if emotion is None:
        raise Skip(f"unknown label {file_emotion!r}")
    return {"emotion": emotion, "label": file_emotion, "speaker": speaker, "gender": "F", "text": word}


RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
                    "07": "disgust", "08": "surprise"}
RAVDESS_MODALITIES = {"01": "full audio-video", "02": "video-only", "03": "audio-only"}


def make_ravdess_parser(include_song: bool) -> Parser:
    def parse_ravdess(path: Path, root: Path) -> ParsedRow:
        """``03-01-05-01-02-01-12.wav``: modality, channel, emotion, intensity, statement, repetition, actor."""
        match = RAVDESS_RE.match(path.stem)
        if not match:
            raise Skip("name does not parse as RAVDESS (expected MM-VV-EE-II-SS-RR-AA)")
        modality, channel, code, intensity, statement, repetition, actor = match.groups()
        if modality != "03":
            kind = RAVDESS_MODALITIES.get(modality, "unknown")
            raise Skip(f"modality {modality} ({kind}); only audio-only files (03) are used")
        if channel == "02" and not include_song:
            raise Skip("song file; pass --include-song to use the sung recordings")
        if channel not in ("01", "02"):
            raise Skip(f"unknown vocal channel {channel}")
        if code not in RAVDESS_EMOTIONS:
            raise Skip(f"unknown label {code!r}")
        if statement not in ("01", "02") or intensity not in ("01", "02") or not 1 <= int(actor) <= 24:
            raise Skip("name does not parse as RAVDESS (field out of range)")
        return {
            "emotion": RAVDESS_EMOTIONS[code], "label": code, "speaker": actor,
            "gender": "M" if int(actor) % 2 else "F", "text": f"s{statement}",
            "intensity": "normal" if intensity == "01" else "strong",
            "channel": "speech" if channel == "01" else "song", "take": repetition,
        }

    return parse_ravdess


CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$", re.IGNORECASE)
CREMAD_SENTENCES = {"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}
CREMAD_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}


def make_cremad_parser(root: Path) -> Parser:
    genders = _cremad_genders(root)

    def parse_cremad(path: Path, root: Path) -> ParsedRow:
        """``AudioWAV/1001_DFA_ANG_XX.wav``: speaker, sentence, emotion, intensity level."""
        match = CREMAD_RE.match(path.stem)
        if not match:
            raise Skip("name does not parse as CREMA-D (expected SPKR_SEN_EMO_LV)")
        speaker, sentence, code, level = (g.upper() for g in match.groups())
        if sentence not in CREMAD_SENTENCES:
            raise Skip(f"name does not parse as CREMA-D (unknown sentence {sentence!r})")
        if code not in CREMAD_EMOTIONS:
            raise Skip(f"unknown label {code!r}")
        return {"emotion": CREMAD_EMOTIONS[code], "label": code, "speaker": speaker,
                "gender": genders.get(speaker), "text": sentence, "intensity": CREMAD_LEVELS.get(level, level)}

    return parse_cremad


def _cremad_genders(root: Path) -> dict[str, str]:
    """Speaker sex from the release's ``VideoDemographics.csv`` when it lies in or beside the folder."""
    for folder in (root, root.parent):
        for candidate in sorted(folder.glob("*emographics*.csv")):
            try:
                demo = pd.read_csv(candidate)
            except Exception as error:
                raise CorpusError(f"{candidate}: cannot be read as CSV ({error})") from None
            if {"ActorID", "Sex"} <= set(demo.columns):
                return {str(a): ("M" if str(s).lower().startswith("m") else "F")
                        for a, s in zip(demo["ActorID"], demo["Sex"], strict=True)}
    return {}


SAVEE_SPEAKERS = {"DC", "JE", "JK", "KL"}
SAVEE_EMOTIONS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad",
                  "su": "surprise"}
SAVEE_FLAT_RE = re.compile(r"^([A-Za-z]{2})_([a-z]{1,2})(\d\d)$")
SAVEE_NESTED_RE = re.compile(r"^([a-z]{1,2})(\d\d)$")


def parse_savee(path: Path, root: Path) -> ParsedRow:
    """Flat ``DC_a01.wav`` or nested ``DC/a01.wav``; four male speakers."""
    flat = SAVEE_FLAT_RE.match(path.stem)
    nested = SAVEE_NESTED_RE.match(path.stem)
    if flat:
        speaker, code, number = flat.group(1).upper(), flat.group(2), flat.group(3)
    elif nested and path.parent.name.upper() in SAVEE_SPEAKERS:
        speaker, code, number = path.parent.name.upper(), nested.group(1), nested.group(2)
    else:
        raise Skip("name does not parse as SAVEE (expected SP_e01 or SP/e01)")
    if speaker not in SAVEE_SPEAKERS:
        raise Skip(f"name does not parse as SAVEE (unknown speaker {speaker!r})")
    if code not in SAVEE_EMOTIONS:
        raise Skip(f"unknown label {code!r}")
    # SAVEE's numbering is per emotion and does not identify a sentence across emotions: no text id.
    return {"emotion": SAVEE_EMOTIONS[code], "label": code, "speaker": speaker, "gender": "M", "text": None,
            "take": number}


EMODB_RE = re.compile(r"^(\d\d)([ab]\d\d)([A-Za-z])([a-z]?)$")
EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad",
                  "N": "neutral"}
EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}


def parse_emodb(path: Path, root: Path) -> ParsedRow:
    """``03a01Fa.wav``: speaker, text, German emotion letter, version."""
    match = EMODB_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as EmoDB (expected 03a01Fa)")
    speaker, text, letter, version = match.groups()
    if letter not in EMODB_EMOTIONS:
        raise Skip(f"unknown label {letter!r}")
    gender = "M" if speaker in EMODB_MALE else "F" if speaker in EMODB_FEMALE else None
    return {"emotion": EMODB_EMOTIONS[letter], "label": letter, "speaker": speaker, "gender": gender,
            "text": text, "take": version or None}


SYNTHETIC_RE = re.compile(r"^syn_(?P<speaker>[fm]\d\d)_(?P<emotion>[a-z]+)_(?P<text>s\d\d)_(?P<take>t\d)$")


def parse_synthetic(path: Path, root: Path) -> ParsedRow:
    """The built-in corpus's own scheme: ``syn_f01_angry_s03_t1.wav``."""
    match = SYNTHETIC_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as the built-in corpus (expected syn_f01_angry_s03_t1)")
    emotion = canonical_emotion(match["emotion"])
    if emotion is None:
        raise Skip(f"unknown label {match['emotion']!r}")
    return {"emotion": emotion, "label": match["emotion"], "speaker": match["speaker"],
            "gender": match["speaker"][0].upper(), "text": match["text"], "take": match["take"]}


# --------------------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset ``--dataset`` names, with how it loads.

    A release whose folder names say emotion and speaker carries its ``parser`` (``parser(root, include_song)``
    builds the per-file name parser) and the ``extensions`` its folder walk takes; a release with label files
    (or the manifest) carries ``load(root) -> Corpus`` instead.
    """

    name: str
    description: str
    needs_data_dir: bool = True
    parser: Callable[[Path, bool], Parser] | None = None
    extensions: frozenset[str] = AUDIO_EXTENSIONS
    load: Callable[[Path], Corpus] | None = None
    accepts_file: bool = False  # --data-dir may name a file (a manifest CSV), not only a folder


def _fixed(parser: Parser) -> Callable[[Path, bool], Parser]:
    """A name parser that depends on neither the folder nor ``--include-song``."""
    return lambda root, include_song: parser


def _load_more(name: str, root: Path) -> Corpus:
    return more_loader(name)(root)


DATASETS: Registry[DatasetSpec] = Registry("dataset", CorpusError, aliases={
    "crema-d": "cremad", "crema_d": "cremad", "builtin": "synthetic", "csv": "manifest", **MORE_ALIASES})
for _spec in (
    DatasetSpec("synthetic", "built-in synthetic emotional speech (generated, no download)", needs_data_dir=False,
                parser=_fixed(parse_synthetic)),
    DatasetSpec("tess", "Toronto Emotional Speech Set: 2 speakers, 200 words, 7 emotions", parser=_fixed(parse_tess)),
    DatasetSpec("ravdess", "RAVDESS audio-only speech: 24 actors, 2 statements, 8 emotions",
                parser=lambda root, include_song: make_ravdess_parser(include_song),
                extensions=AUDIO_EXTENSIONS | {".mp4"}),  # the audio-video files: parsed, then skipped by modality
    DatasetSpec("cremad", "CREMA-D: 91 speakers, 12 sentences, 6 emotions",
                parser=lambda root, include_song: make_cremad_parser(root)),
    DatasetSpec("savee", "SAVEE: 4 male speakers, 7 emotions", parser=_fixed(parse_savee)),
    DatasetSpec("emodb", "Berlin EmoDB: 10 speakers, 10 texts, 7 emotions", parser=_fixed(parse_emodb)),
    DatasetSpec("manifest", "any corpus: a CSV with path,emotion,speaker[,text,gender]",
                load=lambda root: load_manifest(root), accepts_file=True),
    # Releases with label files, loaded by their own modules (iemocap.py, msppodcast.py, open_corpora.py).
    *(DatasetSpec(name, text, load=partial(_load_more, name)) for name, text in MORE_DATASETS.items()),
):
    DATASETS.register(_spec.name, _spec)
DATASET_ALIASES = DATASETS.aliases


def resolve_dataset_name(name: str) -> str:
    """The dataset's registered name: ``name`` lower-cased and de-aliased (``crema-d`` -> ``cremad``).

    Raises
    ------
    CorpusError
        No such dataset; the message lists the datasets there are.
    """
    return DATASETS.canonical(name)


def load_corpus(
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    *,
    include_song: bool = False,
    strict: bool = False,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    profile: str = "default",
) -> Corpus:
    """Load a corpus by name; with no name and no folder, the built-in synthetic corpus.

    Raises
    ------
    CorpusError
        Unknown dataset, missing folder, empty corpus, or (with ``strict``) any skipped file.
    """
    if dataset is None:
        if data_dir is None:
            dataset = "synthetic"
        elif str(data_dir).lower().endswith(".csv"):
            dataset = "manifest"
        else:
            raise CorpusError("--data-dir given without --dataset; name the corpus (e.g. --dataset emodb)")
    spec = DATASETS.get(resolve_dataset_name(dataset))
    if spec.needs_data_dir:
        root = _require_dir(spec.name, data_dir, allow_file=spec.accepts_file)
    else:  # generated on first use (the only dataset without a folder of its own)
        from .synthetic import ensure_synthetic_corpus

        root = ensure_synthetic_corpus(cache_dir=cache_dir, seed=seed, profile=profile, out_dir=data_dir)
    if spec.load is not None:
        corpus = spec.load(root)
    else:
        corpus = _load_folder(spec.name, root, spec.parser(root, include_song), spec.extensions)
    check_usable(corpus, strict)
    return corpus


def _require_dir(name: str, data_dir: str | Path | None, allow_file: bool = False) -> Path:
    if data_dir is None:
        raise CorpusError(f"--dataset {name} needs --data-dir pointing at the unpacked release")
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise CorpusError(f"data directory not found: {root}")
    if not root.is_dir() and not allow_file:
        raise CorpusError(f"--data-dir must be a folder: {root}")
    return root


def iter_files(root: Path, extensions: Iterable[str], skipped: list[Skipped] | None = None) -> list[Path]:
    """Every file below ``root`` whose extension, in any case, is one of ``extensions``; sorted.

    Symbolically linked folders are followed; a link that leads back into a folder already on the walk (a loop)
    or nowhere (broken) is not followed and, when ``skipped`` is given, recorded there with the reason.
    """
    wanted = {e.lower() for e in extensions}
    found: list[Path] = []
    skipped = [] if skipped is None else skipped

    def walk(folder: Path, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            skipped.append(Skipped(str(folder), f"folder cannot be read ({error.strerror or error})"))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError as error:  # ELOOP: links pointing at each other
                skipped.append(Skipped(str(path), _link_error(error)))
                continue
            if entry.is_symlink() and not is_dir and not is_file:
                wanted_ext = path.suffix.lower() in wanted or not path.suffix
                if wanted_ext:
                    skipped.append(Skipped(str(path), _broken_link_reason(path)))
                continue
            if is_dir:
                try:
                    stat = path.stat()
                except OSError as error:
                    skipped.append(Skipped(str(path), _link_error(error)))
                    continue
                key = (stat.st_dev, stat.st_ino)
                if key in ancestors:
                    skipped.append(Skipped(str(path), f"symbolic link loop: leads back to {os.path.realpath(path)}; "
                                                      "not followed"))
                    continue
                walk(path, ancestors | {key})
            elif is_file and path.suffix.lower() in wanted:
                found.append(path)

    try:
        root_stat = root.stat()
    except OSError as error:
        raise CorpusError(f"data directory cannot be read: {root} ({error.strerror or error})") from None
    walk(root, frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    return sorted(found)


def _link_error(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop; not followed"
    return f"symbolic link cannot be followed ({error.strerror or error})"


def _broken_link_reason(path: Path) -> str:
    try:
        path.resolve(strict=True)
    except RuntimeError:
        return "symbolic link loop; not followed"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop; not followed"
        return f"broken symbolic link (target {os.readlink(path)!r} does not exist)"
    return "symbolic link to something that is neither a file nor a folder"


def _load_folder(name: str, root: Path, parser: Parser, extensions: Iterable[str] = AUDIO_EXTENSIONS) -> Corpus:
    rows, skipped = [], []
    for path in iter_files(root, extensions, skipped):
        if path.name.startswith("._"):  # macOS resource forks shipped inside zip releases
            skipped.append(Skipped(str(path), "macOS resource-fork file, not audio"))
            continue
        try:
            fields = parser(path, root)
        except Skip as skip:
            skipped.append(Skipped(str(path), str(skip)))
            continue
        row = _with_audio_info(path, fields, name, skipped)
        if row is not None:
            rows.append(row)
    return Corpus(name, root, as_table(rows), skipped)


def _with_audio_info(path: Path, fields: ParsedRow, corpus: str, skipped: list[Skipped]) -> ParsedRow | None:
    try:
        info = probe(path)
    except AudioError as error:
        skipped.append(Skipped(str(path), error.reason))
        return None
    return {"path": str(path), **fields, "corpus": corpus, "duration": info.duration,
            "sample_rate": info.sample_rate, "channels": info.channels}


MANIFEST_REQUIRED = ("path", "emotion", "speaker")
MANIFEST_RESERVED = {*COLUMNS, "duration", "sample_rate", "channels", "digest", "peak"}  # columns we set ourselves


def load_manifest(location: Path) -> Corpus:
    """A CSV with ``path,emotion,speaker`` and optional ``text``/``gender``/``corpus``; paths relative to the CSV.

    Labels in the canonical vocabulary (or a known spelling of one) are mapped to it; any other label is kept,
    lower-cased, so that corpora with their own categories can still be benchmarked. Windows-style paths
    (``clips\\a.wav``) are read as the same relative path. A ``corpus`` column names each row's corpus; with
    more than one, speaker and sentence ids are prefixed by the corpus (``emodb:03``) so that two corpora's
    ids never merge (see :mod:`benchmark.corpora.multi`).
    """
    csv_path = location / "manifest.csv" if location.is_dir() else location
    if not csv_path.is_file():
        raise CorpusError(f"manifest not found: {csv_path}")
    try:
        manifest = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise CorpusError(f"{csv_path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    manifest.columns = [c.strip().lower() for c in manifest.columns]
    missing = [c for c in MANIFEST_REQUIRED if c not in manifest.columns]
    if missing:
        raise CorpusError(f"{csv_path}: missing column(s) {', '.join(missing)}; need path,emotion,speaker")
    rows, skipped = [], []
    base = csv_path.parent
    for number, record in enumerate(manifest.to_dict("records"), start=2):  # line 1 is the header
        raw_path = record["path"].strip()
        shown = raw_path.replace("\\", "/") if os.sep == "/" else raw_path
        where = str(base / shown) if raw_path else f"{csv_path}:{number}"
        empty = [c for c in MANIFEST_REQUIRED if not str(record[c]).strip()]
        if empty:
            skipped.append(Skipped(where, f"manifest line {number}: empty {', '.join(empty)}"))
            continue
        label = record["emotion"].strip()
        try:
            path = manifest_path(raw_path, base)
        except CorpusError as error:
            skipped.append(Skipped(where, f"manifest line {number}: {error}"))
            continue
        gender = record.get("gender", "").strip().upper()[:1] or None
        fields = {"emotion": canonical_emotion(label) or label.lower(), "label": label,
                  "speaker": record["speaker"].strip(), "gender": gender,
                  "text": record.get("text", "").strip() or None}
        # Any other column (age_band, dialect, ...) rides along, for --groups: a value per utterance or None.
        fields.update({k: str(v).strip() or None for k, v in record.items() if k not in MANIFEST_RESERVED})
        corpus_name = record.get("corpus", "").strip().lower() or "manifest"
        row = _with_audio_info(path, fields, corpus_name, skipped)
        if row is not None:
            rows.append(row)
    table = as_table(rows)
    if table["corpus"].nunique() > 1:
        table = prefix_ids(table)
    return Corpus("manifest", csv_path, table, skipped)


def manifest_path(raw: str, base: Path) -> Path:
    """A manifest's path cell as a path on this system: backslashes read as separators, relative to ``base``.

    Raises
    ------
    CorpusError
        The path is a symbolic-link loop.
    """
    text = raw.strip()
    if os.sep == "/":  # a manifest written on Windows: clips\a.wav is clips/a.wav
        text = text.replace("\\", "/")
    path = Path(text)
    path = path if path.is_absolute() else base / path
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        raise CorpusError(f"symbolic link loop at {path}") from None
