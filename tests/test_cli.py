import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from tests.helpers import write_tone

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args,message", [
    (["run", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["describe", "--dataset", "emodb", "--data-dir", "/no/such/dir"], "data directory not found"),
    (["run", "--models", "svm,nope"], "unknown model 'nope'"),
    (["run", "--features", "mfcc,nope"], "unknown feature set 'nope'"),
    (["run", "--protocols", "random"], "unknown protocol"),
    (["run", "--folds", "x"], "argument --folds: invalid int value"),
    (["run", "--set", "lstm.epochs"], "expected MODEL.PARAM=VALUE"),
    (["export", "/no/such/run"], "not a finished run folder"),
    (["run", "--analysis", "n_mfccs=20"], "expected KEY=VALUE with KEY one of"),
    (["run", "--analysis", "n_mfcc=80"], "need 1 <= n_mfcc <= n_mels"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_empty_corpus_is_an_error(tmp_path, capsys):
    assert main(["describe", "--dataset", "savee", "--data-dir", str(tmp_path)]) == 2
    assert "no usable utterances" in capsys.readouterr().err


def test_no_traceback_from_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), "--dataset", "tess", "--data-dir",
                             str(tmp_path / "missing")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"run_benchmark.py: error: data directory not found: {tmp_path / 'missing'}"]


def test_describe_json(tmp_path, capsys):
    for name in ("03a01Fa", "03a02Wa", "08a01Wa", "08a01Wb"):
        write_tone(tmp_path / f"{name}.wav", seconds=0.5)
    (tmp_path / "03a04Zz.wav").write_text("junk")
    assert main(["describe", "--dataset", "emodb", "--data-dir", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["utterances"] == 4 and summary["speakers"] == 2
    assert summary["emotions"] == {"angry": 3, "happy": 1}
    assert summary["skipped"] == [{"path": str(tmp_path / "03a04Zz.wav"), "reason": "unknown label 'Z'"}]


def test_describe_text_lists_counts_and_skips(tmp_path, capsys):
    for name in ("03a01Fa", "08a01Wa"):
        write_tone(tmp_path / f"{name}.wav")
    (tmp_path / "03a02Wa.wav").write_bytes(b"")
    assert main(["describe", "--dataset", "emodb", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 utterances, 2 speakers" in out and "skipped: 1 file(s)" in out and "zero-byte" in out


def test_list_names_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("emodb", "ravdess", "manifest", "mfcc", "tonnetz", "mfcc_frames", "svm", "lstm", "speaker+text"):
        assert name in out


def test_analysis_settings_reach_the_features(tmp_path, capsys):
    write_tone(tmp_path / "03a01Fa.wav")
    write_tone(tmp_path / "08a01Wa.wav")
    args = ["extract", "--dataset", "emodb", "--data-dir", str(tmp_path), "--jobs", "1", "--features", "mfcc",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0 and main([*args, "--analysis", "n_mfcc=13"]) == 0
    out = capsys.readouterr().out
    assert "2 computed" in out.splitlines()[-1]  # a new setting is a new cache key
    widths = sorted(len(json.loads((d / "columns.json").read_text()))
                    for d in (tmp_path / "cache" / "features" / "mfcc").iterdir())
    assert widths == [13 * 2 * 2, 40 * 2 * 2]  # (coefficients + deltas) x (mean, std), one key per setting


def test_extract_prints_one_summary_line_and_reuses_the_cache(tmp_path, capsys):
    for name in ("03a01Fa", "08a01Wa"):
        write_tone(tmp_path / f"{name}.wav")
    args = ["extract", "--dataset", "emodb", "--data-dir", str(tmp_path), "--jobs", "1",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    assert "2 files" in capsys.readouterr().out
    assert main(args) == 0
    assert "2 cache hits, 0 computed" in capsys.readouterr().out
