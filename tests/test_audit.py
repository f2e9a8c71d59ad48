"""The leakage audit flags rows that name the same file (issue 20, class 10), wherever its findings are shown."""

from __future__ import annotations

import json

import pandas as pd

from benchmark.evaluation.audit import audit, format_audit, repeated_file_groups
from benchmark.evaluation.protocols import make_folds


def _table(repeats: dict[int, int]) -> pd.DataFrame:
    """24 distinct files (4 speakers x 3 emotions x 2); row ``i`` appears ``repeats[i]`` times in all."""
    rows = [{"path": f"/c/s{s}_{e}_{k}.wav", "speaker": f"s{s}", "text": None, "emotion": e,
             "digest": f"{s}-{e}-{k}"} for s in range(4) for e in ("angry", "happy", "sad") for k in range(2)]
    out = []
    for i, row in enumerate(rows):
        out += [dict(row)] * repeats.get(i, 1)
    return pd.DataFrame(out)


def test_rows_naming_one_file_are_grouped_and_a_distinct_equal_recording_is_not():
    table = _table({3: 3, 10: 2})
    table.loc[0, "digest"] = table.loc[1, "digest"]  # equal audio under two names: a duplicate, not a repeat
    groups = repeated_file_groups(table)
    assert [len(g) for g in groups] == [3, 2]
    assert all(table["path"].iloc[g].nunique() == 1 for g in groups)
    # the same file spelt with a redundant ./ is the same file
    spelt = pd.concat([table.iloc[[0]].assign(path="/c/./s0_angry_0.wav"), table], ignore_index=True)
    assert len(repeated_file_groups(spelt)) == 3


def test_audit_flags_repeated_rows_in_its_json_warnings_and_console_lines():
    clean = _table({})
    folds = {"speaker": make_folds("speaker", clean, 2, seed=0)}
    report = audit(clean, folds)
    assert report["corpus"]["repeated_files"] == []
    assert not any("more than one row" in w for w in report["warnings"])
    assert "named by more than one row" not in format_audit(report)

    table = _table({3: 3, 10: 2})
    report = audit(table, {"speaker": make_folds("speaker", table, 2, seed=0)})
    repeated = report["corpus"]["repeated_files"]
    assert [(r["path"], len(r["rows"])) for r in repeated] == [("/c/s0_happy_1.wav", 3), ("/c/s1_sad_0.wav", 2)]
    warning = [w for w in report["warnings"] if "more than one row" in w]
    assert len(warning) == 1 and warning[0].startswith("2 file(s) named by more than one row (3 repeated row(s))")
    text = format_audit(report)
    assert "2 file(s) named by more than one row" in text.splitlines()[0]
    assert "warning: 2 file(s) named by more than one row" in text
    json.dumps(report)  # audit.json stays JSON


def test_a_run_on_a_manifest_with_repeated_rows_flags_them_in_audit_json_and_report(mini, tmp_path, capsys):  # noqa: F811
    from benchmark.cli import main
    from tests.helpers import read_rows, run_args, write_manifest

    rows = read_rows(mini)[1:]
    manifest = write_manifest(tmp_path / "m.csv", rows + rows[:2])
    out = tmp_path / "out"
    args = [a for a in run_args(manifest, tmp_path / "cache", out) if a != "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "2 file(s) named by more than one row" in printed
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    report = json.loads((run_dir / "audit.json").read_text())
    assert len(report["corpus"]["repeated_files"]) == 2
    assert any("named by more than one row" in w for w in report["warnings"])
    from benchmark.reports.html import _audit_html

    html = _audit_html(report)  # the report's audit section, rendered from audit.json as report.html is
    assert "2 file(s) named by more than one row" in html and html.count("named by more than one row") == 2
