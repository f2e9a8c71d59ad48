"""Near-duplicate audio: the same recording re-encoded, resampled, trimmed, gain-changed or lightly augmented.

Exact content hashes (the audit's ``duplicate_groups``) miss all of these. Each clip gets a fingerprint robust to
them: its log-mel envelope on a fixed analysis grid (16 kHz, 32 bands, 32 ms hop), each band centred and the whole
scaled to unit norm per frame (so gain and a flat channel change cancel). Pairs are found in two steps, never by a
quadratic scan:

1. **candidates**: each clip's ``k`` nearest neighbours by a compact summary (the mean and the spread of its
   normalised log-mel bands), found with a ball tree (``O(n k log n)``);
2. **verification**: the candidate pair's envelopes are cross-correlated over time lags (a trimmed copy is a
   shifted one); the score is the best mean frame-wise cosine similarity over the overlap, in [-1, 1].

A pair scoring at least ``threshold`` is a near-duplicate. Two takes of one sentence by one speaker share the
summary (they are candidates) but not the frame-by-frame course (their timing and intonation differ), so they
score well below a copy and are not flagged unless they truly are the same recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SR = 16000
N_MELS = 32
HOP = 512  # 32 ms at 16 kHz
N_FFT = 1024
THRESHOLD = 0.95  # copies score >= 0.98 (trim 0.1 s, noise 10 dB); takes of a sentence <= 0.92
NEIGHBOURS = 8
MIN_OVERLAP = 0.6  # share of the shorter clip the aligned overlap must cover
FMAX = 4000.0  # telephone-band copies (8 kHz) keep every band
FLOOR = 1e-3  # 30 dB below the peak: low-level noise does not reach the envelope


def fingerprint(y: np.ndarray, sr: int) -> np.ndarray:
    """A clip's envelope: (frames, 32) log-mel, band-centred, unit norm per frame; silence-trimmed at 40 dB.

    Parameters
    ----------
    y : mono waveform.
    sr : its sample rate (resampled to 16 kHz here, so a resampled copy gives the same grid).

    Returns
    -------
    np.ndarray
        float32 (frames, 32); at least one frame.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if sr != SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    if y.size and np.abs(y).max() > 0:
        y, _ = librosa.effects.trim(y, top_db=40)
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, fmax=FMAX)
    env = np.log(mel + FLOOR * max(float(mel.max()), 1e-20)).T  # relative floor: gain-independent, noise-tolerant
    env = env - env.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(env, axis=1, keepdims=True)
    return (env / np.maximum(norms, 1e-9)).astype(np.float32)


def summary(env: np.ndarray) -> np.ndarray:
    """The candidate key: the envelope's per-band spread and its first frames' shape, unit-normalised."""
    parts = np.concatenate([env.std(axis=0), np.abs(env).mean(axis=0)])
    return (parts / max(float(np.linalg.norm(parts)), 1e-9)).astype(np.float32)


def match_score(a: np.ndarray, b: np.ndarray, max_lag: int | None = None) -> float:
    """Best mean frame-wise cosine similarity of two envelopes over time lags (overlap >= 60 % of the shorter).

    Returns
    -------
    float
        In [-1, 1]; 1 for a copy, far lower for another take.
    """
    if len(a) < len(b):
        a, b = b, a
    n_short = len(b)
    need = max(1, int(np.ceil(MIN_OVERLAP * n_short)))
    sim = a @ b.T  # (len a, len b) frame-pair cosines
    best = -1.0
    lags = range(-(n_short - need), len(a) - need + 1)
    if max_lag is not None:
        lags = [lag for lag in lags if abs(lag) <= max_lag + abs(len(a) - len(b))]
    for lag in lags:  # b's frame j sits at a's frame j + lag
        j0, j1 = max(0, -lag), min(n_short, len(a) - lag)
        if j1 - j0 < need:
            continue
        score = float(np.trace(sim[j0 + lag:j1 + lag, j0:j1]) / (j1 - j0))
        best = max(best, score)
    return best


@dataclass(frozen=True)
class Pair:
    i: int
    j: int
    score: float


def near_duplicates(envelopes: Sequence[np.ndarray], threshold: float = THRESHOLD, neighbours: int = NEIGHBOURS,
                    exclude: set[tuple[int, int]] | None = None) -> list[Pair]:
    """Pairs (i < j) of envelopes scoring at least ``threshold``: candidates by nearest summaries, then verified.

    Parameters
    ----------
    envelopes : one :func:`fingerprint` per clip.
    threshold : the verified score a near-duplicate reaches.
    neighbours : candidates per clip.
    exclude : pairs not to report (e.g. exact duplicates, already reported).

    Returns
    -------
    list of Pair
        Sorted by score, highest first.
    """
    from sklearn.neighbors import NearestNeighbors

    n = len(envelopes)
    if n < 2:
        return []
    keys = np.stack([summary(e) for e in envelopes])
    k = min(neighbours + 1, n)
    _, idx = NearestNeighbors(n_neighbors=k).fit(keys).kneighbors(keys)
    seen, pairs = set(), []
    for i in range(n):
        for j in idx[i][1:]:
            pair = (min(i, int(j)), max(i, int(j)))
            if pair in seen or pair[0] == pair[1] or (exclude and pair in exclude):
                continue
            seen.add(pair)
            score = match_score(envelopes[pair[0]], envelopes[pair[1]])
            if score >= threshold:
                pairs.append(Pair(pair[0], pair[1], round(score, 4)))
    return sorted(pairs, key=lambda p: (-p.score, p.i, p.j))


def fingerprint_files(paths: Sequence[str], jobs: int = 1) -> list[np.ndarray | None]:
    """Each file's fingerprint (None for a file that cannot be decoded: the extraction reports it)."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=max(1, jobs))(delayed(_one)(str(p)) for p in paths)


def _one(path: str) -> np.ndarray | None:
    from features.audio import AudioError, read_native

    try:
        y, sr = read_native(path)
    except AudioError:
        return None
    return fingerprint(y, sr)


def audit_near_duplicates(table, folds: dict, envelopes: Sequence[np.ndarray | None],
                          threshold: float = THRESHOLD) -> dict:
    """The audit's near-duplicate section: pairs with their score, within or across corpora, and per protocol
    how many pairs put one clip in a test fold and the other in its training rows."""
    paths = table["path"].astype(str).tolist()
    digests = table["digest"].astype(str).tolist() if "digest" in table else [None] * len(paths)
    corpora = table["corpus"].astype(str).tolist() if "corpus" in table else [""] * len(paths)
    keep = [i for i, e in enumerate(envelopes) if e is not None]
    exact: set[tuple[int, int]] = set()  # exact duplicates are reported by the audit already
    by_digest: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d is not None:
            by_digest.setdefault(d, []).append(i)
    for group in by_digest.values():
        exact |= {(a, b) for a in group for b in group if a < b}
    position = {row: k for k, row in enumerate(keep)}
    local = near_duplicates([envelopes[i] for i in keep], threshold,
                            exclude={(position[a], position[b]) for a, b in exact if a in position and b in position})
    pairs = [Pair(keep[p.i], keep[p.j], p.score) for p in local]
    across_folds = {}
    for protocol, fold_list in folds.items():
        count = 0
        for fold in fold_list:
            test, train = set(fold.test.tolist()), set(fold.train.tolist())
            count += sum(1 for p in pairs if (p.i in test and p.j in train) or (p.j in test and p.i in train))
        across_folds[protocol] = count
    return {"threshold": threshold, "pairs": [{"a": paths[p.i], "b": paths[p.j], "score": p.score,
                                               "across_corpora": corpora[p.i] != corpora[p.j]} for p in pairs],
            "across_corpora": sum(1 for p in pairs if corpora[p.i] != corpora[p.j]),
            "across_train_test": across_folds}


def add_near_duplicates(report: dict, table, folds: dict, jobs: int = 1, threshold: float = THRESHOLD) -> dict:
    """Fingerprint every clip and add the ``near_duplicates`` section (and a warning line) to an audit report."""
    section = audit_near_duplicates(table, folds, fingerprint_files(table["path"].astype(str).tolist(), jobs),
                                    threshold)
    report["near_duplicates"] = section
    if section["pairs"]:
        crossing = ", ".join(f"{p} {n}" for p, n in section["across_train_test"].items())
        report["warnings"].append(
            f"{len(section['pairs'])} near-duplicate pair(s) (score >= {threshold}; re-encoded, resampled, trimmed "
            f"or gain-changed copies), {section['across_corpora']} across corpora; pair-folds across train/test: "
            f"{crossing}")
    return section
