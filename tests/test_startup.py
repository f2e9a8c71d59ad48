"""A run's fixed cost: one worker pool for extraction and fits, no TensorFlow in classical fits' workers, and
librosa's numba kernels that the bank never calls left uncompiled (issue 25)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.run import backends
from benchmark.run.fitting import FitRecord, FitSpec, run_fit
from features import extract, pool

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = ("logreg", "svm", "xgboost", "linsvm")


def fit_and_report(spec, X, y, groups, train, test, dev=None, extras=()) -> FitRecord:
    """:func:`run_fit`, then what the worker it ran in has imported and its process id."""
    record = run_fit(spec, X, y, groups, train, test, dev, extras)
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "torch"})
    record.extra = [os.getpid(), heavy]
    return record


def _data(n=60, d=8):
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * (n // 3))
    X = rng.normal(size=(n, d)) + (y == "a")[:, None]
    return X, y, np.array([f"s{i % 4}" for i in range(n)])


def _fit_all(models, parallel=2):
    X, y, groups = _data()
    jobs = [backends.Job(f"k{i}", FitSpec(m, (), 0, 1), "x", np.arange(40), np.arange(40, 60), None)
            for i, m in enumerate(models)]
    out: dict[str, FitRecord] = {}
    backends.run_processes(jobs, {"x": X}, y, groups, lambda job, record: out.__setitem__(job.key, record),
                           parallel, 1, fit=fit_and_report)
    return out


def _clips(folder: Path, n: int) -> list[str]:
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.normal(size=4000)).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def test_one_pool_extracts_then_fits_and_its_classical_fits_never_import_tensorflow(tmp_path):
    """Extraction starts the pool (3 chunks of 8 clips), the fits run on the same workers (no second start),
    none of those workers imports TensorFlow for logreg, svm, xgboost or linsvm, and the features are those
    computed in this process."""
    import pandas as pd

    table = pd.DataFrame({"path": _clips(tmp_path, 24)})
    try:
        on_pool = extract(table, ["zcr", "rms"], use_cache=False, jobs=2)
        assert pool.pool_alive()
        started = pool.worker_pids()
        records = _fit_all(CLASSICAL * 2)
        assert pool.worker_pids() == started
    finally:
        pool.shutdown_pool(kill_workers=True)
    assert not pool.pool_alive() and pool.worker_pids() == set()
    assert all(r.status == "ok" for r in records.values()), [r.error for r in records.values()]
    ran_in = {r.extra[0] for r in records.values()}
    assert ran_in <= started and os.getpid() not in ran_in
    assert {tuple(r.extra[1]) for r in records.values()} == {()}
    here = extract(table, ["zcr", "rms"], use_cache=False, jobs=1)
    for name in ("zcr", "rms"):
        assert on_pool.vectors[name].tobytes() == here.vectors[name].tobytes()


def test_the_bank_never_compiles_the_deferred_kernels():
    """Every built-in set on a clip, in a fresh process: none of the deferred kernels gets compiled; then a
    deferred kernel, called, compiles and gives what librosa's definition says."""
    code = """
import numpy as np, features
from features.analysis import Clip
from features.config import AnalysisConfig
from features.registry import REGISTRY
import librosa.util.utils as U, librosa.core.pitch as P, librosa.core.audio as A
cfg = AnalysisConfig()
clip = Clip(np.random.default_rng(0).normal(scale=0.1, size=cfg.sr).astype(np.float32), cfg, "noise")
for name, spec in REGISTRY.items():
    if not spec.in_process and name not in ("egemaps", "compare"):
        spec.func(clip)
kernels = [U._localmax, U._localmin, getattr(U, "__peak_pick"), P._pi_wrapper, A._zc_wrapper, U._cabs2,
           U._phasor_angles]
print([type(k).__name__ for k in kernels], [k.compiled for k in kernels])
x = np.array([1, 0, 1, 2, -1, 0, -2, 1], dtype=np.float64)
print(U.localmax(x).tolist(), U._localmax.compiled)
print(U.abs2(np.array([3 + 4j], dtype=np.complex64)).tolist(), U._cabs2.compiled)  # a vectorize kernel
print(A.zero_crossings(x).astype(int).tolist(), A._zc_wrapper.compiled)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "SER_NUMBA_EAGER": "0"})
    lines = done.stdout.strip().splitlines()
    assert lines[0] == str(["DeferredKernel"] * 7) + " " + str([False] * 7)
    # librosa.util.localmax's own docstring example, computed by the kernel compiled on this first call
    assert lines[1] == "[False, False, False, True, False, True, False, True] True"
    assert lines[2] == "[25.0] True"
    assert lines[3] == "[1, 0, 0, 0, 1, 1, 1, 1] True"  # sign changes, 0 counting as positive


def test_the_warm_up_starts_before_the_corpus_only_when_the_built_in_corpus_is_generated(tmp_path, monkeypatch):
    from benchmark.corpora.synthetic import corpus_dir
    from benchmark.run import engine
    from benchmark.run.config import RunConfig

    started = []
    monkeypatch.setattr(engine, "start_warm_up", lambda names, *a, **k: started.append(sorted(names)))

    def warm_up_for(**fields) -> list:
        started.clear()
        config = RunConfig(**{"models": ("logreg",), "ablation": False, "jobs": 2, "cache_dir": str(tmp_path),
                              **fields})
        ctx = engine.RunContext(config, None, None, None, lambda _: None)
        engine._check_phase(ctx)
        engine._warm_up_while_generating(ctx)
        return list(started)

    from features import resolve

    # nothing generated yet: the sets of logreg's input, the default bank
    assert warm_up_for() == [sorted(resolve(list(RunConfig().features)))]
    assert warm_up_for(jobs=1) == []  # no pool: extraction compiles in this process, after the generation
    assert warm_up_for(dataset="emodb", data_dir=str(tmp_path)) == []  # a corpus of files: nothing to overlap
    folder = corpus_dir(str(tmp_path), 0, "default")
    folder.mkdir(parents=True)
    (folder / "COMPLETE.json").write_text("{}")
    assert warm_up_for() == []  # generated already: its features may all be cached


def test_matmul_rate_counts_the_flops_of_the_product_over_the_fastest_repeat(monkeypatch):
    import benchmark.perf.machine as machine

    clock = iter([0.0, 0.5, 1.0, 1.25, 2.0, 3.0])  # three products: 0.5 s, 0.25 s, 1.0 s
    monkeypatch.setattr(machine.time, "perf_counter", lambda: next(clock))
    rate = machine.matmul_rate(threads=1, size=64, repeats=3)
    assert rate == pytest.approx(2 * 64**3 / 0.25 / 1e9)  # the fastest, not the mean or the last
    with pytest.raises(ValueError, match="repeats"):
        machine.matmul_rate(size=64, repeats=0)


def test_every_perf_command_prints_the_machine_figure_first(capsys):
    from benchmark.cli import main

    assert main(["perf", "--machine"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("machine: float32 matmul 2048^3 ")
    rate = float(lines[0].split("2048^3 ")[1].split(" GFLOP/s")[0])
    assert rate > 0


def test_the_ravdess_sized_stand_in_has_ravdess_shape_and_emodb_labels(tmp_path):
    from benchmark.corpora import load_corpus
    from benchmark.perf.standin import main as standin
    from benchmark.perf.standin import ravdess_sized

    source = tmp_path / "emodb" / "wav"
    source.mkdir(parents=True)
    t = np.arange(22050) / 22050
    for name in ("03a01Wa.wav", "03a02Wb.wav", "08b01Ta.wav"):
        sf.write(source / name, (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), 22050)
    manifest = ravdess_sized(tmp_path / "emodb", tmp_path / "out", speakers=3, per_speaker=2, seconds=1.5)
    table = load_corpus("manifest", manifest).table
    assert len(table) == 6 and table["speaker"].nunique() == 3
    # stand-in speakers 1 and 3 are made of EmoDB speaker 03 (anger), speaker 2 of speaker 08 (sadness)
    assert table.groupby("speaker")["emotion"].first().tolist() == ["angry", "sad", "angry"]
    y, sr = sf.read(tmp_path / "out" / "S01_00.wav")
    assert sr == 48000 and len(y) == 72000
    assert standin([str(tmp_path), str(tmp_path / "none")]) == 2  # no EmoDB file: a one-line error
