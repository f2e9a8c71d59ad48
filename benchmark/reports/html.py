"""``report.html``: one self-contained page per run (images embedded as data URIs, no network fetches).

The page is rendered from the run folder alone and re-renders byte-identically: nothing in it depends on the
time or machine of rendering, only on the run folder's files.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import shutil
from pathlib import Path

import matplotlib
import pandas as pd

from benchmark.reports import plots as plotting
from benchmark.reports.ranking import Leaderboard, build
from benchmark.reports.rundir import RunFolder
from benchmark.reports.tables import (
    ablation_cells,
    degenerate_lines,
    legend,
    main_cells,
    per_speaker_cells,
    write_per_speaker,
)

REPORT = "report.html"
PLOTS_DIR = "plots"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
 color:#1a1a1a;background:#fff;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:1.2em 1.6em 4em}
h1{font-size:1.6em;margin:.4em 0 .2em}h2{font-size:1.3em;margin-top:2em;border-bottom:2px solid #0072B2;
 padding-bottom:.15em}h3{font-size:1.05em;margin-top:1.5em}
nav{background:#f3f6f9;border:1px solid #d8e0e8;padding:.5em 1em;margin:1em 0;font-size:.92em}
nav a{margin-right:1.1em;color:#0a58a3;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.86em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #c9d1d9;padding:.22em .55em;text-align:right;vertical-align:top}
th{background:#eef2f6;font-weight:600}td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#fafbfc}
.wide{overflow-x:auto;max-width:100%}
figure{margin:1.2em 0 1.8em}figure img{max-width:100%;height:auto;border:1px solid #e3e7eb}
figcaption{font-size:.86em;color:#444;margin-top:.3em;max-width:60em}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.45em .8em;font-size:.9em;max-width:60em}
.legend{font-size:.84em;color:#333;max-width:62em}
.meta{font-size:.9em;color:#333}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.tie{color:#8a5a00;font-weight:600}
"""


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def table_html(headers: list[str], body: list[list[str]], left: tuple[str, ...] = (), cls: str = "") -> str:
    """An HTML table; columns named in ``left`` (and the first column) are left-aligned."""
    aligned = [("l" if h in left or i == 0 else "") for i, h in enumerate(headers)]
    out = [f'<div class="wide"><table{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}><thead><tr>']
    out += [f'<th class="{a}">{_e(h)}</th>' if a else f"<th>{_e(h)}</th>" for a, h in zip(aligned, headers,
                                                                                          strict=True)]
    out.append("</tr></thead><tbody>")
    for row in body:
        cells = []
        for a, cell in zip(aligned, row, strict=True):
            text = _e(cell)
            if str(cell).startswith("tie "):
                text = f'<span class="tie">{text}</span>'
            cells.append(f'<td class="{a}">{text}</td>' if a else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _figure_html(plot: plotting.Plot) -> str:
    if "png" not in plot.files:
        return f'<h3>{_e(plot.title)}</h3><p class="note">{_e(plot.note)}</p>'
    data = base64.b64encode(plot.files["png"].read_bytes()).decode("ascii")
    svg = f"{PLOTS_DIR}/{plot.files['svg'].name}" if "svg" in plot.files else ""
    extra = f" Also as <code>{_e(svg)}</code> in the run folder." if svg else ""
    return (f'<figure id="fig-{_e(plot.name)}"><h3>{_e(plot.title)}</h3>'
            f'<img alt="{_e(plot.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(plot.caption)}{extra}</figcaption></figure>")


def _audit_html(audit: dict) -> str:
    corpus = audit.get("corpus", {})
    repeated = corpus.get("repeated_files") or []
    out = [f"<p>{_e(corpus.get('utterances'))} utterances, {_e(corpus.get('speakers'))} speakers, "
           f"{len(corpus.get('duplicate_groups', []))} exact-duplicate group(s)"
           + (f", {len(repeated)} file(s) named by more than one row" if repeated else "") + ".</p>"]
    rows = []
    for protocol, entry in audit.get("protocols", {}).items():
        text = entry.get("test_text_in_train")
        per_fold = entry.get("test_speakers_per_fold", [])
        rows.append([protocol, str(entry.get("n_folds", "")), f"{100 * entry.get('test_speaker_in_train', 0):.1f}%",
                     "n/a" if text is None else f"{100 * text:.1f}%",
                     str(entry.get("duplicates_across_train_test", "")), ", ".join(map(str, per_fold))])
    if rows:
        out.append(table_html(["protocol", "folds", "test speakers also in training", "test sentences also in "
                               "training", "duplicates across training/test", "test speakers per fold"], rows,
                              left=("test speakers per fold",)))
    for warning in audit.get("warnings", []):
        out.append(f'<p class="note">Warning: {_e(warning)}</p>')
    if audit.get("scaling"):
        out.append(f"<p>{_e(audit['scaling'])}</p>")
    return "".join(out)


def _corpus_html(folder: RunFolder) -> str:
    corpus = folder.run.get("corpus") or {}
    out = [f"<p>{_e(corpus.get('summary_line', ''))}</p>"]
    emotions = corpus.get("emotions") or {}
    if emotions:
        out.append(table_html(["emotion", *emotions], [["utterances", *map(str, emotions.values())]]))
    skipped = corpus.get("skipped") or []
    not_analysed = corpus.get("not_analysed") or []
    if skipped or not_analysed:
        out.append(f"<p>{len(skipped)} file(s) skipped while loading, {len(not_analysed)} not analysed; "
                   "run.json lists each with its reason.</p>")
    if corpus.get("root"):
        out.append(f'<p class="meta">Root: <code>{_e(corpus["root"])}</code>; fingerprint '
                   f'<code>{_e(str(corpus.get("fingerprint", ""))[:16])}</code></p>')
    return "".join(out)


def _config_html(run: dict) -> str:
    out = []
    if run.get("command"):
        out.append(f"<p>Command:</p><pre>{_e(run['command'])}</pre>")
    facts = [[k, str(run[k])] for k in ("dataset", "seed", "finished", "platform", "python") if k in run]
    if facts:
        out.append(table_html(["", "value"], facts, left=("value",)))
    for key, title in (("config", "Configuration"), ("analysis", "Analysis settings"), ("versions", "Versions"),
                       ("timings_s", "Timings (s)"), ("fit_seconds", "Fit time per model (s)")):
        value = run.get(key)
        if not value:
            continue
        if isinstance(value, dict):
            rows = [[k, json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else str(v)]
                    for k, v in value.items()]
            out.append(f"<h3>{_e(title)}</h3>" + table_html(["setting", "value"], rows, left=("value",)))
        else:
            out.append(f"<h3>{_e(title)}</h3><pre>{_e(json.dumps(value, sort_keys=True, default=str))}</pre>")
    extraction = run.get("extraction") or {}
    if extraction.get("summary"):
        out.append(f"<p>Feature extraction: {_e(extraction['summary'])}</p>")
    return "".join(out)


def _claims_html(claims: pd.DataFrame) -> str:
    headers = [str(c) for c in claims.columns]
    body = [[str(v) for v in row] for row in claims.itertuples(index=False)]
    return table_html(headers, body, left=tuple(h for h in headers if "claim" in h.lower() or h in ("source",
                                                                                                   "system")))


def _leakage_html(path: Path) -> str:
    """The decomposition table, its waterfall lines and plots, when the run measured leaks (``run --leaks``)."""
    from benchmark.reports import leakage

    frame = leakage.read_leakage(path)
    if frame is None:
        return ""
    table = leakage.decomposition_table(frame)
    headers = [str(c) for c in table.columns]
    out = table_html(headers, [[str(v) for v in row] for row in table.itertuples(index=False)],
                     left=("model", "features", "row", "against", "note"))
    lines = [x for x in leakage.render(path, "md").splitlines() if " on " in x and " = " in x]
    out += "".join(f"<p><code>{_e(x)}</code></p>" for x in lines)
    for png in sorted(path.glob("leakage_*.png")):
        out += f'<figure><img src="{_e(png.name)}" alt="{_e(png.stem)}"></figure>'
    return out


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _pct_cell(v) -> str:
    x = _num(v)
    return "" if math.isnan(x) else f"{100 * x:.1f}"


def _robustness_html(path: Path) -> str:
    """The robustness table, the ranking per condition and the SNR curves, from ``robustness/`` of a run."""
    from benchmark.reports.robustness import ROBUST_DIR, ranking_frame

    table = path / ROBUST_DIR / "table.csv"
    if not table.is_file():
        return ""
    frame = pd.read_csv(table, keep_default_na=False)
    if frame.empty:
        return '<p class="note">The run degraded no test clip (no degraded predictions).</p>'
    for col in ("uar", "ci_low", "ci_high", "clean_uar", "delta", "p_value"):
        frame[col] = frame[col].map(_num)
    body = []
    for r in frame.to_dict("records"):
        ci = "" if math.isnan(r["ci_low"]) else f"[{_pct_cell(r['ci_low'])}, {_pct_cell(r['ci_high'])}]"
        delta = "" if math.isnan(r["delta"]) else f"{100 * r['delta']:+.1f}"
        test = "" if math.isnan(r["p_value"]) else f"{r['verdict']} p={r['p_value']:.3f}"
        body.append([f"{r['features']}/{r['model']}", r["condition"], _pct_cell(r["uar"]), ci,
                     _pct_cell(r["clean_uar"]), delta, test, r["n_failed_clips"] or ""])
    out = (f"<p>UAR (%) on degraded copies of the test folds ({_e(frame['protocol'].iloc[0])} protocol); the "
           "model is fitted once on clean training audio and nothing is refitted for a condition.</p>" +
           table_html(["model", "condition", "UAR", "95% CI", "clean UAR", "change", "vs clean", "failed clips"],
                      body, left=("condition", "vs clean"), cls="robustness") +
           '<p class="legend">95% CI: percentile bootstrap over test speakers. change: degraded minus clean UAR of '
           "the same model on the same clips, in points. vs clean: paired permutation test over speakers "
           "(two-sided; tie = not significant). Also in <code>robustness/table.csv</code>.</p>")
    ranks = ranking_frame(frame)
    if not ranks.empty:
        out += ("<h3>Rank per condition (1 = best UAR)</h3>" +
                table_html(["model", *map(str, ranks.columns)],
                           [[label, *map(str, row)] for label, row in zip(ranks.index, ranks.values.tolist(),
                                                                          strict=True)], cls="ranking"))
    png = path / ROBUST_DIR / "snr.png"
    if png.is_file():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        out += ('<figure id="fig-snr"><h3>UAR against SNR</h3>'
                f'<img alt="UAR against SNR" src="data:image/png;base64,{data}">'
                "<figcaption>A panel per noise kind, a line per model with its speaker-bootstrap 95% band; the "
                "dotted line is the model's clean UAR. Also as <code>robustness/snr.svg</code>.</figcaption>"
                "</figure>")
    return out


def _fairness_html(path: Path) -> str:
    """Group UARs with intervals, the gap test per model and column, and the corpus balance per column."""
    from benchmark.evaluation.fairness import FAIRNESS_FILE, FAIRNESS_TESTS_FILE, format_balance

    uars_path, tests_path = path / FAIRNESS_FILE, path / FAIRNESS_TESTS_FILE
    if not uars_path.is_file():
        return ""
    def read(p: Path) -> pd.DataFrame:
        return pd.read_csv(p, keep_default_na=False) if p.is_file() and p.stat().st_size > 1 else pd.DataFrame()

    uars, tests = read(uars_path), read(tests_path)
    out = ""
    if uars.empty:
        out += '<p class="note">No speaker-independent predictions to break down by group.</p>'
    else:
        headers = ["model", "protocol", "column", "group", "UAR", "95% CI", "speakers", "utterances"]
        body = []
        for r in uars.to_dict("records"):
            norm = " spk-norm" if str(r.get("speaker_norm")) == "True" else ""
            body.append([f"{r['features']}/{r['model']}{norm}", r["protocol"], r["column"], r["group"],
                         _pct_cell(r["uar"]), f"[{_pct_cell(r['ci_low'])}, {_pct_cell(r['ci_high'])}]",
                         r["n_speakers"], r["n_utterances"]])
        out += "<p>UAR (%) per group of test speakers, pooled over the test folds.</p>" + table_html(
            headers, body, left=("protocol", "column", "group"), cls="fairness")
        if not tests.empty:
            t_body = []
            for r in tests.to_dict("records"):
                sig = str(r["significant"]) == "True"
                t_body.append([f"{r['features']}/{r['model']}", r["protocol"], r["column"],
                               _pct_cell(r["gap"]), f"{r['best']} > {r['worst']}",
                               "" if math.isnan(_num(r["p_value"])) else f"{_num(r['p_value']):.3f}",
                               "yes (group-gap)" if sig else "no"])
            out += ("<h3>Gap between the best and worst group</h3>" +
                    table_html(["model", "protocol", "column", "gap (points)", "groups", "p", "significant"],
                               t_body, left=("protocol", "column", "groups", "significant"), cls="fairness-tests"))
        out += ('<p class="legend">95% CI: bootstrap over the group\'s test speakers. p: permutation test of the '
                "gap over speakers (group labels shuffled among the test speakers). Recall per emotion per group: "
                "<code>fairness_recall.csv</code>.</p>")
    audit = path / "audit.json"
    groups = json.loads(audit.read_text()).get("groups", {}) if audit.is_file() else {}
    for b in groups.values():
        out += f"<pre>{_e(format_balance(b))}</pre>"
    return out


def render_html(board: Leaderboard, plots: list[plotting.Plot]) -> str:
    """The report page for a leaderboard and its saved plots."""
    folder = board.folder
    by_name = {p.name: p for p in plots}
    sections: list[tuple[str, str, str]] = []

    corpus = _corpus_html(folder)
    for name in ("corpus", "examples"):
        if name in by_name:
            corpus += _figure_html(by_name[name])
    sections.append(("corpus", "Corpus", corpus))
    sections.append(("audit", "Leakage audit", _audit_html(folder.audit)))

    headers, body = main_cells(board)
    board_html = (f"<p>Ranked by {_e(board.rank_by)} UAR (%).</p>" +
                  table_html(headers, body, left=("features", "model", "vs #1", "flags"), cls="leaderboard") +
                  "".join(f'<p class="legend">{_e(line)}</p>' for line in [" ".join(legend(board, width=10**6))]))
    if board.note:
        board_html += f'<p class="note">{_e(board.note)}</p>'
    for line in degenerate_lines(board):
        board_html += f'<p class="note">Warning: {_e(line)}</p>'
    for name in ("gap", "recall"):
        if name in by_name:
            board_html += _figure_html(by_name[name])
    sections.append(("leaderboard", "Leaderboard", board_html))

    if folder.claims is not None:
        sections.append(("claims", "Claims checked", _claims_html(folder.claims)))
    leak_html = _leakage_html(folder.path)
    if leak_html:
        sections.append(("leakage", "Leakage decomposition (LEAK rows are deliberately leaky; never ranked)",
                         leak_html))

    p_headers, p_body, p_protocol = per_speaker_cells(board)
    speaker_html = _figure_html(by_name["per_speaker"]) if "per_speaker" in by_name else ""
    if p_body:
        speaker_html += (f"<h3>UAR per test speaker ({_e(p_protocol)}, %)</h3>" +
                         table_html(p_headers, p_body, cls="per-speaker") +
                         "<p class=\"meta\">Also in <code>per_speaker.csv</code> (every speaker protocol).</p>")
    sections.append(("speakers", "Per-speaker results", speaker_html))

    confusion = "".join(_figure_html(p) for p in plots if p.name.startswith("confusion"))
    sections.append(("confusion", "Confusion matrices", confusion))

    a_headers, a_body, a_protocol = ablation_cells(board.summary)
    ablation = ""
    if a_body:
        ablation = (f"<p>{_e(a_protocol)} UAR (%), mean ± std over folds.</p>" +
                    table_html(a_headers, a_body, cls="ablation"))
    if "ablation" in by_name:
        ablation += _figure_html(by_name["ablation"])
    sections.append(("ablation", "Feature-group ablation", ablation))

    robust_html = _robustness_html(folder.path)
    if robust_html:
        sections.append(("robustness", "Robustness to recording conditions", robust_html))
    fair_html = _fairness_html(folder.path)
    if fair_html:
        sections.append(("fairness", "Fairness across groups of speakers", fair_html))

    curves = "".join(_figure_html(p) for p in plots if p.name.startswith("curves"))
    sections.append(("curves", "Training curves", curves))
    sections.append(("config", "Configuration and versions", _config_html(folder.run)))

    nav = "\n".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    summary_line = (folder.run.get("corpus") or {}).get("summary_line", "")
    head = (f"<h1>Speech emotion recognition benchmark: {_e(folder.dataset)}</h1>"
            f'<p class="meta">{_e(summary_line)}. Run folder <code>{_e(folder.path.name)}</code>'
            f"{', finished ' + _e(folder.run['finished']) if folder.run.get('finished') else ''}.</p>")
    missing = [m for m in folder.missing if m != "claims.csv"]  # claims are optional, not a gap
    if missing:
        head += (f'<p class="note">This run folder lacks {_e(", ".join(missing))} (written before these files '
                 "were kept, or removed); the sections that need them say so.</p>")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>SER benchmark report: {_e(folder.dataset)}</title>",
             f"<style>{CSS}</style></head><body><main>", head, f"<nav>{nav}</nav>"]
    for key, title, content in sections:
        parts.append(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>')
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def write_report(run_dir: str | Path | RunFolder | Leaderboard, cache_dir: str | Path | None = None) -> Path:
    """Draw every plot (``plots/*.png`` and ``*.svg``), write ``per_speaker.csv`` and ``report.html`` into the
    run folder, and return the report's path. Renders from the run folder alone; the same folder gives the same
    bytes. With ``cache_dir``, plots drawn before from the same files are copied instead of drawn again."""
    board = run_dir if isinstance(run_dir, Leaderboard) else build(run_dir)
    out_dir = board.folder.path / PLOTS_DIR
    if out_dir.is_dir():
        for old in sorted(out_dir.glob("*")):
            if old.suffix in (".png", ".svg") and old.is_file():
                old.unlink()
    memo = Path(cache_dir) / "plots" / _plots_key(board.folder.path) if cache_dir is not None else None
    plots = _cached_plots(memo, out_dir) if memo is not None else None
    if plots is None:
        plots = [plotting.save(p, out_dir) for p in plotting.figures(board)]
        if memo is not None:
            _remember_plots(memo, plots)
    write_per_speaker(board)
    path = board.folder.path / REPORT
    path.write_text(render_html(board, plots), encoding="utf-8")
    return path


PLOT_INPUTS = ("folds.csv", "predictions.csv", "curves.csv", "splits.csv", "audit.json")


def _plots_key(folder: Path) -> str:
    """Everything the plots are drawn from: the run's data files, its settings, the plotting code, matplotlib."""
    h = hashlib.sha256(Path(plotting.__file__).read_bytes() + matplotlib.__version__.encode())
    for name in PLOT_INPUTS:
        target = folder / name
        if not target.is_file():
            data = b"-"
        elif name == "folds.csv":
            # Whether a fit came from the cache changes no plot: a warm re-run must find the cold run's plots.
            data = pd.read_csv(target, keep_default_na=False).drop(columns="cached", errors="ignore").to_csv(
                index=False).encode()
        else:
            data = target.read_bytes()
        h.update(name.encode() + data)
    run = json.loads((folder / "run.json").read_text())
    h.update(json.dumps([run.get("config"), run.get("seed"), run.get("dataset")], sort_keys=True,
                        default=str).encode())
    return h.hexdigest()[:32]


def _cached_plots(memo: Path, out_dir: Path) -> list[plotting.Plot] | None:
    manifest = memo / "plots.json"
    if not manifest.is_file():
        return None
    try:
        entries = json.loads(manifest.read_text())
        plots = []
        for entry in entries:
            plot = plotting.Plot(entry["name"], entry["title"], entry["caption"], note=entry["note"])
            for fmt, name in entry["files"].items():
                out_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(memo / name, out_dir / name)
                plot.files[fmt] = out_dir / name
            plots.append(plot)
        return plots
    except (OSError, ValueError, KeyError):  # a damaged memo is drawn again
        return None


def _remember_plots(memo: Path, plots: list[plotting.Plot]) -> None:
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        entries = []
        for plot in plots:
            for path in plot.files.values():
                shutil.copyfile(path, tmp / path.name)
            entries.append({"name": plot.name, "title": plot.title, "caption": plot.caption, "note": plot.note,
                            "files": {fmt: path.name for fmt, path in plot.files.items()}})
        (tmp / "plots.json").write_text(json.dumps(entries))
        if memo.exists():
            shutil.rmtree(memo)
        os.replace(tmp, memo)
    except OSError:  # the memo only saves time: a full cache disk costs a redraw next time, nothing else
        shutil.rmtree(tmp, ignore_errors=True)
