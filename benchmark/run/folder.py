"""The run folder: the single source of truth every table, plot and report is rendered from.

The files and their schemas are declared in :mod:`benchmark.reports.rundir`, beside the readers every report
uses. A run folder is written whole or not at all: everything goes into a hidden temporary folder beside the
target, which is renamed at the end. ``checksums.json`` records a digest of each file the renderers read, and
``open_run_folder`` refuses a folder whose files disagree with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd

from benchmark.reports.rundir import CHECKED_FILES, file_digest

__all__ = ["RunFolderWriter"]


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
        with self._naming(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(target, index=False, lineterminator="\n")

    def json(self, name: str, payload) -> None:
        self.text(name, json.dumps(payload, indent=1, default=str, allow_nan=False) + "\n")

    def text(self, name: str, text: str) -> None:
        with self._naming(self.path / name):
            (self.path / name).write_text(text)

    @contextlib.contextmanager
    def _naming(self, target: Path):
        """A failed write (full disk, read-only folder) names the run folder it was writing."""
        try:
            yield
        except OSError as error:
            if error.filename:
                raise
            raise OSError(error.errno, error.strerror, str(self.final)) from error

    def seal(self) -> None:
        """Record the digests of the files renderers read; call once they are all written."""
        self.json("checksums.json", {f: file_digest(self.path / f) for f in CHECKED_FILES
                                     if (self.path / f).is_file()})

    def commit(self) -> Path:
        os.replace(self.path, self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
