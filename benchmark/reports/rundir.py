"""Reading a run folder: the files every report is rendered from, and which of them the folder has.

Old run folders (before predictions.csv and curves.csv existed) load as well; what they lack is ``None`` and
the renderers say so where a statistic or a plot needs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from features.errors import UserInputError

KEYS = ["table", "features", "model", "protocol", "speaker_norm"]
# The run folder's schemas: the engine writes these files (benchmark/run/folder.py), every report reads them here.
FOLDS_COLUMNS = ["dataset", *KEYS, "fold", "n_train", "n_test", "n_test_speakers", "status", "error", "uar",
                 "wa", "f1", "chance_uar", "chance_wa"]  # then recall_<emotion> ..., FOLDS_TAIL, FOLD_EXTRA
FOLDS_TAIL = ["fit_seconds", "epochs", "best_params", "cached", "degenerate"]  # degenerate: why, or ""
FOLD_EXTRA = ["fold_name", "train_corpus", "test_corpus", "n_dev"]  # cross-corpus and published-split folds
REPEAT_COLUMNS = ["repeat", "train_seed"]  # --repeats: which repeat, and the seed its fit had (old folders: 0)
FOLDS_REQUIRED = ["table", "features", "model", "protocol", "speaker_norm", "fold", "status", "uar", "wa", "f1"]
PREDICTION_COLUMNS = [*KEYS, "repeat", "fold", "row", "speaker", "emotion", "predicted"]  # then p_<emotion> ...
CURVE_COLUMNS = [*KEYS, "fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
CHECKED_FILES = ("folds.csv", "predictions.csv", "curves.csv", "splits.csv", "audit.json", "run.json",
                 "robustness/folds.csv", "robustness/predictions.csv")  # read by compare
# Checked since 2026-12-03: a folder written before has them without a checksum. It stays readable, and
# compare leaves such a run's degraded predictions out (``is_verified``) rather than read them unverified.
CHECKED_SINCE_ROBUSTNESS = ("robustness/folds.csv", "robustness/predictions.csv")
REQUIRED_FILES = ("folds.csv", "audit.json", "run.json")
SPEAKER_PROTOCOLS = ("speaker", "speaker+text", "loso", "cross-corpus", "leave-one-corpus-out")
TEXT_COLUMNS = ("dataset", "table", "features", "model", "protocol", "status", "error", "degenerate")
DEFAULT_RESAMPLES = 1000


class RunFolderError(UserInputError):
    """A run folder that is missing or lacks a file every report needs."""


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """A name per run folder for tables: the folder's name, or as many of its parent folders as it takes to tell
    it from the others (two runs started in the same second in different ``--out`` folders share a name).

    Examples
    --------
    >>> run_names(["a/emodb-1", "b/emodb-1", "a/emodb-2"])
    ['a/emodb-1', 'b/emodb-1', 'emodb-2']
    """
    parts = [Path(p).resolve().parts for p in paths]
    names = []
    for k, own in enumerate(parts):
        others = [o for j, o in enumerate(parts) if j != k]
        depth = 1
        while depth < len(own) and any(o[-depth:] == own[-depth:] for o in others):
            depth += 1
        names.append("/".join(own[-depth:]))
    return names


def is_speaker_protocol(protocol: str) -> bool:
    """Whether the test speakers of ``protocol`` are unseen in training (speakers are then the unit)."""
    return protocol in SPEAKER_PROTOCOLS or protocol.startswith("speaker")


def _bool_column(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().eq("true")


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def open_run_folder(path: Path, unverified: bool = False) -> Path:
    """A finished run folder whose files are as the run wrote them, or a one-line error naming what is wrong.

    Parameters
    ----------
    path : the run folder.
    unverified : read a folder without ``checksums.json`` (written before checksums existed, or with the file
        deleted); its files cannot be verified, so this is refused unless asked for. Its columns are still checked.

    Returns
    -------
    The path, checked.
    """
    path = Path(path)
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise RunFolderError(f"{path}: not a finished run folder (missing {', '.join(missing)})")
    sums_file = path / "checksums.json"
    if not sums_file.is_file() and not unverified:
        # Without its checksums an edited folds.csv would be exported as if the run had written it.
        raise RunFolderError(f"{sums_file}: missing, so the run's files cannot be verified; pass --unverified "
                             "to export them anyway")
    if sums_file.is_file():
        try:
            sums = json.loads(sums_file.read_text())
        except ValueError:
            raise RunFolderError(f"{sums_file}: unreadable") from None
        if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
            raise RunFolderError(f"{sums_file}: not a table of file checksums")
        unlisted = [f for f in CHECKED_FILES if (path / f).is_file() and f not in sums
                    and f not in CHECKED_SINCE_ROBUSTNESS]
        if unlisted:  # an entry removed is a file that would be read unverified
            raise RunFolderError(f"{sums_file}: no checksum for {', '.join(unlisted)}")
        for name, digest in sums.items():
            target = path / name
            if not target.is_file():
                raise RunFolderError(f"{target}: missing (it was written by the run)")
            if file_digest(target) != digest:
                raise RunFolderError(f"{target}: changed since the run wrote it (checksum mismatch); restore it "
                                     "or run again")
    read_folds(path / "folds.csv")
    return path


def is_verified(run_dir: Path, name: str) -> bool:
    """Whether the run folder's ``checksums.json`` lists ``name`` (``open_run_folder`` has then checked it)."""
    try:
        return name in json.loads((Path(run_dir) / "checksums.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def read_folds(path: Path) -> pd.DataFrame:
    """``folds.csv`` with text columns as text and ``speaker_norm`` as bool; a missing column is an error."""
    text = {c: str for c in TEXT_COLUMNS}
    # Only empty cells are missing: a feature set named "NA" stays a name.
    try:
        folds = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as error:
        raise RunFolderError(f"{path}: unreadable ({str(error).splitlines()[0]})") from None
    missing = [c for c in FOLDS_REQUIRED if c not in folds.columns]
    if missing:
        raise RunFolderError(f"{path}: missing column(s) {', '.join(missing)}")
    folds["error"] = folds["error"].fillna("") if "error" in folds else ""
    # run folders written before the degenerate-prediction check have no such column: nothing was flagged
    folds["degenerate"] = folds["degenerate"].fillna("") if "degenerate" in folds else ""
    folds["speaker_norm"] = _bool_column(folds["speaker_norm"])
    if "repeat" not in folds:  # written before --repeats: one repeat
        folds["repeat"] = 0
    return folds


def read_predictions(path: Path) -> pd.DataFrame:
    text = {c: str for c in ("table", "features", "model", "protocol", "speaker", "emotion", "predicted")}
    frame = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    frame["speaker_norm"] = _bool_column(frame["speaker_norm"])
    if "repeat" not in frame:
        frame["repeat"] = 0
    return frame


def read_curves(path: Path) -> pd.DataFrame:
    text = {c: str for c in ("table", "features", "model", "protocol")}
    frame = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    frame["speaker_norm"] = _bool_column(frame["speaker_norm"])
    return frame


SPLIT_COLUMNS = ("row", "path", "speaker", "emotion", "text", "corpus", "duration")


def read_splits(path: Path) -> pd.DataFrame:
    """splits.csv with the test fold of each protocol in a column ``test_fold_<protocol>`` (old folders name it
    so; a column named after the protocol alone is renamed to it)."""
    text = {c: str for c in ("path", "speaker", "emotion", "text", "corpus")}
    frame = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    if "row" not in frame:
        frame.insert(0, "row", range(len(frame)))
    rename = {c: f"test_fold_{c}" for c in frame.columns
              if c not in SPLIT_COLUMNS and not c.startswith("test_fold_") and not c.startswith("Unnamed")}
    return frame.rename(columns=rename)


@dataclass
class RunFolder:
    """The files of one finished run. ``predictions``, ``curves``, ``splits`` and ``claims`` may be ``None``."""

    path: Path
    folds: pd.DataFrame
    audit: dict
    run: dict
    predictions: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    splits: pd.DataFrame | None = None
    claims: pd.DataFrame | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str(self.run.get("dataset", self.path.name))

    @property
    def seed(self) -> int:
        return int(self.run.get("seed", 0) or 0)

    @property
    def n_resamples(self) -> int:
        """Bootstrap resamples: ``config.bootstrap_resamples`` of run.json when the run set it, else 1000."""
        value = (self.run.get("config") or {}).get("bootstrap_resamples")
        return int(value) if value else DEFAULT_RESAMPLES

    @property
    def labels(self) -> list[str]:
        return [c.removeprefix("recall_") for c in self.folds.columns if c.startswith("recall_")]

    @cached_property
    def confusions(self) -> dict[tuple, pd.DataFrame]:
        """Confusion matrices summed over folds, keyed by (features, model, protocol, speaker_norm).

        From predictions.csv when the folder has it, else from the ``confusion/`` CSV files.
        """
        out: dict[tuple, pd.DataFrame] = {}
        if self.predictions is not None:
            labels = self.labels or sorted(set(self.predictions["emotion"]))
            main = self.predictions[self.predictions["table"] == "leaderboard"]
            for key, group in main.groupby(["features", "model", "protocol", "speaker_norm"], sort=False):
                matrix = pd.crosstab(pd.Categorical(group["emotion"], categories=labels),
                                     pd.Categorical(group["predicted"], categories=labels), dropna=False)
                matrix.index, matrix.columns = list(labels), list(labels)
                out[(key[0], key[1], key[2], bool(key[3]))] = matrix
            return out
        directory = self.path / "confusion"
        protocols = set(self.folds["protocol"])
        spelled = {p.replace("+", "-"): p for p in protocols}
        for file in sorted(directory.glob("*.csv")) if directory.is_dir() else []:
            parts = file.stem.split("__")
            norm = parts[-1] == "spknorm"
            if norm:
                parts = parts[:-1]
            if len(parts) < 3:
                continue
            features, model, protocol = "__".join(parts[:-2]), parts[-2], spelled.get(parts[-1], parts[-1])
            out[(features, model, protocol, norm)] = pd.read_csv(file, index_col=0)
        return out


def load_run(run_dir: str | Path) -> RunFolder:
    """Load a run folder; raises :class:`RunFolderError` when folds.csv, audit.json or run.json is missing."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a run folder (no such directory)")
    for name in ("folds.csv", "audit.json", "run.json"):
        if not (path / name).is_file():
            raise RunFolderError(f"{path}: not a run folder ({name} is missing)")
    try:
        folds = read_folds(path / "folds.csv")
        audit = json.loads((path / "audit.json").read_text())
        run = json.loads((path / "run.json").read_text())
    except (ValueError, KeyError, pd.errors.ParserError) as error:
        raise RunFolderError(f"{path}: unreadable run folder ({error})") from error
    folder = RunFolder(path=path, folds=folds, audit=audit, run=run)
    for name, reader, attr in (("predictions.csv", read_predictions, "predictions"),
                               ("curves.csv", read_curves, "curves"),
                               ("splits.csv", read_splits, "splits"),
                               ("claims.csv", lambda p: pd.read_csv(p, dtype=str, keep_default_na=False),
                                "claims")):
        file = path / name
        if file.is_file() and file.stat().st_size > 0:
            setattr(folder, attr, reader(file))
        else:
            folder.missing.append(name)
    return folder
