"""The fit cache: every finished fit's record, pickle-free, keyed by everything that decides it.

A key is a digest of the model's name, parameters and code, the seed, the library versions, and the content of
the training rows (features, labels, speakers), the test rows and the development rows. Records are ``.npz``
files of plain arrays read with ``allow_pickle=False``, written atomically, so a run killed at any moment keeps
every fit it finished and loading a cache never runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from .fitting import FitRecord

FORMAT_VERSION = 1


def row_digests(X: np.ndarray) -> np.ndarray:
    """One digest per row of an input array: its dtype, shape and bytes.

    A NaN-padded sequence (frames, dims) is identified by its real frames only: the padding width is the
    corpus's longest clip, and no model's result depends on it, so one longer clip elsewhere changes no key.
    """
    X = np.ascontiguousarray(X)
    digests = []
    for row in X:
        if row.ndim == 2:
            row = np.ascontiguousarray(row[: int((~np.isnan(row).all(axis=1)).sum())])
        head = f"{row.dtype.str}{row.shape}".encode()
        digests.append(hashlib.blake2b(head + row.tobytes(), digest_size=16).hexdigest())
    return np.array(digests)


def rows_digest(digests: np.ndarray, *columns: np.ndarray) -> str:
    """A digest of some rows, in order: their input digests and any per-row labels (emotion, speaker)."""
    h = hashlib.sha256()
    for i in range(len(digests)):
        h.update(digests[i].encode())
        for column in columns:
            h.update(b"\0" + str(column[i]).encode())
        h.update(b"\n")
    return h.hexdigest()


def library_versions(neural: bool) -> dict[str, str]:
    names = ["numpy", "scipy", "scikit-learn", "xgboost"] + (["tensorflow", "keras"] if neural else [])
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    if neural:  # oneDNN's kernels and Eigen's differ by float rounding: a fit made with one is not the other's
        from models.neural.training import onednn_setting

        versions["tf-onednn"] = onednn_setting()
    return versions


def fit_key(model: str, params: dict, code: str, seed: int, versions: dict, train: str, test: str,
            dev: str | None) -> str:
    payload = {"format": FORMAT_VERSION, "model": model, "params": params, "code": code, "seed": seed,
               "versions": versions, "train": train, "test": test, "dev": dev}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


class FitCache:
    """Fit records under ``root/fits``; with ``persist=False`` nothing is read or written."""

    def __init__(self, root: Path, persist: bool = True):
        self.root = Path(root) / "fits"
        self.persist = persist
        self.problems: list[str] = []

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> FitRecord | None:
        if not self.persist:
            return None
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                record = FitRecord("ok", "", data["predictions"].astype(str),
                                   data["proba"] if data["proba"].size else None, data["classes"].astype(str),
                                   meta["history"], meta["epochs"], meta["best_params"], meta["seconds"], True)
            if meta.get("key") != key or len(record.predictions) != meta["n_test"]:
                raise ValueError("the record does not match its key")
            os.utime(path)  # last use, for `cache clear --older-than`
            return record
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
            self.problems.append(f"{path}: unreadable fit record ({type(error).__name__}); refitted")
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, record: FitRecord) -> None:
        if not self.persist or record.status != "ok":
            return
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"key": key, "n_test": len(record.predictions), "history": record.history, "epochs": record.epochs,
                "best_params": record.best_params, "seconds": record.seconds, "written": time.time()}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, predictions=record.predictions.astype(str),
                         proba=record.proba if record.proba is not None else np.zeros((0, 0)),
                         classes=record.classes.astype(str), meta=np.array(json.dumps(meta, default=_plain)))
            os.replace(tmp, path)
        except OSError as error:  # a full cache disk costs this fit's reuse, not the run
            self.problems.append(f"{path}: not cached ({error.strerror or error})")
        finally:
            tmp.unlink(missing_ok=True)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def cache_info(root: Path) -> dict:
    """Entries and bytes per part of the cache (features per set, fits, the built-in corpus)."""
    root = Path(root)
    parts = {}
    if (root / "features").is_dir():
        for folder in sorted((root / "features").iterdir()):
            parts[f"features/{folder.name}"] = _usage(folder)
    for name in ("features-degraded", "fits", "synthetic"):  # features-degraded: --robustness copies
        if (root / name).is_dir():
            parts[name] = _usage(root / name)
    return parts


def _usage(folder: Path) -> dict:
    files = [p for p in folder.rglob("*") if p.is_file()]
    newest = max((p.stat().st_mtime for p in files), default=0.0)
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "newest": newest}


def clear_cache(root: Path, part: str = "all", older_than_days: float | None = None) -> tuple[int, int]:
    """Delete cached files (``part``: all, features, fits), only those unused for ``older_than_days`` if given.

    Returns (files removed, bytes freed).
    """
    root = Path(root)
    folders = {"all": ["features", "features-degraded", "fits"], "features": ["features", "features-degraded"],
               "fits": ["fits"]}[part]
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    removed = freed = 0
    for name in folders:
        for path in sorted((root / name).rglob("*")) if (root / name).is_dir() else []:
            if path.is_file() and (cutoff is None or path.stat().st_mtime < cutoff):
                freed += path.stat().st_size
                path.unlink()
                removed += 1
        for folder in sorted((root / name).rglob("*"), reverse=True) if (root / name).is_dir() else []:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return removed, freed
