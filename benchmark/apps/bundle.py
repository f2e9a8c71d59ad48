"""A bundle: a fitted model and everything needed to predict with it, and to be honest about what it is worth.

One zip file (``.zip``; one file is what people mail, upload to the web app and check in a model registry):

- ``bundle.json``: the manifest: format and version; the model's registry name and class; the feature sets
  with their versions, cache keys and column names, and the analysis settings; the label set; the corpus
  (name, fingerprint, counts); the library versions; the speaker-independent score; a SHA-256 of every other
  member; and a SHA-256 of the manifest itself;
- ``model/...``: the fitted estimator as written by :mod:`models.persistence` (JSON, ``.npz`` arrays, skops,
  XGBoost JSON, ``.keras``). No member is ever unpickled.

Loading refuses, with a one-line reason, a file that is not a zip or is truncated, a member that is missing,
unlisted or whose checksum differs (edited or corrupted), a manifest that was edited, a format newer than this
code, libraries whose saved models are not compatible (scikit-learn major.minor, XGBoost, Keras and numpy
major), and a feature set whose code, version or settings changed since the model was trained.

The checksums detect corruption, truncation and casual edits. They are not a signature: someone who
rewrites a bundle on purpose can recompute them. What no edit can do is make loading run code: nothing is
unpickled, skops types are checked against a policy, Keras loads in safe mode.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from benchmark.apps import domain, recording, robustness
from features import AnalysisConfig, extract, load_plugins, pad_sequences
from features.audio import AUDIO_EXTENSIONS, AudioError, read_audio
from features.bank import library_versions
from features.errors import UserInputError
from features.registry import FeatureError, get_feature_set
from features.sequences import MAX_SEQUENCE_STEPS
from models.persistence import PersistenceError, load_estimator, save_estimator

BUNDLE_FORMAT = "ser-benchmark-bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"
MODEL_PREFIX = "model/"
DOMAIN_MEMBER = "domain.npz"  # per-column training percentiles and the duration range (benchmark.apps.domain)
RECORDING_MEMBER = "recording.json"  # the training clips' level, SNR, bandwidth and duration (apps.recording)
ROBUSTNESS_MEMBER = "robustness.json"  # UAR under degraded conditions, from a run (benchmark.apps.robustness)
MAX_JSON_MEMBER_BYTES = 2**20  # the two JSON members above: a few kilobytes when made by train
PROBE_MEMBER = "probe.npz"  # each feature set's numbers on a generated test signal, computed at training time
PROBE_RTOL, PROBE_ATOL = 1e-4, 1e-5
MIN_SPEAKER_CLIPS = 10  # speaker-normalised bundles: rows per speaker needed for usable statistics
MIN_SEGMENT_S = 0.1


class BundleError(UserInputError):
    """A bundle that cannot be made, loaded or used as asked; the one-line message says why."""


# ---------------------------------------------------------------------------------------------------------------
# The honest score


@dataclass(frozen=True)
class HonestScore:
    """Speaker-independent UAR of the model's recipe, measured by the benchmark's speaker protocol.

    ``uar`` is the UAR of the pooled out-of-fold predictions, with a bootstrap interval over test speakers
    (``low``, ``high``; ``None`` when the source had no per-utterance predictions); ``fold_mean`` and ``fold_std``
    are the leaderboard's mean and standard deviation over folds.
    """

    uar: float
    low: float | None
    high: float | None
    level: float
    fold_mean: float | None
    fold_std: float | None
    n_folds: int
    n_speakers: int
    n_utterances: int
    chance: float | None
    source: str  # "train" (measured when the bundle was made) or "run:<folder>"

    def line(self) -> str:
        """``expected UAR on unseen speakers: 58 % [51, 64]``."""
        text = f"expected UAR on unseen speakers: {100 * self.uar:.0f} %"
        if self.low is not None and self.high is not None:
            text += f" [{100 * self.low:.0f}, {100 * self.high:.0f}]"
        elif self.fold_std is not None:
            text += f" (± {100 * self.fold_std:.0f} over {self.n_folds} folds)"
        return text

    def detail(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{100 * self.level:.0f} % bootstrap interval over {self.n_speakers} test speakers")
        if self.fold_mean is not None:
            parts.append(f"mean over {self.n_folds} speaker folds {100 * self.fold_mean:.1f} ± "
                         f"{100 * (self.fold_std or 0):.1f}")
        if self.chance is not None:
            parts.append(f"chance {100 * self.chance:.0f} %")
        where = "measured when the bundle was made" if self.source == "train" else \
            f"from the run {self.source.removeprefix('run:')}"
        return f"{'; '.join(parts)}; {where}"

    @classmethod
    def from_dict(cls, data: dict) -> HonestScore:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# ---------------------------------------------------------------------------------------------------------------
# The bundle


@dataclass(frozen=True)
class FeatureSpec:
    """What the model's input is made of: feature sets (with their identity) and the analysis settings."""

    input_kind: str  # "vector" or "sequence"
    label: str  # the leaderboard's name for the input, e.g. "all" or "mfcc+chroma" or "mfcc_frames"
    sets: tuple[dict, ...]  # {name, version, kind, key, columns | dims}
    analysis: AnalysisConfig
    library_versions: dict

    @property
    def names(self) -> list[str]:
        return [s["name"] for s in self.sets]

    def to_dict(self) -> dict:
        return {"input_kind": self.input_kind, "label": self.label, "sets": list(self.sets),
                "analysis": asdict(self.analysis), "library_versions": dict(self.library_versions)}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        known = {f.name for f in fields(AnalysisConfig)}
        analysis = dict(data["analysis"])
        unknown = sorted(set(analysis) - known)
        if unknown:
            raise BundleError(f"analysis setting(s) {', '.join(unknown)} unknown to this version")
        if "stats" in analysis:
            analysis["stats"] = tuple(analysis["stats"])
        return cls(data["input_kind"], data["label"], tuple(data["sets"]), AnalysisConfig(**analysis),
                   dict(data["library_versions"]))


class Bundle:
    """A fitted model with its features, labels, corpus identity, library versions and honest score.

    Make one with ``python run_benchmark.py train`` (or :func:`benchmark.apps.training.train_bundle`), then::

        bundle = Bundle.load("emodb-svm.zip")
        print(bundle.score.line())
        frame = bundle.predict(["a.wav", "b.flac"])           # one row per file
        frame = bundle.predict(["call.wav"], segment=3.0)    # one row per 3 s window
    """

    def __init__(self, model, manifest: dict, path: Path | None = None, warnings: list[str] | None = None):
        self.model = model
        self.manifest = manifest
        self.path = path
        self.warnings = list(warnings or [])
        self.features = FeatureSpec.from_dict(manifest["features"])
        self.domain: dict | None = None  # the training profile (benchmark.apps.domain), when the bundle has one
        self.recording: dict | None = None  # the training clips' recording conditions (benchmark.apps.recording)
        self.robustness: dict | None = None  # the robustness profile (benchmark.apps.robustness), when measured

    # -- properties ---------------------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def speaker_norm(self) -> bool:
        return bool(self.manifest["speaker_norm"])

    @property
    def score(self) -> HonestScore | None:
        data = self.manifest.get("score")
        return HonestScore.from_dict(data) if data else None

    def caution(self) -> str:
        """The line printed once with every prediction."""
        if self.score is None:
            return "expected UAR on unseen speakers: not measured (made with --no-evaluate); treat with care"
        return self.score.line()

    def describe(self) -> str:
        corpus = self.manifest["corpus"]
        lines = [f"model {self.model_name} on {self.features.label} ({self.features.input_kind}), "
                 f"{len(self.labels)} emotions: {', '.join(self.labels)}",
                 f"trained on {corpus['dataset']}: {corpus['utterances']} utterances, {corpus['speakers']} speakers"
                 f"{', speaker-normalised features' if self.speaker_norm else ''}",
                 self.caution()]
        if self.score is not None:
            lines.append(f"  ({self.score.detail()})")
        if self.robustness:
            lines.append(robustness.describe(self.robustness))
        return "\n".join(lines)

    # -- making and saving ----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, model, *, model_name: str, features: FeatureSpec, corpus: dict, score: HonestScore | None,
               speaker_norm: bool, settings: dict, versions: dict) -> Bundle:
        """A bundle of a fitted model (not yet saved)."""
        labels = [str(c) for c in getattr(model, "classes_", [])]
        if not labels:
            raise BundleError(f"model {model_name!r} is not fitted (no classes_)")
        cls_ = type(model)
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now().isoformat(timespec="seconds"),
            "model": {"name": model_name, "class": f"{cls_.__module__}:{cls_.__qualname__}",
                      "input_kind": features.input_kind},
            "features": features.to_dict(),
            "labels": labels,
            "speaker_norm": bool(speaker_norm),
            "corpus": corpus,
            "score": asdict(score) if score is not None else None,
            "settings": settings,
            "versions": versions,
        }
        return cls(model, manifest)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle as one zip file (atomically: a temporary file renamed at the end)."""
        path = Path(path)
        if path.is_dir():
            raise BundleError(f"--out {path} is a folder; give a file name such as {path / 'model.zip'}")
        try:
            members = {MODEL_PREFIX + name: data for name, data in save_estimator(self.model).items()}
        except PersistenceError as error:
            raise BundleError(f"model {self.model_name!r} cannot be bundled: {error}") from None
        members[PROBE_MEMBER] = _npz_bytes(probe_features(self.features))
        if getattr(self, "domain", None):
            members[DOMAIN_MEMBER] = domain.to_bytes(self.domain)
        if getattr(self, "recording", None):
            members[RECORDING_MEMBER] = recording.to_bytes(self.recording)
        if getattr(self, "robustness", None):
            members[ROBUSTNESS_MEMBER] = robustness.to_bytes(self.robustness)
        manifest = {k: v for k, v in self.manifest.items() if k not in ("members", "checksum")}
        manifest["members"] = {name: _sha256(data) for name, data in sorted(members.items())}
        manifest["checksum"] = _manifest_checksum(manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST, _manifest_bytes(manifest))
                for name in sorted(members):
                    archive.writestr(name, members[name])
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.manifest, self.path = manifest, path
        return path

    # -- loading ---------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, plugins: Sequence[str | os.PathLike] = ()) -> Bundle:
        """Read and check a bundle; nothing in it is executed.

        Parameters
        ----------
        path : the bundle file.
        plugins : Python files to load first, when the model or a feature set comes from a ``--plugin`` file.

        Raises
        ------
        BundleError
            With a one-line reason: missing, not a bundle, truncated, edited or corrupted, made by an
            incompatible version, or a feature set that changed since training.
        """
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"bundle not found: {path}")
        load_plugins(plugins)
        manifest, members = read_checked(path)
        warnings = _check_features(path, manifest, members.get(PROBE_MEMBER))
        try:
            model = load_estimator({k.removeprefix(MODEL_PREFIX): v for k, v in members.items()
                                    if k.startswith(MODEL_PREFIX)}, where=str(path))
        except PersistenceError as error:
            raise BundleError(f"refused: {error}") from None
        classes = [str(c) for c in getattr(model, "classes_", [])]
        if classes != manifest["labels"]:
            raise BundleError(f"{path}: refused, the model's classes {classes} disagree with the labels in "
                              f"{MANIFEST}")
        bundle = cls(model, manifest, path, warnings)
        if DOMAIN_MEMBER in members:
            try:
                bundle.domain = domain.from_bytes(members[DOMAIN_MEMBER])
            except (ValueError, OSError):
                raise BundleError(f"{path}: refused, {DOMAIN_MEMBER} is unreadable or holds pickled objects") from None
        for name, attribute, parse in ((RECORDING_MEMBER, "recording", recording.from_bytes),
                                       (ROBUSTNESS_MEMBER, "robustness", robustness.from_bytes)):
            if name in members:
                try:
                    setattr(bundle, attribute, parse(members[name]))
                except (ValueError, TypeError, KeyError) as error:
                    raise BundleError(f"{path}: refused, {name} is malformed ({error})") from None
        return bundle

    # -- predicting ------------------------------------------------------------------------------------------------

    def training_durations(self) -> tuple[float, float, float] | None:
        """(shortest, longest, median) duration of the training clips in seconds, when the bundle knows them."""
        summary = (self.recording or {}).get("duration_s")
        if summary:
            return float(summary["min"]), float(summary["max"]), float(summary["percentiles"][2])
        span = (self.domain or {}).get("durations", np.zeros(0))
        if len(span) == 2:  # bundles made before recording.json: the range only
            return float(span[0]), float(span[1]), float(np.mean(span))
        return None

    def window_seconds(self) -> float:
        """The window ``predict`` cuts long inputs into: the training clips' median duration."""
        durations = self.training_durations()
        if durations is None:
            raise BundleError("this bundle does not record its training clips' durations: give --segment SECONDS")
        return max(MIN_SEGMENT_S, round(durations[2], 2))

    def predict(self, inputs, *, speakers: str | Sequence[str] | None = None,
                segment: float | str | None = None, hop: float | None = None, window: bool = True,
                jobs: int | None = 1) -> pd.DataFrame:
        """Predict the emotion of each input (or of each window of it).

        Parameters
        ----------
        inputs : a path, an array, or a list of them. A path is an audio file in any format the reader takes
            (any rate, any channel count) or a folder (its audio files, recursively). An array is a waveform
            at the analysis rate (``bundle.features.analysis.sr``, 16 kHz by default), shape ``(n,)`` or
            ``(n, channels)``, or a tuple ``(waveform, rate)``.
        speakers : only for bundles trained with speaker normalisation: one speaker id for all inputs, or one
            per input. Each speaker's features are z-normalised over the windows of this call, so each speaker
            needs at least ``MIN_SPEAKER_CLIPS`` of them (files or windows).
        segment, hop : seconds; a timeline: one row per window of ``segment`` seconds every ``hop`` seconds
            (default ``hop = segment``). The windows cover the whole file: the last one ends at the end of the
            file. ``segment="auto"`` is the training clips' median duration.
        window : without ``segment``, an input much longer than the training clips (beyond the range the
            duration check accepts) is cut into windows of the training clips' median duration, each is
            predicted and the probabilities are averaged into the input's one row (column ``windows``). A model
            judges a 60 s recording as badly as a 10 ms one when it was trained on 2 s clips; ``False`` predicts
            every input whole.
        jobs : feature extraction processes.

        Returns
        -------
        pandas.DataFrame
            One row per input (or window): ``input``, ``start``, ``end`` (seconds), ``emotion``, ``confidence``,
            ``p_<label>`` for every label (rows sum to 1), ``windows`` (how many windows were averaged; 1 when
            the input was predicted whole), ``window_s``, the recording estimates ``level_dbfs``, ``snr_db``,
            ``bandwidth_hz`` (:mod:`benchmark.apps.recording`), with a robustness profile
            ``nearest_condition`` and ``expected_uar``, then ``outside_training`` (what lies outside what the
            bundle was trained on; empty when nothing) and ``error``: empty, or why the input was skipped
            (then ``emotion`` is missing). A bad file never stops the others.
        """
        if isinstance(segment, str):
            if segment != "auto":
                raise BundleError(f"--segment {segment}: give seconds or 'auto'")
            segment = self.window_seconds()
        if segment is not None:
            segment, hop = check_segment(segment, hop)
        items = _expand_inputs(inputs)
        speaker_of = _speakers_for(items, speakers, self.speaker_norm)
        durations = self.training_durations()
        sr = self.features.analysis.sr
        rows: list[dict] = []
        units: list[tuple[int, str, float, float]] = []  # (row, wav path, start, end)
        with tempfile.TemporaryDirectory(prefix="ser-predict-") as tmp:
            tmp_dir = Path(tmp)
            for i, (name, source) in enumerate(items):
                base = {"input": name, "speaker": speaker_of[i] if speaker_of else None}
                try:
                    y = self._decode(source)
                except AudioError as error:
                    rows.append({**base, "start": np.nan, "end": np.nan, "windows": 0, "error": error.reason})
                    continue
                length = len(y) / sr
                if segment is not None:  # a timeline: a row per window
                    for j, (a, b) in enumerate(segment_bounds(len(y), sr, segment, hop)):
                        units.append((len(rows), _write(tmp_dir / f"in{i}_w{j}.wav", y[a:b], sr), a / sr, b / sr))
                        rows.append({**base, "start": round(a / sr, 3), "end": round(b / sr, 3), "windows": 1,
                                     "window_s": segment, **recording.estimate(y[a:b], sr), "error": ""})
                    continue
                row = {**base, "start": 0.0, "end": round(length, 3), "windows": 1, "window_s": np.nan,
                       **recording.estimate(y, sr), "error": ""}
                if window and durations is not None and recording.long_input(durations[:2], length):
                    seconds = self.window_seconds()
                    bounds = segment_bounds(len(y), sr, seconds, seconds)
                    for j, (a, b) in enumerate(bounds):
                        units.append((len(rows), _write(tmp_dir / f"in{i}_w{j}.wav", y[a:b], sr), a / sr, b / sr))
                    row.update(windows=len(bounds), window_s=seconds)
                elif isinstance(source, tuple):  # an array: written losslessly as float WAV
                    units.append((len(rows), _write(tmp_dir / f"array{i}.wav", y, sr), 0.0, length))
                else:  # a file: analysed as it is, exactly as at training time
                    units.append((len(rows), str(source), 0.0, length))
                rows.append(row)
            proba, notes, failed = self._predict_units(units, rows, jobs)
        self._gather(rows, units, proba, notes, failed)
        return self._frame(rows)

    def _decode(self, source) -> np.ndarray:
        """An input as a mono float32 waveform at the analysis rate, as feature extraction reads it."""
        sr = self.features.analysis.sr
        if isinstance(source, tuple):
            y, rate = source
            y = y.mean(axis=1, dtype=np.float32) if y.ndim == 2 else y
            if rate and rate != sr:
                from features.audio import resample

                y = resample(y.astype(np.float32), rate, sr)
            return np.asarray(y, dtype=np.float32)
        return read_audio(source, sr=sr)[0]

    def _gather(self, rows: list[dict], units, proba: dict, notes: dict, failed: dict) -> None:
        """Each row's probabilities (the mean over its windows) and everything that lies outside training."""
        by_row: dict[int, list[int]] = {}
        for k, unit in enumerate(units):
            by_row.setdefault(unit[0], []).append(k)
        check_duration = not len((self.domain or {}).get("durations", np.zeros(0)))
        for r, row in enumerate(rows):
            if row["error"]:
                continue
            mine = by_row.get(r, [])
            ok = [k for k in mine if k in proba]
            if not ok:
                row["error"] = failed.get(mine[0], "no features") if mine else "no audio"
                continue
            row["proba"] = np.mean([proba[k] for k in ok], axis=0)
            parts = []
            if self.recording:
                unit_seconds = units[ok[0]][3] - units[ok[0]][2]
                parts += recording.outside(self.recording, row, unit_seconds if check_duration else None)
            found = [notes[k] for k in ok if notes.get(k)]
            if found and len(mine) > 1 and row.get("windows", 1) > 1:
                parts.append(f"{len(found)} of {len(mine)} windows: {found[0]}")
            elif found:
                parts.append(found[0])
            if len(ok) < len(mine):
                parts.append(f"{len(mine) - len(ok)} of {len(mine)} windows could not be analysed "
                             f"({failed[next(k for k in mine if k not in proba)]})")
            if self.robustness:
                condition = robustness.nearest(self.robustness, row, self.recording)
                if condition is not None:
                    row["nearest_condition"], row["expected_uar"] = condition["name"], condition["uar"]
            row["outside_training"] = "; ".join(parts)

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        """The rows as the documented columns, in their documented order."""
        columns = ["input", *(["speaker"] if self.speaker_norm else []), "start", "end", "emotion", "confidence",
                   *[f"p_{label}" for label in self.labels], "windows", "window_s", *recording.STATS,
                   *(["nearest_condition", "expected_uar"] if self.robustness else []), "outside_training", "error"]
        records = []
        for row in rows:
            out = {c: row.get(c) for c in columns}
            p = row.get("proba")
            if p is not None:
                out.update({f"p_{label}": float(v) for label, v in zip(self.labels, p, strict=True)})
                out["emotion"], out["confidence"] = self.labels[int(np.argmax(p))], float(np.max(p))
            out["outside_training"] = row.get("outside_training", "") if not row["error"] else ""
            records.append(out)
        frame = pd.DataFrame(records, columns=columns)
        numeric = ["confidence", *[f"p_{label}" for label in self.labels], "window_s", *recording.STATS,
                   *(["expected_uar"] if self.robustness else [])]
        frame[numeric] = frame[numeric].astype(float)
        frame["windows"] = frame["windows"].fillna(0).astype(int)
        for column in ("emotion", *(["nearest_condition"] if self.robustness else [])):  # None, not NaN, if missing
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame

    def _predict_units(self, units, rows: list[dict], jobs: int | None
                       ) -> tuple[dict[int, np.ndarray], dict[int, str], dict[int, str]]:
        """Per unit: probabilities, what of its features lies outside training, and why its features failed."""
        if not units:
            return {}, {}, {}
        spec = self.features
        vector = spec.input_kind == "vector"
        table = pd.DataFrame({"path": [u[1] for u in units]})
        with tempfile.TemporaryDirectory(prefix="ser-predict-cache-") as cache:
            feats = extract(table, spec.names if vector else [], spec.analysis,
                            sequence_sets=[] if vector else spec.names, cache_dir=cache, use_cache=False,
                            jobs=jobs, progress=False)
        reasons = dict(feats.report.failed)
        failed = {k: reasons[u[1]] for k, u in enumerate(units) if u[1] in reasons}
        ok = [k for k in range(len(units)) if k not in failed]
        if not ok:
            return {}, {}, failed
        if vector:
            for entry in spec.sets:
                got = feats.columns[entry["name"]]
                if got != entry["columns"]:
                    raise BundleError(f"feature set {entry['name']!r} now gives {len(got)} columns, the model was "
                                      f"trained on {len(entry['columns'])}; the bundle does not fit this version")
            X = feats.matrix(spec.names)[0]
        else:
            sequences = feats.sequences[spec.names[0]]
            dims = spec.sets[0]["dims"]
            if sequences[0].shape[1] != dims:
                raise BundleError(f"feature set {spec.names[0]!r} now gives {sequences[0].shape[1]} dimensions "
                                  f"per frame, the model was trained on {dims}")
            X = pad_sequences(sequences, min(max(len(s) for s in sequences), MAX_SEQUENCE_STEPS))
        notes: dict[int, str] = {}
        if vector and getattr(self, "domain", None):  # on the raw features, as the profile was
            columns = [c for entry in spec.sets for c in entry["columns"]]
            found = domain.outside(self.domain, X, np.array([units[k][3] - units[k][2] for k in ok]), columns)
            notes = dict(zip(ok, found, strict=True))
        if self.speaker_norm:
            from benchmark.evaluation.normalisation import speaker_normalise

            groups = np.array([rows[units[k][0]]["speaker"] for k in ok], dtype=object).astype(str)
            _check_speaker_rows(groups)
            X = speaker_normalise(X, groups)
        proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        return {k: proba[n] for n, k in enumerate(ok)}, notes, failed


def _write(path: Path, y: np.ndarray, sr: int) -> str:
    sf.write(path, y, sr, subtype="FLOAT")
    return str(path)


# ---------------------------------------------------------------------------------------------------------------
# Reading and checking a bundle file


def read_checked(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the model members of a bundle file, after every integrity and version check."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        reason = "truncated or not a bundle" if isinstance(error, zipfile.BadZipFile | EOFError) else str(error)
        raise BundleError(f"{path}: refused, {reason} (not a readable zip file)") from None
    with archive:
        names = archive.namelist()
        if MANIFEST not in names:
            raise BundleError(f"{path}: refused, not a bundle (no {MANIFEST})")
        budget = max_bundle_bytes()
        try:
            raw = _read_bounded(archive, MANIFEST, MAX_MANIFEST_BYTES, path)
            manifest = json.loads(raw)
        except BundleError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError):
            raise BundleError(f"{path}: refused, {MANIFEST} is corrupt or truncated") from None
        _check_manifest(path, manifest)
        # The checksum covers the manifest's body; its bytes must be exactly what save wrote from it, so that
        # padding or reformatting (which parses to the same JSON) is refused as any other edit
        if raw != _manifest_bytes(manifest):
            raise BundleError(f"{path}: refused, {MANIFEST} does not match its checksum (its bytes were edited)")
        listed = manifest["members"]
        extra = sorted(set(names) - set(listed) - {MANIFEST})
        if extra:
            raise BundleError(f"{path}: refused, member {extra[0]} is not listed in {MANIFEST} (added after saving)")
        missing = sorted(set(listed) - set(names))
        if missing:
            raise BundleError(f"{path}: refused, member {missing[0]} is missing (truncated?)")
        if len(names) != len(set(names)):
            raise BundleError(f"{path}: refused, a member name appears twice")
        members, total = {}, 0
        for name in sorted(listed):
            try:
                if name in (RECORDING_MEMBER, ROBUSTNESS_MEMBER) and budget - total > MAX_JSON_MEMBER_BYTES:
                    data = _read_bounded(archive, name, MAX_JSON_MEMBER_BYTES, path, "a JSON member may hold")
                else:
                    data = _read_bounded(archive, name, budget - total, path)
            except BundleError:
                raise
            except (zipfile.BadZipFile, EOFError, OSError, ValueError):
                raise BundleError(f"{path}: refused, member {name} is corrupt or truncated") from None
            if _sha256(data) != listed[name]:
                raise BundleError(f"{path}: refused, member {name} does not match its checksum (edited or corrupted)")
            members[name] = data
            total += len(data)
    problem = incompatibility(manifest.get("versions", {}), set(members))
    if problem:
        raise BundleError(f"{path}: refused, {problem}; make the bundle again with this version (train)")
    return manifest, members


def _check_manifest(path: Path, manifest) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: refused, not a {BUNDLE_FORMAT} file")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(f"{path}: refused, bundle format {version} was made by an incompatible version "
                          f"(this version reads format {FORMAT_VERSION})")
    if manifest.get("checksum") != _manifest_checksum(manifest):
        raise BundleError(f"{path}: refused, {MANIFEST} does not match its checksum (edited or corrupted)")
    required = ("model", "features", "labels", "speaker_norm", "corpus", "members", "versions")
    missing = [k for k in required if k not in manifest]
    if missing or not isinstance(manifest["members"], dict):
        raise BundleError(f"{path}: refused, {MANIFEST} lacks {', '.join(missing) or 'members'}")


def incompatibility(saved: dict, members: Iterable[str]) -> str | None:
    """Why models saved with library versions ``saved`` cannot be loaded here; ``None`` when they can.

    scikit-learn objects need the same major.minor (its classes change between minor releases); XGBoost,
    Keras and numpy need the same major version (their formats are stable within one).
    """
    from benchmark.run.engine import package_versions

    current = package_versions()
    members = list(members)
    rules = [("numpy", 1, True)]
    rules.append(("scikit-learn", 2, any(m.endswith(".skops") for m in members)))
    rules.append(("xgboost", 1, any(m.endswith(".xgb.json") for m in members)))
    rules.append(("keras", 1, any(m.endswith(".keras") for m in members)))
    for package, parts, needed in rules:
        if not needed or package not in saved:
            continue
        if package not in current:
            return f"the model needs {package}, which is not installed"
        if _release(saved[package], parts) != _release(current[package], parts):
            return f"made with {package} {saved[package]}, this is {current[package]}"
    return None


def _check_features(path: Path, manifest: dict, probe: bytes | None) -> list[str]:
    """Refuse feature sets that no longer give the numbers the model was trained on.

    A set whose cache key is unchanged is the same computation. When the key differs (the set's code or the
    librosa / numpy / scipy versions changed) but its name and version are the same, the set is run on the
    bundle's test signal and must reproduce the numbers stored at training time; then it is accepted with a
    warning. A different version, or different numbers, is refused.
    """
    try:
        spec = FeatureSpec.from_dict(manifest["features"])
    except BundleError as error:
        raise BundleError(f"{path}: refused, {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{path}: refused, malformed feature description ({type(error).__name__})") from None
    changed = []
    for entry in spec.sets:
        try:
            fs = get_feature_set(entry["name"])
        except FeatureError:
            raise BundleError(f"{path}: feature set {entry['name']!r} is not registered here; load the plugin "
                              "that defines it (--plugin FILE)") from None
        if fs.version != entry["version"] or fs.kind != entry["kind"]:
            raise BundleError(f"{path}: refused, feature set {entry['name']!r} is version {fs.version} here, the "
                              f"model was trained on version {entry['version']}")
        if fs.key(spec.analysis, library_versions()) != entry["key"]:
            changed.append(entry["name"])
    expected = None
    if probe is not None:
        try:
            with np.load(io.BytesIO(probe), allow_pickle=False) as npz:
                expected = {k: npz[k] for k in npz.files}
        except Exception:  # numpy raises ValueError for pickled arrays, zip errors for other bytes
            raise BundleError(f"{path}: refused, {PROBE_MEMBER} is unreadable or holds pickled objects") from None
    if not changed:
        return []
    if expected is None:
        raise BundleError(f"{path}: refused, feature set(s) {', '.join(changed)} changed since the model was trained "
                          "and the bundle has no test signal to check them on")
    now = probe_features(spec, changed)
    for name in changed:
        if name not in expected or expected[name].shape != now[name].shape or not np.allclose(
                now[name], expected[name], rtol=PROBE_RTOL, atol=PROBE_ATOL):
            raise BundleError(f"{path}: refused, feature set {name!r} changed since the model was trained (its "
                              "numbers on the bundle's test signal differ)")
    return [f"feature set(s) {', '.join(changed)}: code or library versions differ from training, but they give "
            "the same numbers on the bundle's test signal"]


def probe_signal(sr: int, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A deterministic speech-like test signal: a gliding harmonic voice with vibrato, noise bursts, a pause."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 60 * t / seconds + 8 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    noise = rng.normal(0, 1, t.size) * ((t % 0.5) < 0.06)
    y = 0.2 * voice + 0.05 * noise
    y[(t > 0.9) & (t < 1.05)] = 0.0
    return y.astype(np.float32)


def probe_features(spec: FeatureSpec, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Each feature set's output on :func:`probe_signal` (vector sets: the values; sequence sets: the frames)."""
    names = list(names or spec.names)
    sr = spec.analysis.sr
    with tempfile.TemporaryDirectory(prefix="ser-probe-") as tmp:
        path = Path(tmp) / "probe.wav"
        sf.write(path, probe_signal(sr), sr, subtype="FLOAT")
        vector = spec.input_kind == "vector"
        feats = extract(pd.DataFrame({"path": [str(path)]}), names if vector else [], spec.analysis,
                        sequence_sets=[] if vector else names, cache_dir=tmp, use_cache=False, jobs=1, progress=False)
    if feats.report.failed:
        raise BundleError(f"the feature sets fail on the test signal: {feats.report.failed[0][1]}")
    if vector:
        return {n: feats.vectors[n][0] for n in names}
    return {n: np.asarray(feats.sequences[n][0]) for n in names}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


MAX_MANIFEST_BYTES = 16 * 2**20
DEFAULT_MAX_BUNDLE_MB = 1024


def max_bundle_bytes() -> int:
    """What a bundle's members may expand to in all: ``SER_BUNDLE_MAX_MB`` megabytes (default 1024)."""
    raw = os.environ.get("SER_BUNDLE_MAX_MB", "")
    try:
        megabytes = float(raw) if raw else DEFAULT_MAX_BUNDLE_MB
    except ValueError:
        raise BundleError(f"SER_BUNDLE_MAX_MB={raw!r}: expected a number of megabytes") from None
    return int(megabytes * 2**20)


def _read_bounded(archive: zipfile.ZipFile, name: str, limit: int, path: Path,
                  bound: str = "left of the limit (SER_BUNDLE_MAX_MB)") -> bytes:
    """A member's bytes, refused as soon as they exceed ``limit``: the header's size is not trusted, the
    stream is read in chunks, so a zip bomb costs at most ``limit`` bytes of memory. ``bound`` names the limit
    in the message."""
    declared = archive.getinfo(name).file_size
    if declared > limit:
        raise BundleError(f"{path}: refused, member {name} expands to {declared / 2**20:.1f} MB, over the "
                          f"{limit / 2**20:.0f} MB {bound}")
    out = io.BytesIO()
    with archive.open(name) as stream:
        while chunk := stream.read(2**20):
            if out.tell() + len(chunk) > limit:
                raise BundleError(f"{path}: refused, member {name} expands beyond the {limit / 2**20:.0f} MB "
                                  f"{bound}; its header understates its size")
            out.write(chunk)
    return out.getvalue()


def _manifest_bytes(manifest: dict) -> bytes:
    """The manifest exactly as saved: the only bytes a bundle's ``bundle.json`` may hold."""
    return json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode()


def _manifest_checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _release(version: str, parts: int) -> tuple:
    return tuple(str(version).split("+")[0].split(".")[:parts])


# ---------------------------------------------------------------------------------------------------------------
# Inputs, windows and speakers


def check_segment(segment: float, hop: float | None) -> tuple[float, float]:
    """Validated ``(segment, hop)`` in seconds; ``hop`` defaults to ``segment``."""
    if not (isinstance(segment, int | float) and math.isfinite(segment)) or segment < MIN_SEGMENT_S:
        raise BundleError(f"--segment must be at least {MIN_SEGMENT_S} s, got {segment}")
    hop = segment if hop is None else hop
    if not (isinstance(hop, int | float) and math.isfinite(hop)) or hop <= 0:
        raise BundleError(f"--hop must be positive, got {hop}")
    if hop > segment:
        raise BundleError(f"--hop ({hop} s) must not exceed --segment ({segment} s): the timeline would have gaps")
    return float(segment), float(hop)


def segment_bounds(n_samples: int, sr: int, segment: float, hop: float) -> list[tuple[int, int]]:
    """Windows ``(start, end)`` in samples covering ``[0, n_samples)`` without gaps.

    Windows of ``segment`` seconds start every ``hop`` seconds; when the last one stops short of the end, one
    more window ends exactly at the end (it overlaps its predecessor). A clip shorter than a window is one
    window.
    """
    win = max(1, int(round(segment * sr)))
    step = max(1, int(round(hop * sr)))
    if n_samples <= win:
        return [(0, n_samples)]
    bounds = [(s, s + win) for s in range(0, n_samples - win + 1, step)]
    if bounds[-1][1] < n_samples:
        bounds.append((n_samples - win, n_samples))
    return bounds


def _expand_inputs(inputs) -> list[tuple[str, object]]:
    """(display name, path or (waveform, rate)) per input; folders become their audio files."""
    if isinstance(inputs, str | os.PathLike | np.ndarray | tuple):
        inputs = [inputs]
    items: list[tuple[str, object]] = []
    for k, item in enumerate(inputs):
        if isinstance(item, tuple):
            if len(item) != 2:
                raise BundleError("an array input is a waveform or a tuple (waveform, rate)")
            items.append((f"array {k}", (_waveform(item[0]), int(item[1]))))
        elif isinstance(item, np.ndarray | list):
            items.append((f"array {k}", (_waveform(item), None)))
        elif isinstance(item, str | os.PathLike):
            path = Path(item)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                               and not p.name.startswith("."))
                if not found:
                    raise BundleError(f"{path}: no audio files in this folder")
                items += [(str(p), str(p)) for p in found]
            else:
                items.append((str(path), str(path)))
        else:
            raise BundleError(f"cannot predict on a {type(item).__name__}; give paths or arrays")
    return items


def _waveform(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim not in (1, 2) or y.shape[0] == 0:
        raise BundleError(f"a waveform must have shape (n,) or (n, channels), got {y.shape}")
    return y


def _speakers_for(items: list, speakers, speaker_norm: bool) -> list[str] | None:
    if not speaker_norm:
        return None
    if speakers is None:
        raise BundleError("this bundle was trained on speaker-normalised features: name the speaker "
                          f"(--speaker ID) and give at least {MIN_SPEAKER_CLIPS} recordings (or --segment windows) "
                          "of that speaker in one call")
    if isinstance(speakers, str):
        return [speakers] * len(items)
    speakers = [str(s) for s in speakers]
    if len(speakers) != len(items):
        raise BundleError(f"speakers: got {len(speakers)} for {len(items)} inputs")
    return speakers


def _check_speaker_rows(groups: np.ndarray) -> None:
    values, counts = np.unique(groups, return_counts=True)
    few = [(v, c) for v, c in zip(values, counts, strict=True) if c < MIN_SPEAKER_CLIPS]
    if few:
        speaker, count = few[0]
        raise BundleError(f"speaker {speaker!r} has {count} usable recording(s) or windows; speaker normalisation "
                          f"needs at least {MIN_SPEAKER_CLIPS} per speaker in one call")
