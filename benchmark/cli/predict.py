"""``predict``: a bundle's emotion for each audio file (or each window of it), with the model's honest score."""

from __future__ import annotations

import argparse
import json
import math
import sys

from .common import UsageError, parse_jobs


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict the emotion of audio files with a bundle",
                       description="Predict the emotion of each file (any format the reader takes, any rate or "
                       "channel count; folders are searched for audio files). Files that cannot be read are "
                       "skipped with the reason.")
    p.add_argument("bundle", help="a bundle written by train")
    p.add_argument("inputs", nargs="+", metavar="FILE|DIR", help="audio files or folders")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object on stdout")
    out.add_argument("--csv", action="store_true", help="CSV on stdout (the caution goes to stderr)")
    p.add_argument("--segment", type=_seconds_or_auto, metavar="SECONDS|auto",
                   help="a timeline: one prediction per window of SECONDS ('auto': the training clips' median "
                        "duration)")
    p.add_argument("--hop", type=float, metavar="SECONDS", help="window step (default: --segment, no overlap)")
    p.add_argument("--no-window", action="store_true",
                   help="predict every input whole; by default an input much longer than the training clips is "
                        "cut into windows of their duration and the windows' probabilities are averaged")
    p.add_argument("--speaker", help="speaker-normalised bundles only: all inputs are this speaker's")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE",
                   help="a Python file registering the bundle's feature sets or model (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="feature extraction processes (default 1)")


def run(args: argparse.Namespace) -> int:
    from benchmark.apps.bundle import Bundle, BundleError

    if args.hop is not None and args.segment is None:
        raise UsageError("--hop needs --segment")
    if args.no_window and args.segment is not None:
        raise UsageError("--no-window and --segment exclude each other (--segment already sets the windows)")
    bundle = Bundle.load(args.bundle, plugins=args.plugin)
    frame = bundle.predict(args.inputs, speakers=args.speaker, segment=args.segment, hop=args.hop,
                           window=not args.no_window, jobs=parse_jobs(args.jobs))
    ok = frame[frame["error"] == ""]
    if ok.empty:
        first = frame.iloc[0]
        raise BundleError(f"none of the {len(frame)} input(s) could be used; first: {first['input']}: "
                          f"{first['error']}")
    for row in ok.itertuples():  # said on the console whatever the format; the JSON and CSV carry it too
        if row.windows > 1:
            print(f"note: {row.input} ({row.end:.1f} s) is much longer than the training clips: predicted as "
                  f"{row.windows} windows of {row.window_s:g} s, probabilities averaged (--no-window: whole)",
                  file=sys.stderr)
        if row.outside_training:  # the model cannot judge these
            print(f"warning: {row.input} [{row.start}-{row.end} s] is outside what the model was trained on: "
                  f"{row.outside_training}; its prediction is not to be trusted", file=sys.stderr)
        if getattr(row, "nearest_condition", None) not in (None, "clean") and isinstance(row.expected_uar, float):
            print(f"note: {row.input} is nearest to the measured condition {row.nearest_condition}: expected "
                  f"UAR there {100 * row.expected_uar:.0f} % (estimated SNR {row.snr_db:.0f} dB, bandwidth "
                  f"{row.bandwidth_hz / 1000:.1f} kHz)", file=sys.stderr)
    if args.json:
        print(json.dumps(as_json(bundle, frame), indent=1, allow_nan=False))
        return 0
    if args.csv:
        print(bundle.caution(), file=sys.stderr)
        for warning in bundle.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n", float_format="%.6f"))
        return 0
    print(bundle.caution())
    if bundle.robustness:
        from benchmark.apps.robustness import describe

        print(describe(bundle.robustness))
    for warning in bundle.warnings:
        print(f"warning: {warning}")
    print(render_text(bundle, frame, segmented=args.segment is not None))
    return 0


def as_json(bundle, frame) -> dict:
    """The whole answer as one JSON-ready object."""
    from benchmark.apps.robustness import describe

    labels = bundle.labels
    predictions, skipped = [], []
    for row in frame.to_dict("records"):
        if row["error"]:
            skipped.append({"input": row["input"], "reason": row["error"]})
            continue
        item = {"input": row["input"], "start": row["start"], "end": row["end"], "emotion": row["emotion"],
                "confidence": round(float(row["confidence"]), 6),
                "probabilities": {label: round(float(row[f"p_{label}"]), 6) for label in labels}}
        if "speaker" in row:
            item["speaker"] = row["speaker"]
        item["windows"] = int(row["windows"])  # averaged into this row; 1 when predicted whole
        if item["windows"] > 1 or not math.isnan(row["window_s"]):
            item["window_s"] = float(row["window_s"])
        item["recording"] = {k: float(row[k]) for k in ("level_dbfs", "snr_db", "bandwidth_hz")}
        if "nearest_condition" in row:
            item["nearest_condition"] = row["nearest_condition"]
            item["expected_uar"] = None if row["expected_uar"] is None or math.isnan(row["expected_uar"]) else \
                round(float(row["expected_uar"]), 6)
        # null when the input lies within what the bundle was trained on
        item["outside_training"] = row["outside_training"] or None
        predictions.append(item)
    score = bundle.score
    return {"caution": bundle.caution(), "warnings": bundle.warnings,
            "bundle": {"path": str(bundle.path), "model": bundle.model_name, "features": bundle.features.label,
                       "labels": labels, "speaker_norm": bundle.speaker_norm},
            "score": None if score is None else {k: v for k, v in score.__dict__.items()
                                                 if not (isinstance(v, float) and math.isnan(v))},
            "robustness": None if not bundle.robustness else {
                "summary": describe(bundle.robustness), "source": bundle.robustness.get("source"),
                "clean_uar": bundle.robustness.get("clean_uar"),
                "conditions": {c["name"]: {k: c.get(k) for k in ("uar", "ci_low", "ci_high")}
                               for c in bundle.robustness["conditions"]}},
            "predictions": predictions, "skipped": skipped}


def render_text(bundle, frame, segmented: bool) -> str:
    """A table per run: one row per file, or per file a timeline of its windows; skipped files at the end."""
    from tabulate import tabulate

    labels = bundle.labels
    ok = frame[frame["error"] == ""]
    lines = []
    probability_headers = [label[:8] for label in labels]
    if segmented:
        for name, group in ok.groupby("input", sort=False):
            lines += ["", f"{name}: {len(group)} windows, {group['start'].min():.1f}-{group['end'].max():.1f} s"]
            body = [[f"{r['start']:.1f}-{r['end']:.1f}", r["emotion"], _pct(r["confidence"]),
                     *[_pct(r[f"p_{label}"]) for label in labels]] for r in group.to_dict("records")]
            lines.append(tabulate(body, ["seconds", "emotion", "conf.", *probability_headers],
                                  tablefmt="simple", disable_numparse=True))
    else:
        body = [[r["input"], r["emotion"], _pct(r["confidence"]), *[_pct(r[f"p_{label}"]) for label in labels],
                 f"{r['windows']} x {r['window_s']:g} s" if r["windows"] > 1 else "whole"]
                for r in ok.to_dict("records")]
        lines += ["", tabulate(body, ["file", "emotion", "conf.", *probability_headers, "windows"],
                               tablefmt="simple", disable_numparse=True)]
        if (ok["windows"] > 1).any():
            lines.append("windows: inputs much longer than the training clips are cut into windows of their "
                         "duration and the probabilities averaged (--no-window: predict them whole)")
    bad = frame[frame["error"] != ""]
    if len(bad):
        lines.append("")
        lines += [f"skipped {r['input']}: {r['error']}" for r in bad.to_dict("records")]
    return "\n".join(lines)


def _seconds_or_auto(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'auto', got {text!r}") from None


def _pct(value: float) -> str:
    return f"{100 * float(value):.0f}%"
