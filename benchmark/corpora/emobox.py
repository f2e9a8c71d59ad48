"""EmoBox's published fold lists (``data/<corpus>/fold_<k>/<corpus>_{train,test,valid}_fold_<k>.jsonl``), read
with this project's own name parsers: which speakers each fold tests and trains on, and whether the lists are
speaker-independent. This is how the shipped ``--split emobox`` files were made and how the lists that are not
speaker-independent were found (docs/more-corpora.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .iemocap import parse_utterance_id
from .open_corpora import PARSERS
from .releases import CREMAD_RE, make_ravdess_parser, parse_emodb, parse_savee, parse_tess
from .table import CorpusError, Skip

FOLD_RE = re.compile(r"^fold_(\d+)$")


def speaker_of(corpus: str, wav: str) -> str:
    """The speaker of one EmoBox list entry's ``wav`` path, by the corpus's own naming.

    Raises
    ------
    CorpusError
        A corpus without a parser here, or a name that does not parse.
    """
    path = Path(wav)
    try:
        if corpus in PARSERS:
            return str(PARSERS[corpus](path, path)["speaker"])
        if corpus == "iemocap":
            return parse_utterance_id(path.stem)["speaker"]
        if corpus == "cremad":
            match = CREMAD_RE.match(path.stem)
            if match:
                return match.group(1)
            raise Skip("name does not parse as CREMA-D")
        parser = {"emodb": parse_emodb, "tess": parse_tess, "savee": parse_savee,
                  "ravdess": make_ravdess_parser(False)}.get(corpus)
        if parser is None:
            raise CorpusError(f"EmoBox corpus {corpus!r}: no speaker parser here")
        return str(parser(path, path)["speaker"])
    except (Skip, ValueError) as error:
        raise CorpusError(f"EmoBox list entry {wav}: {error}") from None


def audit_emobox_lists(folder: str | Path, corpus: str) -> dict:
    """Per fold of EmoBox's lists for ``corpus`` (``folder`` is ``EmoBox/data/<corpus>``): test speakers, the
    speakers in both training and test, and the test utterances whose speaker is in training.

    Returns
    -------
    dict
        ``folds`` (one dict per fold), ``speaker_independent`` (no fold shares a speaker and every speaker is
        tested at most once), ``test_rows_of_training_speakers`` and ``test_rows`` over all folds.

    Raises
    ------
    CorpusError
        No ``fold_<k>`` folders with test lists, or an entry whose name does not parse.
    """
    folder = Path(folder)
    fold_dirs = sorted((p for p in folder.iterdir() if p.is_dir() and FOLD_RE.match(p.name)),
                       key=lambda p: int(FOLD_RE.match(p.name).group(1))) if folder.is_dir() else []
    if not fold_dirs:
        raise CorpusError(f"{folder}: no fold_<k> folders of EmoBox lists")
    folds, tested = [], Counter()
    for fold_dir in fold_dirs:
        parts = {}
        for part in ("train", "valid", "test"):
            path = fold_dir / f"{corpus}_{part}_{fold_dir.name}.jsonl"
            if path.is_file():
                rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                parts[part] = Counter(speaker_of(corpus, row["wav"]) for row in rows)
        if "test" not in parts:
            raise CorpusError(f"{fold_dir}: no {corpus}_test_{fold_dir.name}.jsonl")
        train = set(parts.get("train", {})) | set(parts.get("valid", {}))
        shared = sorted(set(parts["test"]) & train)
        tested.update(parts["test"].keys())
        folds.append({"fold": fold_dir.name, "test_speakers": sorted(parts["test"]), "shared_speakers": shared,
                      "test_rows": int(sum(parts["test"].values())),
                      "train_rows": int(sum(parts.get("train", Counter()).values())),
                      "test_rows_of_training_speakers": int(sum(parts["test"][s] for s in shared))})
    shared_rows = sum(f["test_rows_of_training_speakers"] for f in folds)
    return {"corpus": corpus, "folds": folds, "test_rows": sum(f["test_rows"] for f in folds),
            "test_rows_of_training_speakers": shared_rows,
            "speaker_independent": shared_rows == 0 and all(n == 1 for n in tested.values())}


def fold_file_rows(report: dict) -> list[tuple[str, int]]:
    """``(speaker, fold)`` rows of a speaker-independent audit, for a ``speaker,fold`` fold file.

    Raises
    ------
    CorpusError
        The lists are not speaker-independent (no speaker fold file can express them).
    """
    if not report["speaker_independent"]:
        raise CorpusError(f"EmoBox's {report['corpus']} lists are not speaker-independent "
                          f"({report['test_rows_of_training_speakers']} of {report['test_rows']} test utterances "
                          "have their speaker in training)")
    return sorted((s, k) for k, fold in enumerate(report["folds"], start=1) for s in fold["test_speakers"])
