"""The run folder: the single source of truth every table, plot and report is rendered from.

The files and their schemas are declared in :mod:`benchmark.reports.rundir`, beside the readers every report
uses. A run folder is written whole or not at all: everything, the report and plots included, goes into a
hidden staging folder beside the target, which is renamed at the end. ``checksums.json`` records a digest of each file the renderers read, and
``open_run_folder`` refuses a folder whose files disagree with it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from benchmark.reports.rundir import CHECKED_FILES, file_digest

__all__ = ["RunFolderWriter"]


class RunFolderWriter:
    """Writes a run into a hidden staging folder and publishes it under its final name in :meth:`commit`.

    The final name is reserved up front, atomically, by creating the hidden staging folder
    ``.NAME.partial`` (``mkdir`` fails if another run holds it): two runs started in the same second into one
    ``--out`` get ``NAME`` and ``NAME-2``. The run is written into ``.NAME.partial/NAME``, so everything inside
    it (report, plots) already carries its final name, and it is renamed to ``out/NAME`` last.
    """

    STALE_SECONDS = 3600  # a staging folder untouched this long was left by a killed run

    def __init__(self, out: Path, dataset: str):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out, self.STALE_SECONDS)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for n in itertools.count(1):
            name = f"{dataset}-{stamp}" if n == 1 else f"{dataset}-{stamp}-{n}"
            staging = out / f".{name}.partial"
            try:
                staging.mkdir()
            except FileExistsError:
                continue  # another run (or a killed one) holds this name
            # Checked after the reservation: a run publishing this name renames before it frees the reservation
            if (out / name).exists():
                staging.rmdir()
                continue
            break
        self.staging = staging
        self.final = out / name
        self.path = staging / name
        self.path.mkdir()

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
        """Publish the finished folder: one rename, then the reservation is freed."""
        os.rename(self.path, self.final)
        self.staging.rmdir()
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _remove_stale_staging(out: Path, seconds: float) -> None:
    """Remove the staging folders of runs killed long ago (a live run touches its own as it writes)."""
    now = time.time()
    for staging in out.glob(".*.partial"):
        try:
            newest = max([staging.stat().st_mtime] + [p.stat().st_mtime for p in staging.rglob("*")])
        except OSError:  # removed meanwhile by its own run
            continue
        if now - newest > seconds:
            shutil.rmtree(staging, ignore_errors=True)
