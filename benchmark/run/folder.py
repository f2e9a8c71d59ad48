"""The run folder: the single source of truth every table, plot and report is rendered from.

This module owns its files and their schemas. A run folder is written whole or not at all: everything goes into a
hidden temporary folder beside the target, which is renamed at the end. ``checksums.json`` records a digest of
each file the renderers read, and :func:`open_run_folder` refuses a folder whose files disagree with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd

from features.errors import UserInputError

ENTRY_KEYS = ["table", "features", "model", "protocol", "speaker_norm"]
FOLDS_COLUMNS = ["dataset", *ENTRY_KEYS, "fold", "n_train", "n_test", "n_test_speakers", "status", "error", "uar",
                 "wa", "f1", "chance_uar", "chance_wa"]  # then recall_<emotion> ..., fit_seconds, epochs, cached
FOLDS_TAIL = ["fit_seconds", "epochs", "best_params", "cached"]
FOLD_EXTRA = ["fold_name", "train_corpus", "test_corpus", "n_dev"]  # cross-corpus and published-split folds
PREDICTION_COLUMNS = [*ENTRY_KEYS, "fold", "row", "speaker", "emotion", "predicted"]  # then p_<emotion> ...
CURVE_COLUMNS = [*ENTRY_KEYS, "fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
SPLIT_COLUMNS = ["row", "path", "speaker", "emotion", "text", "corpus", "duration"]  # then one per protocol
CHECKED_FILES = ("folds.csv", "predictions.csv", "curves.csv", "splits.csv", "audit.json", "run.json")
REQUIRED_FILES = ("folds.csv", "audit.json", "run.json")


class RunFolderError(UserInputError):
    """A run folder that is incomplete or was changed after the run; the message names the file."""


class RunFolderWriter:
    """Writes a run into a temporary folder and publishes it under its final name in :meth:`commit`."""

    def __init__(self, out: Path, dataset: str):
        out = Path(out)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name, n = f"{dataset}-{stamp}", 2
        while (out / name).exists():
            name, n = f"{dataset}-{stamp}-{n}", n + 1
        self.final = out / name
        self.path = out / f".{name}.partial-{os.getpid()}"
        self.path.mkdir(parents=True)

    def csv(self, name: str, frame: pd.DataFrame) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(target, index=False, lineterminator="\n")

    def json(self, name: str, payload) -> None:
        (self.path / name).write_text(json.dumps(payload, indent=1, default=str, allow_nan=False) + "\n")

    def text(self, name: str, text: str) -> None:
        (self.path / name).write_text(text)

    def seal(self) -> None:
        """Record the digests of the files renderers read; call once they are all written."""
        self.json("checksums.json", {f: file_digest(self.path / f) for f in CHECKED_FILES
                                     if (self.path / f).is_file()})

    def commit(self) -> Path:
        os.replace(self.path, self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def open_run_folder(path: Path) -> Path:
    """A finished run folder whose files are as the run wrote them, or a one-line error naming what is wrong."""
    path = Path(path)
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise RunFolderError(f"{path}: not a finished run folder (missing {', '.join(missing)})")
    sums_file = path / "checksums.json"
    if sums_file.is_file():  # folders written before checksums existed are read as they are
        try:
            sums = json.loads(sums_file.read_text())
        except ValueError:
            raise RunFolderError(f"{sums_file}: unreadable") from None
        for name, digest in sums.items():
            target = path / name
            if not target.is_file():
                raise RunFolderError(f"{target}: missing (it was written by the run)")
            if file_digest(target) != digest:
                raise RunFolderError(f"{target}: changed since the run wrote it (checksum mismatch); restore it "
                                     "or run again")
    return path


def read_folds(path: Path) -> pd.DataFrame:
    """``folds.csv`` with its text columns as text and ``speaker_norm`` as bool; a missing column is an error."""
    text = {c: str for c in ("dataset", "table", "features", "model", "protocol", "status", "error")}
    # Only empty cells are missing: a feature set named "NA" stays a name.
    folds = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    missing = [c for c in ("table", "features", "model", "protocol", "speaker_norm", "fold", "status", "uar")
               if c not in folds.columns]
    if missing:
        raise RunFolderError(f"{path}: missing column(s) {', '.join(missing)}")
    folds["error"] = folds["error"].fillna("") if "error" in folds else ""
    folds["speaker_norm"] = folds["speaker_norm"].astype(str).str.lower().eq("true")
    return folds
