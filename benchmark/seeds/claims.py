"""The claims table: each replication's published claim, its score under the seed's own protocol (a random
hold-out split, speakers shared) and its speaker-independent score, with the differences in points."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd

HOLDOUT = "holdout"  # the seeds' own evaluation: a stratified random 80/20 split of utterances
SPEAKER = "speaker"  # whole speakers held out
CLAIM_COLUMNS = ("seed", "recipe", "source", "corpus", "figure", "metric", "split", "notes", "leaks", "leak_sources")


def load_claims() -> pd.DataFrame:
    """The shipped claims, one row per replication (``figure`` in %, NaN where the README states none)."""
    with resources.files(__package__).joinpath("claims.csv").open() as handle:
        claims = pd.read_csv(handle, dtype={"seed": str, "corpus": str, "notes": str, "split": str, "leaks": str,
                                            "leak_sources": str})
    for column in ("corpus", "leaks", "leak_sources"):
        claims[column] = claims[column].fillna("")
    claims["figure"] = pd.to_numeric(claims["figure"], errors="coerce")
    return claims


def recipes_for(corpus: str | None) -> list[str]:
    """The replications that fit ``corpus``: those whose system was built on it, and those naming no corpus.

    A corpus no seed names (EmoDB, the built-in one ...) gets every replication.
    """
    claims = load_claims()
    named = {c.lower() for c in claims["corpus"] if c}
    key = (corpus or "").lower()
    if key not in named:
        return claims["recipe"].tolist()
    return claims.loc[(claims["corpus"] == "") | (claims["corpus"].str.lower() == key), "recipe"].tolist()


def _mean(folds: pd.DataFrame, recipe: str, protocol: str, column: str) -> tuple[float, int]:
    rows = folds[(folds["model"] == recipe) & (folds["protocol"] == protocol)]
    if "speaker_norm" in rows:
        rows = rows[~rows["speaker_norm"].astype(str).str.lower().isin(("true", "1"))]
    if "status" in rows:
        rows = rows[rows["status"] == "ok"]
    values = pd.to_numeric(rows[column], errors="coerce").dropna()
    return (100.0 * float(values.mean()) if len(values) else float("nan")), int(len(values))


def _on_its_corpus(claim_corpus: str, run_corpus: str) -> bool:
    """A claim is a figure on its own corpus: beside a replication on another corpus it measures nothing."""
    return bool(claim_corpus) and claim_corpus.lower() == run_corpus.lower()


def claims_table(run_dir: str | Path) -> pd.DataFrame:
    """One row per replication scored in the run at ``run_dir`` (read from its ``folds.csv`` only).

    Columns: seed, recipe, source, claim (figure, metric, split and corpus as the README states them),
    corpus (the run's), holdout_acc (accuracy under the seed's protocol, mean over folds, %), speaker_acc and
    speaker_uar (speaker-independent, %), claim_minus_holdout (points; only where the run's corpus is the
    claim's) and holdout_minus_speaker (points), and the number of folds behind each score.
    """
    folds = pd.read_csv(Path(run_dir) / "folds.csv")
    claims = load_claims()
    corpus = str(folds["dataset"].iloc[0]) if "dataset" in folds and len(folds) else ""
    rows = []
    for claim in claims.itertuples(index=False):
        if claim.recipe not in set(folds["model"]):
            continue
        holdout, n_holdout = _mean(folds, claim.recipe, HOLDOUT, "wa")
        speaker, n_speaker = _mean(folds, claim.recipe, SPEAKER, "wa")
        speaker_uar, _ = _mean(folds, claim.recipe, SPEAKER, "uar")
        figure = claim.figure
        rows.append(
            {
                "seed": claim.seed,
                "recipe": claim.recipe,
                "source": claim.source,
                "claim": figure,
                "claim_metric": claim.metric,
                "claim_split": claim.split,
                "claim_corpus": claim.corpus,
                "claim_notes": claim.notes if isinstance(claim.notes, str) else "",
                "corpus": corpus,
                "holdout_acc": holdout,
                "speaker_acc": speaker,
                "speaker_uar": speaker_uar,
                "claim_minus_holdout": figure - holdout if _on_its_corpus(claim.corpus, corpus) else float("nan"),
                "holdout_minus_speaker": holdout - speaker,
                "holdout_folds": n_holdout,
                "speaker_folds": n_speaker,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "seed",
            "recipe",
            "source",
            "claim",
            "claim_metric",
            "claim_split",
            "claim_corpus",
            "claim_notes",
            "corpus",
            "holdout_acc",
            "speaker_acc",
            "speaker_uar",
            "claim_minus_holdout",
            "holdout_minus_speaker",
            "holdout_folds",
            "speaker_folds",
        ],
    )


def render_claims(table: pd.DataFrame, fmt: str = "md") -> str:
    """The claims table as Markdown (``"md"``, also what the console prints), ``"csv"`` or ``"json"``."""
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        records = json.loads(table.to_json(orient="records", double_precision=6))
        return json.dumps(records, indent=1) + "\n"
    if fmt != "md":
        raise ValueError(f"unknown claims format {fmt!r}; choose md, csv or json")
    from tabulate import tabulate

    def pct(v: float) -> str:
        return "–" if pd.isna(v) else f"{v:.1f}"

    def pts(v: float) -> str:
        return "–" if pd.isna(v) else f"{v:+.1f}"

    body = [
        [
            r.seed,
            r.recipe,
            f"{pct(r.claim)} ({r.claim_corpus or 'corpus not named'}, {r.claim_split})",
            pct(r.holdout_acc),
            pct(r.speaker_acc),
            pct(r.speaker_uar),
            "– (other corpus)" if pd.notna(r.claim) and not _on_its_corpus(r.claim_corpus, r.corpus)
            else pts(r.claim_minus_holdout),
            pts(r.holdout_minus_speaker),
        ]
        for r in table.itertuples(index=False)
    ]
    corpus = table["corpus"].iloc[0] if len(table) else ""
    title = f"Claims beside replications on {corpus} (accuracy, %; differences in points)\n\n"
    return (
        title
        + tabulate(
            body,
            headers=[
                "seed",
                "replication",
                "claim (corpus, split)",
                "holdout acc",
                "SI acc",
                "SI UAR",
                "claim - holdout",
                "holdout - SI",
            ],
            tablefmt="github",
            disable_numparse=True,
        )
        + "\n"
    )


def write_claims(run_dir: str | Path) -> pd.DataFrame:
    """Write ``claims.md``, ``claims.csv`` and ``claims.json`` into the run folder; returns the table."""
    run_dir = Path(run_dir)
    table = claims_table(run_dir)
    for fmt, name in (("md", "claims.md"), ("csv", "claims.csv"), ("json", "claims.json")):
        (run_dir / name).write_text(render_claims(table, fmt))
    return table
