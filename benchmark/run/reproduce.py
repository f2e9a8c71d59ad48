"""``reproduce``: run a finished run again from its run.json and compare the two leaderboards cell by cell.

A cell is *identical* when both runs wrote the same value, *within the seed spread* when it differs by no more
than twice the row's seed SD (measured with ``--repeats``; a run of one repeat has no spread, so any change is
a difference), and *different* otherwise. The comparison names the library versions and the machine entries
(CPU, SIMD kernels, BLAS) that differ between the runs: these are why numbers move between machines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.reports.rundir import file_digest, load_run
from benchmark.reports.tables import long_records

from .config import RunConfig

IDENTICAL, WITHIN, DIFFERENT = "identical", "within seed spread", "different"
VALUE_FIELDS = ("uar_mean", "uar_std", "wa_mean", "f1_mean", "uar_pooled", "ci_low", "ci_high")
EXACT_FIELDS = ("rank", "vs_best", "n_folds", "n_failed")
SPREAD = 2.0  # a change up to SPREAD seed SDs counts as the seed lottery


@dataclass
class Reproduction:
    """The outcome of comparing a run (``old``) with its re-run (``new``)."""

    old: Path
    new: Path
    cells: list[dict] = field(default_factory=list)  # every compared cell: key, field, old, new, verdict
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)  # library -> (old, new), where they differ
    machine: dict[str, tuple[str, str]] = field(default_factory=dict)  # entry -> (old, new), where they differ
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {c["verdict"] for c in self.cells}
        return DIFFERENT if DIFFERENT in verdicts else WITHIN if WITHIN in verdicts else IDENTICAL

    def counts(self) -> dict[str, int]:
        return {v: sum(c["verdict"] == v for c in self.cells) for v in (IDENTICAL, WITHIN, DIFFERENT)}

    def as_dict(self) -> dict:
        return {"old": str(self.old), "new": str(self.new), "verdict": self.verdict, "counts": self.counts(),
                "versions": {k: list(v) for k, v in self.versions.items()},
                "machine": {k: list(v) for k, v in self.machine.items()}, "notes": self.notes,
                "cells": [c for c in self.cells if c["verdict"] != IDENTICAL]}


def _key(record: dict) -> tuple:
    return (record["table"], record["features"], record["model"], record["protocol"], record["speaker_norm"])


def _cell_verdict(old, new, tolerance: float) -> str:
    if old == new:
        return IDENTICAL
    if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(old, bool) and \
            tolerance > 0 and abs(new - old) <= tolerance + 1e-9:
        return WITHIN
    return DIFFERENT


def compare_records(old: list[dict], new: list[dict]) -> list[dict]:
    """Cell-by-cell verdicts of two leaderboards' records (``leaderboard.json`` rows).

    Parameters
    ----------
    old, new : list of dict
        The records of :func:`benchmark.reports.tables.long_records`.

    Returns
    -------
    list of dict
        One ``{"key", "field", "old", "new", "verdict"}`` per compared cell; a row only one side has is a
        ``different`` cell with field ``row``.
    """
    before, after = {_key(r): r for r in old}, {_key(r): r for r in new}
    cells = []
    for key in list(before) + [k for k in after if k not in before]:
        a, b = before.get(key), after.get(key)
        label = "/".join(str(k) for k in key)
        if a is None or b is None:
            cells.append({"key": label, "field": "row", "old": a is not None, "new": b is not None,
                          "verdict": DIFFERENT})
            continue
        spreads = [x for x in (a.get("seed_sd"), b.get("seed_sd")) if x is not None and not math.isnan(x)]
        tolerance = SPREAD * max(spreads) if spreads else 0.0
        for name in VALUE_FIELDS:
            cells.append({"key": label, "field": name, "old": a.get(name), "new": b.get(name),
                          "verdict": _cell_verdict(a.get(name), b.get(name), tolerance)})
        numbers_within = all(c["verdict"] != DIFFERENT for c in cells[-len(VALUE_FIELDS):])
        for name in EXACT_FIELDS:
            verdict = IDENTICAL if a.get(name) == b.get(name) else WITHIN if numbers_within and tolerance > 0 \
                and name in ("rank", "vs_best") else DIFFERENT
            cells.append({"key": label, "field": name, "old": a.get(name), "new": b.get(name), "verdict": verdict})
    return cells


def _flat(prefix: str, value) -> dict[str, str]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(f"{prefix}[{v.get('library', i)}]", v))
        return out
    return {prefix: json.dumps(value) if not isinstance(value, str) else value}


def differences(old: dict, new: dict) -> dict[str, tuple[str, str]]:
    """Entries of two nested dicts (run.json's ``versions`` or ``machine``) whose values differ."""
    a, b = _flat("", old or {}), _flat("", new or {})
    return {k: (a.get(k, "absent"), b.get(k, "absent")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def compare_runs(old_dir: str | Path, new_dir: str | Path) -> Reproduction:
    """Compare two finished run folders' leaderboards, library versions and machines."""
    from benchmark.reports.ranking import build

    old_board, new_board = build(old_dir), build(new_dir)
    result = Reproduction(Path(old_dir), Path(new_dir))
    result.cells = compare_records(long_records(old_board), long_records(new_board))
    old_run, new_run = old_board.folder.run, new_board.folder.run
    result.versions = differences(old_run.get("versions", {}), new_run.get("versions", {}))
    result.machine = differences(old_run.get("machine", {}), new_run.get("machine", {}))
    if "machine" not in old_run:
        result.notes.append(f"{old_dir}: run.json does not record the machine (written before it did)")
    if not any(r.get("n_repeats", 1) > 1 for r in long_records(old_board)):
        result.notes.append("the run has one repeat, so no seed spread: any change is a difference (--repeats N "
                            "measures the spread)")
    return result


def edited_files(run_dir: Path) -> list[str]:
    """Files of a run folder changed since the run wrote them (per its checksums.json)."""
    sums_file = run_dir / "checksums.json"
    if not sums_file.is_file():
        return []
    sums = json.loads(sums_file.read_text())
    return [name for name, digest in sums.items()
            if not (run_dir / name).is_file() or file_digest(run_dir / name) != digest]


def reproduce(run_dir: str | Path, config: RunConfig, argv: Sequence[str] | None = None,
              experiment: dict | None = None, log: Callable[[str], None] | None = None) -> Reproduction:
    """Run ``config`` (the run's own, from its run.json) again and compare the new run with ``run_dir``.

    Parameters
    ----------
    run_dir : path
        The finished run folder.
    config : RunConfig
        The configuration to run: the run's, with only execution settings (output folder, cores, backend,
        cache) changed.
    argv, experiment, log :
        Passed to :func:`benchmark.run.engine.run_benchmark`.

    Returns
    -------
    Reproduction
        The cells' verdicts; ``reproduce.json`` in the new run folder holds the same.

    Raises
    ------
    CorpusChanged
        Before any fit, when the corpus found differs from the run's (its fingerprint in run.json).
    """
    from .engine import run_benchmark

    run_dir = Path(run_dir)
    old = load_run(run_dir)
    fingerprint = (old.run.get("corpus") or {}).get("fingerprint")
    edited = edited_files(run_dir)
    result = run_benchmark(config, argv, log=log, experiment=experiment, expect_fingerprint=fingerprint)
    comparison = compare_runs(run_dir, result.run_dir)
    if edited:
        comparison.notes.insert(0, f"{run_dir}: {', '.join(edited)} changed since the run wrote them")
    if fingerprint is None:
        comparison.notes.append(f"{run_dir}: run.json has no corpus fingerprint; the corpus was not checked")
    (Path(result.run_dir) / "reproduce.json").write_text(json.dumps(comparison.as_dict(), indent=1) + "\n")
    return comparison
