"""Statistics of a run folder's leaderboard: the speaker intervals and paired tests of its rows, per-speaker UAR.

The statistics themselves (pure functions on arrays: bootstrap intervals over speakers, the paired permutation
test) live in :mod:`benchmark.evaluation.statistics`; they are re-exported here for the callers that read them
beside the run folder's tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.evaluation.statistics import (  # noqa: F401  (re-exported)
    ALPHA,
    PairedTest,
    paired_speaker_test,
    per_speaker_uar,
    speaker_bootstrap_ci,
    speaker_repeat_bootstrap_ci,
    uar,
)

# --- statistics of a run folder's leaderboard -------------------------------------------------------------------

def _prediction_groups(folder) -> dict[tuple, object]:
    """Leaderboard predictions keyed by (features, model, protocol, speaker_norm)."""
    if folder.predictions is None:
        return {}
    main = folder.predictions[folder.predictions["table"] == "leaderboard"]
    return {(f, m, p, bool(n)): g for (f, m, p, n), g in
            main.groupby(["features", "model", "protocol", "speaker_norm"], sort=False)}


def _repeat_of(group: pd.DataFrame) -> np.ndarray:
    return group["repeat"].to_numpy() if "repeat" in group else np.zeros(len(group), dtype=int)


def pairing_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The columns that pair two models' predictions of one utterance: repeat (when both have it), fold, row."""
    return (["repeat"] if "repeat" in a and "repeat" in b else []) + ["fold", "row"]


def annotate_rows(rows: list[dict], folder) -> str:
    """Add speaker-bootstrap intervals (``row["ci"][protocol]``) and the paired test against row 1
    (``row["paired"]``: a :class:`PairedTest` of the best model (A) against this one (B)) to the leaderboard
    rows. Returns a note saying what could not be computed ("" when everything was)."""
    from benchmark.reports.rundir import is_speaker_protocol

    if not rows:
        return ""
    if folder.predictions is None:
        return ("This run folder has no predictions.csv (it was written before predictions were kept): no "
                "confidence intervals, significance tests or per-speaker results.")
    groups = _prediction_groups(folder)
    rank_by = rows[0]["rank_by"]
    for row in rows:
        row["ci"] = {}
        for protocol in row["by_protocol"]:
            group = groups.get((row["features"], row["model"], protocol, row["speaker_norm"]))
            if group is None or not is_speaker_protocol(protocol):
                continue
            row["ci"][protocol] = speaker_repeat_bootstrap_ci(group["emotion"], group["predicted"], group["speaker"],
                                                              _repeat_of(group), n_resamples=folder.n_resamples,
                                                              seed=folder.seed)
    if not is_speaker_protocol(rank_by):
        return f"The table is ranked by {rank_by} UAR: speaker statistics need a speaker-independent protocol."
    best = groups.get((rows[0]["features"], rows[0]["model"], rank_by, rows[0]["speaker_norm"]))
    if best is None:
        return "The best model has no predictions: no significance tests."
    for row in rows[1:]:
        group = groups.get((row["features"], row["model"], rank_by, row["speaker_norm"]))
        if group is None:
            continue
        # Each repeat's predictions pair with the same repeat's; pooling the repeats' hits within a speaker makes
        # the test's per-speaker difference the seed-averaged one (pooled UAR is linear in each speaker's hits).
        pair = best.merge(group, on=pairing_keys(best, group), suffixes=("_a", "_b"))
        if pair.empty:
            continue
        row["paired"] = paired_speaker_test(pair["emotion_a"], pair["predicted_a"], pair["predicted_b"],
                                            pair["speaker_a"], seed=folder.seed)
    return ""


def per_speaker_table(folder) -> pd.DataFrame | None:
    """UAR of every leaderboard model on each test speaker under the speaker protocols, or None when the run
    folder has no predictions."""
    from benchmark.reports.rundir import is_speaker_protocol

    if folder.predictions is None:
        return None
    records = []
    for (features, model, protocol, norm), group in _prediction_groups(folder).items():
        if not is_speaker_protocol(protocol):
            continue
        folds = group.groupby("speaker", sort=False)["fold"].first()  # --repeat-folds: the first draw's fold
        # Under --repeats a speaker's UAR pools its utterances over the repeats (the seed-averaged UAR)
        repeats = len(set(_repeat_of(group).tolist())) or 1
        for speaker, (score, n) in per_speaker_uar(group["emotion"], group["predicted"], group["speaker"]).items():
            records.append({"features": features, "model": model, "protocol": protocol, "speaker_norm": norm,
                            "speaker": speaker, "fold": int(folds[speaker]), "n_utterances": n // repeats,
                            "uar": round(score, 6)})
    columns = ["features", "model", "protocol", "speaker_norm", "speaker", "fold", "n_utterances", "uar"]
    return pd.DataFrame(records, columns=columns)
