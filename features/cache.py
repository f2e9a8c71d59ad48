"""The feature cache: per feature-set key, packs of rows keyed by file identity.

Entries are plain arrays in ``.npz`` packs read with ``allow_pickle=False``, so loading a cache cannot run code
(unlike ``joblib.Memory``'s pickles); joblib runs the workers that fill it. Each finished extraction chunk writes its
own pack atomically, so an interrupted run keeps everything it finished; packs are merged at the end of a run so
that a warm pass reads one file per set.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    """``$SER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ser-benchmark``, else ``~/.cache/ser-benchmark``."""
    if os.environ.get("SER_CACHE_DIR"):
        return Path(os.environ["SER_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ser-benchmark"


def file_key(path: str, content_hash: bool = False) -> str:
    """A file's identity: path, size and modification time, or (on request) its content."""
    stat = os.stat(path)
    if content_hash:
        with open(path, "rb") as handle:
            return "c" + hashlib.file_digest(handle, "sha1").hexdigest()
    identity = f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.md5(identity.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Rows:
    """Results for several clips of one set: vectors (n, d) or sequences concatenated with offsets."""

    keys: list[str]
    values: np.ndarray
    nonfinite: np.ndarray
    text: np.ndarray
    offsets: np.ndarray | None = None  # sequences only: row i is values[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, i: int) -> np.ndarray:
        return self.values[i] if self.offsets is None else self.values[self.offsets[i]: self.offsets[i + 1]]

    @classmethod
    def build(cls, keys: list[str], rows: list[np.ndarray], nonfinite: list[bool], text: list[str],
              kind: str) -> Rows:
        if kind == "sequence":
            offsets = np.concatenate([[0], np.cumsum([r.shape[0] for r in rows])]).astype(np.int64)
            values = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
            return cls(list(keys), values, np.array(nonfinite, bool), np.array(text), offsets)
        return cls(list(keys), np.stack(rows).astype(np.float32), np.array(nonfinite, bool), np.array(text))

    @classmethod
    def concat(cls, parts: list[Rows], kind: str) -> Rows:
        keys = [k for p in parts for k in p.keys]
        nonfinite = np.concatenate([p.nonfinite for p in parts])
        text = np.concatenate([p.text for p in parts])
        if kind == "sequence":
            lengths = np.concatenate([np.diff(p.offsets) for p in parts])
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            return cls(keys, np.concatenate([p.values for p in parts]), nonfinite, text, offsets)
        return cls(keys, np.concatenate([p.values for p in parts]), nonfinite, text)


@dataclass
class SetStore:
    """Every cached row of one feature-set key, merged in memory, with a key -> row index."""

    directory: Path
    kind: str
    persist: bool = True  # False: --no-cache, rows live in memory only
    columns: list[str] | None = None
    packs: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _parts: list[Rows] = field(default_factory=list)
    _merged: Rows | None = None
    _index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, directory: Path, kind: str) -> SetStore:
        """The store of ``directory``; damaged metadata or packs are reported in :attr:`problems` and dropped, so
        that what they held is recomputed (never served, never failing every later file)."""
        store = cls(directory, kind)
        if not directory.is_dir():
            return store
        _remove_stale_temporaries(directory)
        columns_file = directory / COLUMNS_FILE
        if columns_file.is_file():
            try:
                store.columns = _read_columns(columns_file)
            except (OSError, ValueError) as error:
                store.problems.append(f"{columns_file} {error}; the set is recomputed")
                _remove_all(directory)
                return store
        for name in sorted(n for n in os.listdir(directory) if n.startswith("pack-") and n.endswith(".npz")):
            store._load_pack(directory / name)
        return store

    def _load_pack(self, pack: Path) -> None:
        try:
            with np.load(pack, allow_pickle=False) as data:
                rows = data["rows"]  # zip checks each member's CRC-32 as it is read: corruption raises
                if self.kind == "sequence":
                    values = data["values"]
                    offsets = np.concatenate([[0], rows["end"]]).astype(np.int64)
                else:
                    values = np.ascontiguousarray(rows["values"])
                    offsets = None
                part = Rows(rows["key"].tolist(), values, rows["nonfinite"], rows["text"], offsets)
            n = len(part.keys)
            if len(part.nonfinite) != n or len(part.text) != n:
                raise ValueError("flag arrays do not match the keys")
            if self.kind == "sequence":
                if part.offsets.shape != (n + 1,) or part.offsets[-1] != values.shape[0]:
                    raise ValueError("offsets do not match the data")
            elif values.ndim != 2 or values.shape[0] != n:
                raise ValueError(f"values of shape {values.shape} for {n} keys")
            width = values.shape[-1] if values.ndim == 2 else None
            if self.columns is not None and n and width != len(self.columns):
                raise ValueError(f"{width} columns, expected {len(self.columns)}")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            self.problems.append(f"cache pack {pack} is corrupt ({type(error).__name__}: {error}); "
                                 "its entries are recomputed")
            pack.unlink(missing_ok=True)
            return
        self._add(part)
        self.packs.append(pack)

    def _add(self, part: Rows) -> None:
        self._parts.append(part)
        self._merged = None

    @property
    def rows(self) -> Rows:
        if self._merged is None:
            if not self._parts:
                empty = np.zeros((0, len(self.columns or [])), np.float32)
                offsets = np.zeros(1, np.int64) if self.kind == "sequence" else None
                self._merged = Rows([], empty, np.zeros(0, bool), np.zeros(0, str), offsets)
            else:
                self._merged = self._parts[0] if len(self._parts) == 1 else Rows.concat(self._parts, self.kind)
                self._parts = [self._merged]
            self._index = {k: i for i, k in enumerate(self._merged.keys)}
        return self._merged

    def lookup(self, keys: list[str]) -> list[int | None]:
        """Row numbers of ``keys`` in :attr:`rows`, ``None`` where not cached."""
        _ = self.rows
        return [self._index.get(k) for k in keys]

    def write_pack(self, part: Rows, columns: list[str] | None) -> Path | None:
        """Write ``part`` as one new pack (atomically) and add it to the store."""
        if not len(part):
            return None
        if not self.persist:
            if columns is not None and self.columns is None:
                self.columns = list(columns)
            self._add(part)
            return None
        _create_folder(self.directory)
        if columns is not None and self.columns is None:
            _write_columns(self.directory / COLUMNS_FILE, list(columns))
            self.columns = list(columns)
        # One structured array per pack (vectors ride along as a sub-array field): a warm pass opens one zip
        # member per set. Sequences keep their frames in a second member and an end offset per row.
        fields = [("key", "U48"), ("nonfinite", "?"), ("text", "U48")]
        if part.offsets is None:
            fields.append(("values", "f4", (part.values.shape[1],)))
        else:
            fields.append(("end", "i8"))
        rows = np.zeros(len(part), dtype=fields)
        rows["key"], rows["nonfinite"], rows["text"] = part.keys, part.nonfinite, part.text
        arrays = {"rows": rows}
        if part.offsets is None:
            rows["values"] = part.values
        else:
            rows["end"] = part.offsets[1:]
            arrays["values"] = part.values
        pack = self.directory / f"pack-{uuid.uuid4().hex}.npz"
        _atomic_write(pack, lambda handle: np.savez(handle, **arrays))
        self._add(part)
        self.packs.append(pack)
        return pack

    def compact(self) -> None:
        """Merge all packs into one, so that the next warm pass reads a single file.

        A merge that cannot be written (a full disk) keeps the packs as they are and is noted in :attr:`problems`.
        """
        if len(self.packs) <= 1:
            return
        merged, old = self.rows, list(self.packs)
        keep = np.unique(merged.keys, return_index=True)[1]  # a key written twice keeps one row
        if len(keep) != len(merged):
            keep = np.sort(keep)
            rows = [merged.row(i) for i in keep]
            merged = Rows.build([merged.keys[i] for i in keep], rows, merged.nonfinite[keep].tolist(),
                                merged.text[keep].tolist(), self.kind)
        try:
            new = self.write_pack(merged, None) if len(merged) else None
        except OSError as error:
            self.problems.append(f"packs in {self.directory} not merged ({error.strerror or error}); they are "
                                 "kept as they are")
            self.packs, self._parts, self._merged = old, [merged], None
            return
        self.packs, self._parts, self._merged = ([new] if new else []), [merged], None
        for pack in old:
            pack.unlink(missing_ok=True)


COLUMNS_FILE = "columns.json"
COLUMNS_CHECKSUM = "columns.json.sha256"  # sha256 of columns.json's bytes, written beside it
STALE_TEMPORARY_SECONDS = 3600.0  # a temporary file this old belongs to no running writer


def _write_columns(path: Path, columns: list[str]) -> None:
    """``columns.json`` and its checksum beside it (each written atomically; equal keys write equal bytes)."""
    payload = json.dumps(columns).encode()
    _atomic_write(path, lambda handle: handle.write(payload))
    digest = hashlib.sha256(payload).hexdigest().encode()
    _atomic_write(path.with_name(COLUMNS_CHECKSUM), lambda handle: handle.write(digest))


def _read_columns(path: Path) -> list[str]:
    """The column names of ``columns.json``, checked against their checksum.

    A store written before checksums existed has none; its columns are checked for form and the checksum is
    added. Raises ValueError (with the words for the report) for a file edited or damaged after it was written.
    """
    payload = path.read_bytes()
    checksum = path.with_name(COLUMNS_CHECKSUM)
    if checksum.is_file() and checksum.read_text().strip() != hashlib.sha256(payload).hexdigest():
        raise ValueError("was changed after it was written (checksum mismatch)")
    try:
        columns = json.loads(payload)
    except ValueError as error:
        raise ValueError(f"is unreadable ({error})") from None
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError("is not a list of column names")
    if not checksum.is_file():
        _atomic_write(checksum, lambda handle: handle.write(hashlib.sha256(payload).hexdigest().encode()))
    return columns


def _atomic_write(path: Path, write) -> None:
    """Write ``path`` through a temporary file renamed over it; on any failure the temporary file is removed,
    and an error without a file name (a full disk) is raised naming the folder."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None and not error.filename:
            raise OSError(error.errno, error.strerror or str(error), str(path.parent)) from error
        raise


def _create_folder(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno is not None and not error.filename:
            raise OSError(error.errno, error.strerror or str(error), str(directory)) from error
        raise


def _remove_all(directory: Path) -> None:
    """Drop a store's metadata and packs (not other writers' temporary files)."""
    for child in directory.iterdir():
        if child.name in (COLUMNS_FILE, COLUMNS_CHECKSUM) or child.name.startswith("pack-") and \
                child.name.endswith(".npz"):
            child.unlink(missing_ok=True)


def _remove_stale_temporaries(directory: Path) -> None:
    """Temporary files left by a writer that was killed (kill -9, power loss): old enough to be no one's."""
    import time

    now = time.time()
    for child in directory.iterdir():
        if child.name.endswith(".tmp"):
            try:
                if now - child.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                    child.unlink(missing_ok=True)
            except OSError:  # gone already (another run cleaned it) or not ours to remove: left as it is
                continue
