"""Fairness across groups of speakers (gender, age band, any speaker-level column a manifest provides).

For each group: UAR with a speaker-bootstrap interval; between groups: the gap (largest minus smallest group
UAR) and a permutation test of it over speakers (group labels shuffled among the test speakers, each speaker
keeping all its utterances: under the null hypothesis of no group effect the labels are exchangeable); recall of
each emotion in each group; and, for the audit, the corpus's balance of groups and emotions (a gap can come from
the data, not the model: a chi-square test of independence of group and emotion says whether it might).

Everything is a pure, seeded function of plain arrays, so it applies to any predictions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.evaluation.statistics import ALPHA, _speaker_counts, _uar_from_counts, speaker_bootstrap_ci
from features.errors import UserInputError

EXACT_ASSIGNMENTS = 20000  # up to this many relabellings the permutation test enumerates them all
FAIRNESS_FILE = "fairness.csv"
FAIRNESS_TESTS_FILE = "fairness_tests.csv"
FAIRNESS_RECALL_FILE = "fairness_recall.csv"
MISSING = ("", "none", "nan", "unknown")


@dataclass(frozen=True)
class GapTest:
    """The gap between groups' UAR and its permutation test over speakers."""

    gap: float  # UAR of the best group minus UAR of the worst, in [0, 1]
    best: str
    worst: str
    p_value: float
    n_speakers: int
    exact: bool
    min_p: float  # the smallest p-value this many speakers and groups can give

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


class GroupColumnError(UserInputError):
    """A --groups column the corpus does not have, or one that is not a property of the speaker."""


def check_group_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """Refuse, in one line naming the column, a group column absent from the corpus table, empty, or one whose
    value changes within a speaker."""
    for column in columns:
        if column not in table.columns:
            extra = [c for c in table.columns if c not in ("path", "emotion", "label", "speaker", "text", "corpus",
                                                           "duration", "sample_rate", "channels", "digest", "peak")]
            raise GroupColumnError(f"--groups {column}: the corpus has no such column (it has: "
                                   f"{', '.join(extra) or 'none'})")
        if all(_missing(v) for v in table[column]):
            raise GroupColumnError(f"--groups {column}: no utterance of the corpus has a value")
        try:
            speaker_groups(table["speaker"], table[column])
        except ValueError as error:
            raise GroupColumnError(f"--groups {column}: {error}") from None


def speaker_groups(speakers: Sequence, groups: Sequence) -> dict[str, str]:
    """Each speaker's group; utterances with a missing group value are ignored.

    Raises
    ------
    ValueError
        When a speaker has utterances in two groups (the column is not a property of the speaker).
    """
    out: dict[str, str] = {}
    for s, g in zip(np.asarray(speakers).astype(str), np.asarray(groups, dtype=object), strict=True):
        if _missing(g):
            continue
        g = str(g)
        if out.setdefault(s, g) != g:
            raise ValueError(f"speaker {s} is in two groups ({out[s]} and {g}): a group must be a property of "
                             "the speaker")
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip().lower() in MISSING


def group_uar(y_true: Sequence, y_pred: Sequence, speakers: Sequence, groups: Sequence, n_resamples: int = 1000,
              seed: int = 0) -> pd.DataFrame:
    """UAR of each group with its speaker-bootstrap 95 % interval.

    Parameters
    ----------
    y_true, y_pred : labels of the test utterances (pooled over folds, each utterance once).
    speakers : speaker of each utterance.
    groups : group of each utterance (a property of its speaker); missing values are left out.
    n_resamples, seed : bootstrap resamples and seed.

    Returns
    -------
    pd.DataFrame
        Columns group, uar, ci_low, ci_high, n_speakers, n_utterances; groups sorted.
    """
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    speakers = np.asarray(speakers).astype(str)
    of = speaker_groups(speakers, groups)
    rows = []
    for g in sorted(set(of.values())):
        mask = np.array([of.get(s) == g for s in speakers])
        point, low, high = speaker_bootstrap_ci(y_true[mask], y_pred[mask], speakers[mask], n_resamples, seed)
        rows.append({"group": g, "uar": point, "ci_low": low, "ci_high": high,
                     "n_speakers": len(set(speakers[mask].tolist())), "n_utterances": int(mask.sum())})
    return pd.DataFrame(rows, columns=["group", "uar", "ci_low", "ci_high", "n_speakers", "n_utterances"])


def _gap_of(support: np.ndarray, hits: np.ndarray, labels: np.ndarray, n_groups: int) -> tuple[float, int, int]:
    scores = np.array([_uar_from_counts(support[labels == k].sum(0), hits[labels == k].sum(0))
                       for k in range(n_groups)])
    return float(np.nanmax(scores) - np.nanmin(scores)), int(np.nanargmax(scores)), int(np.nanargmin(scores))


def group_gap_test(y_true: Sequence, y_pred: Sequence, speakers: Sequence, groups: Sequence,
                   n_permutations: int = 10000, seed: int = 0) -> GapTest | None:
    """Gap between the best and the worst group's pooled UAR, tested by permuting group labels over speakers.

    Every relabelling keeps each group's number of speakers. With at most :data:`EXACT_ASSIGNMENTS` distinct
    relabellings all are enumerated (exact test, p = share whose gap reaches the observed one); otherwise
    ``n_permutations`` seeded draws are used with the +1 correction. Returns None with fewer than two groups.
    """
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    speakers = np.asarray(speakers).astype(str)
    of = speaker_groups(speakers, groups)
    keep = np.array([s in of for s in speakers])
    if not keep.any():
        return None
    support, hits, spk = _speaker_counts(y_true[keep], y_pred[keep], speakers[keep],
                                         sorted(set(y_true[keep].tolist())))
    names = sorted(set(of[s] for s in spk))
    if len(names) < 2:
        return None
    labels = np.array([names.index(of[s]) for s in spk])
    observed, best, worst = _gap_of(support, hits, labels, len(names))
    sizes = np.bincount(labels, minlength=len(names))
    n = len(spk)
    count = math.factorial(n) // math.prod(math.factorial(int(k)) for k in sizes)
    tol = 1e-12
    if count <= EXACT_ASSIGNMENTS:
        stats = np.array([_gap_of(support, hits, assign, len(names))[0] for assign in _assignments(sizes)])
        p, exact = float(np.mean(stats >= observed - tol)), True
        # groups of equal size can swap labels without changing the gap: that many relabellings tie at best
        mirrors = math.factorial(len(names)) if len(set(sizes.tolist())) == 1 else 1
        min_p = mirrors / count
    else:
        rng = np.random.default_rng(seed)
        stats = np.array([_gap_of(support, hits, rng.permutation(labels), len(names))[0]
                          for _ in range(n_permutations)])
        p = float((1 + np.sum(stats >= observed - tol)) / (n_permutations + 1))
        exact, min_p = False, 1.0 / (n_permutations + 1)
    return GapTest(gap=observed, best=names[best], worst=names[worst], p_value=min(p, 1.0), n_speakers=n,
                   exact=exact, min_p=min(min_p, 1.0))


def _assignments(sizes: np.ndarray):
    """Every labelling of ``sum(sizes)`` speakers with ``sizes[k]`` speakers in group ``k``."""
    n = int(sizes.sum())

    def place(remaining: list[int], k: int, current: list[int]):
        if k == len(sizes) - 1:
            out = np.full(n, k)
            for group, members in enumerate(current):
                out[list(members)] = group
            yield out
            return
        for members in itertools.combinations(remaining, int(sizes[k])):
            rest = [i for i in remaining if i not in members]
            yield from place(rest, k + 1, [*current, members])

    yield from place(list(range(n)), 0, [])


def recall_by_group(y_true: Sequence, y_pred: Sequence, speakers: Sequence, groups: Sequence) -> pd.DataFrame:
    """Recall of each emotion in each group: columns group, emotion, recall, support."""
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    of = speaker_groups(speakers, groups)
    g = np.array([of.get(s) for s in np.asarray(speakers).astype(str)], dtype=object)
    rows = []
    for group in sorted(set(of.values())):
        for emotion in sorted(set(y_true.tolist())):
            mask = (g == group) & (y_true == emotion)
            rows.append({"group": group, "emotion": emotion, "support": int(mask.sum()),
                         "recall": float((y_pred[mask] == emotion).mean()) if mask.any() else float("nan")})
    return pd.DataFrame(rows, columns=["group", "emotion", "recall", "support"])


def balance(table: pd.DataFrame, column: str) -> dict:
    """The corpus's balance of ``column`` and emotion, for the audit: speakers and utterances per group,
    utterances per group and emotion, and a chi-square test of independence of group and emotion.

    Returns
    -------
    dict
        ``{"column", "speakers", "utterances", "by_emotion", "missing", "chi2", "p_value", "dof"}``.
    """
    from scipy.stats import chi2_contingency

    values = table[column].map(lambda v: None if _missing(v) else str(v))
    known = table[values.notna()]
    groups = values[values.notna()]
    counts = pd.crosstab(groups, known["emotion"].astype(str))
    result = {"column": column, "missing": int(values.isna().sum()),
              "speakers": {str(g): int(n) for g, n in known.groupby(groups)["speaker"].nunique().items()},
              "utterances": {str(g): int(n) for g, n in groups.value_counts().sort_index().items()},
              "by_emotion": {str(g): {str(e): int(v) for e, v in row.items()} for g, row in counts.iterrows()},
              "chi2": None, "p_value": None, "dof": None}
    if counts.shape[0] >= 2 and counts.shape[1] >= 2:
        chi2, p, dof, _ = chi2_contingency(counts.to_numpy())
        result.update(chi2=float(chi2), p_value=float(p), dof=int(dof))
    return result


def format_balance(b: dict) -> str:
    """One line per group: speakers, utterances and the share of each emotion."""
    lines = [f"balance of {b['column']} x emotion"
             + (f" (chi-square p={b['p_value']:.3f}; {b['missing']} utterances without a value)"
                if b["p_value"] is not None else "")]
    for g, row in b["by_emotion"].items():
        total = sum(row.values())
        shares = ", ".join(f"{e} {100 * n / total:.0f}%" for e, n in row.items())
        lines.append(f"  {g}: {b['speakers'].get(g, 0)} speakers, {total} utterances; {shares}")
    return "\n".join(lines)


# --- a run's fairness tables ------------------------------------------------------------------------------------

def run_fairness(predictions: pd.DataFrame, table: pd.DataFrame, columns: Sequence[str], n_resamples: int,
                 seed: int, speaker_protocols: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per leaderboard entry under each speaker protocol and each group column: group UARs, the gap test and
    recall per emotion per group. ``predictions`` has the run's predictions.csv columns; ``row`` indexes
    ``table``."""
    keys = ["features", "model", "protocol", "speaker_norm"]
    uars, tests, recalls = [], [], []
    main = predictions[(predictions["table"] == "leaderboard") & predictions["protocol"].isin(speaker_protocols)]
    for ids, group in main.groupby(keys, sort=False):
        base = dict(zip(keys, ids, strict=True))
        for column in columns:
            g = table[column].to_numpy(dtype=object)[group["row"].to_numpy()]
            args = (group["emotion"], group["predicted"], group["speaker"], g)
            frame = group_uar(*args, n_resamples=n_resamples, seed=seed)
            uars += [{**base, "column": column, **r} for r in frame.to_dict("records")]
            test = group_gap_test(*args, seed=seed)
            if test is not None:
                tests.append({**base, "column": column, "gap": test.gap, "best": test.best, "worst": test.worst,
                              "p_value": test.p_value, "significant": test.significant,
                              "n_speakers": test.n_speakers, "exact": test.exact, "min_p": test.min_p})
            recalls += [{**base, "column": column, **r} for r in recall_by_group(*args).to_dict("records")]
    return pd.DataFrame(uars), pd.DataFrame(tests), pd.DataFrame(recalls)


def group_flags(rows: list[dict], run_dir) -> None:
    """Add ``group-gap(<column>)`` to the flags of leaderboard rows whose gap between groups is significant under
    the ranking protocol (read from the run folder's fairness_tests.csv, when the run has one)."""
    from pathlib import Path

    path = Path(run_dir) / FAIRNESS_TESTS_FILE
    if not rows or not path.is_file():
        return
    tests = pd.read_csv(path, keep_default_na=False)
    if tests.empty:
        return
    for row in rows:
        hit = tests[(tests["features"] == row["features"]) & (tests["model"] == row["model"])
                    & (tests["protocol"] == row["rank_by"])
                    & (tests["speaker_norm"].astype(str) == str(bool(row["speaker_norm"])))
                    & (tests["significant"].astype(str) == "True")]
        flags = [f"group-gap({c})" for c in hit["column"].astype(str)]
        if flags:
            row["flags"] = " ".join([row["flags"], *flags]).strip()
