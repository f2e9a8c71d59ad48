"""End to end beside nkululeko, the closest peer: the same corpus, speaker-independent, SVM, cold caches.

Each side runs the way its user would, as a command in a fresh process, timed from outside, in alternating
rounds (``--rounds``) so that a burst of load on a shared machine does not fall on one side only; the fastest
round of each counts and the ratio nkululeko / this project is printed (target: at least 3x with the speech
bank).

- this project, the same job: ``run_benchmark.py run --models svm --protocols speaker --no-ablation
  --no-report --fold-file F`` (the speech bank), where ``F`` is the one split nkululeko gets: the test speakers
  of this project's first speaker fold against all the others; an empty cache and a fresh output folder each
  round. The ratio against nkululeko is judged on this job;
- this project, five speaker folds (the same command without ``--fold-file``): five fits for nkululeko's one,
  printed beside it as the conservative ratio;
- nkululeko: eGeMAPSv02 functionals (openSMILE) and its SVM on that one speaker split, from a CSV of the same
  files, a fresh experiment folder each round.

nkululeko pins packages of its own (torch, transformers, audformat ...), so it is best installed in a venv of
its own: ``--nkululeko-python /path/to/venv/bin/python``; without one that imports it, the command says how to
get it and exits without timing anything.

    python run_benchmark.py perf --nkululeko [--nkululeko-python PY] --dataset emodb --data-dir DIR
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 3.0

CONFIG = """[EXP]
root = {root}
name = ser_benchmark_side_by_side
runs = 1
epochs = 1
save = False

[DATA]
databases = ['corpus']
corpus = {table}
corpus.type = csv
corpus.absolute_path = True
corpus.split_strategy = {test_speakers}
target = emotion

[FEATS]
type = ['os']
set = eGeMAPSv02
scale = standard

[MODEL]
type = svm
"""


def has_nkululeko(python: str) -> bool:
    """True when ``python`` can import nkululeko."""
    done = subprocess.run([python, "-c", "import nkululeko"], capture_output=True, text=True, check=False)
    return done.returncode == 0


def nkululeko_config(table_csv: Path, root: Path, test_speakers: list[str]) -> str:
    """The INI of nkululeko's experiment: eGeMAPS + SVM, the given speakers as its test split."""
    return CONFIG.format(root=root, table=table_csv, test_speakers=repr(list(test_speakers)))


def write_table(paths: list[str], speakers: list[str], emotions: list[str], target: Path) -> None:
    """A CSV nkululeko reads as a database: absolute file, speaker (prefixed: never parsed as a number), emotion."""
    with open(target, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "speaker", "emotion"])
        for path, speaker, emotion in zip(paths, speakers, emotions, strict=True):
            writer.writerow([str(Path(path).resolve()), f"spk{speaker}", emotion])


def write_split(speakers: list[str], test_speakers: list[str], target: Path) -> None:
    """A fold file (``speaker,fold,part``) of one fold: ``test_speakers`` tested, every other speaker trained on."""
    test = set(test_speakers)
    with open(target, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["speaker", "fold", "part"])
        for speaker in sorted(set(speakers)):
            writer.writerow([speaker, 0, "test" if speaker in test else "train"])


def our_command(dataset: str, data_dir: str, seed: int, folder: Path, extra: list[str]) -> list[str]:
    """This project's side: the speech bank and the SVM, speaker-independent, cache and output in ``folder``."""
    return [sys.executable, "run_benchmark.py", "run", "--dataset", dataset, "--data-dir", str(data_dir),
            "--models", "svm", "--protocols", "speaker", "--no-ablation", "--no-report", "--quiet",
            "--seed", str(seed), "--cache-dir", str(folder / "cache"), "--out", str(folder / "out"), *extra]


def timed(command: list[str], env: dict | None = None) -> float:
    """Wall seconds of ``command``; a failure raises with the tail of its output."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return seconds


def run_side_by_side(dataset: str, data_dir: str, nkululeko_python: str | None = None, rounds: int = 2,
                     seed: int = 0) -> dict | None:
    """Print and return both sides' seconds per round and the ratio; None (and a message) without nkululeko."""
    python = nkululeko_python or sys.executable
    if not has_nkululeko(python):
        print(f"perf --nkululeko: {python} cannot import nkululeko; install it in a venv of its own "
              "(python -m venv nk && nk/bin/pip install nkululeko) and pass --nkululeko-python nk/bin/python")
        return None
    from benchmark.corpora import load_corpus
    from benchmark.evaluation.protocols import make_folds

    corpus = load_corpus(dataset, data_dir, seed=seed)
    table = corpus.table
    speakers = table["speaker"].astype(str).tolist()
    first = make_folds("speaker", table, n_folds=5, seed=seed)[0]  # the run's own first speaker fold
    ours_test = sorted(set(table["speaker"].astype(str).to_numpy()[first.test].tolist()))
    test_speakers = [f"spk{s}" for s in ours_test]
    figures: dict = {"ours_s": [], "ours_folds_s": [], "nkululeko_s": [], "files": len(table)}
    with tempfile.TemporaryDirectory(prefix="ser-perf-nkululeko-") as tmp:
        tmp_path = Path(tmp)
        table_csv = tmp_path / "corpus.csv"
        write_table(table["path"].astype(str).tolist(), speakers, table["emotion"].astype(str).tolist(), table_csv)
        split_csv = tmp_path / "split.csv"
        write_split(speakers, ours_test, split_csv)
        for round_ in range(rounds):
            for key, tag, extra in (("ours_s", "split", ["--fold-file", str(split_csv)]), ("ours_folds_s", "folds", [])):
                figures[key].append(timed(our_command(dataset, data_dir, seed, tmp_path / f"{tag}-{round_}", extra)))
            root = tmp_path / f"nkululeko-{round_}"
            root.mkdir()
            ini = root / "exp.ini"
            ini.write_text(nkululeko_config(table_csv, root, test_speakers))
            figures["nkululeko_s"].append(timed([python, "-m", "nkululeko.nkululeko", "--config", str(ini)]))
            print(f"  round {round_ + 1}: this project {figures['ours_s'][-1]:6.1f} s on the one split "
                  f"({figures['ours_folds_s'][-1]:.1f} s on five folds), nkululeko {figures['nkululeko_s'][-1]:6.1f} s",
                  flush=True)
    ours_best, folds_best = min(figures["ours_s"]), min(figures["ours_folds_s"])
    theirs_best = min(figures["nkululeko_s"])
    figures["ratio"] = theirs_best / ours_best
    figures["ratio_folds"] = theirs_best / folds_best
    verdict = "meets" if figures["ratio"] >= TARGET_RATIO else "MISSES"
    print(f"perf --nkululeko: {len(table)} files of {corpus.name}; fastest of {rounds} rounds, the same job (speech "
          f"bank against eGeMAPSv02, an SVM each, one speaker split, test speakers {', '.join(ours_test)}): this "
          f"project {ours_best:.1f} s, nkululeko {theirs_best:.1f} s: {figures['ratio']:.2f}x (target >= "
          f"{TARGET_RATIO:g}x: {verdict}); this project on five speaker folds {folds_best:.1f} s: "
          f"{figures['ratio_folds']:.2f}x")
    return figures
