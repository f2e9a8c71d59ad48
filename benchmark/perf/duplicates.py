"""``perf --duplicates``: precision and recall of near-duplicate detection on generated transforms of real clips,
per transform and strength, and the cost per clip against decoding the clip (measured in the same run).

Each of ``n`` clips gets one transformed copy per (transform, strength); the detector then runs on originals
plus copies together. A found pair is correct when it joins a clip and its own copy (or two copies of one clip);
recall is per transform and strength; precision counts every other pair as false, including two takes of one
sentence by one speaker, which must not be flagged.
"""

from __future__ import annotations

import time

import numpy as np

from benchmark.evaluation.duplicates import THRESHOLD, fingerprint, near_duplicates

TRANSFORMS = [("gain", -6.0), ("gain", 6.0), ("resample", 8000), ("resample", 22050), ("trim", 0.1), ("trim", 0.3),
              ("noise", 30.0), ("noise", 20.0), ("noise", 10.0), ("pitch", 1.0), ("stretch", 1.1)]


def transform(y: np.ndarray, sr: int, name: str, strength: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, int]:
    """A copy of ``y``: gain (dB), resample (to Hz and back to a file at that rate), trim (seconds off each end),
    noise (SNR dB), pitch (semitones) or stretch (rate)."""
    import librosa

    if name == "gain":
        return np.clip(y * 10 ** (strength / 20), -1, 1), sr
    if name == "resample":
        return librosa.resample(y, orig_sr=sr, target_sr=int(strength)), int(strength)
    if name == "trim":
        cut = int(strength * sr)
        return y[cut: len(y) - cut], sr
    if name == "noise":
        power = float(np.mean(y ** 2)) or 1e-12
        return y + rng.normal(0, np.sqrt(power / 10 ** (strength / 10)), y.shape).astype(y.dtype), sr
    if name == "pitch":
        return librosa.effects.pitch_shift(y, sr=sr, n_steps=strength), sr
    if name == "stretch":
        return librosa.effects.time_stretch(y, rate=strength), sr
    raise ValueError(name)


def run(paths: list[str], threshold: float = THRESHOLD, seed: int = 0, say=print) -> dict:
    from features.audio import read_native

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    clips = [read_native(p) for p in paths]
    decode = time.perf_counter() - start
    envs, origin, kind = [], [], []
    start = time.perf_counter()
    for i, (y, sr) in enumerate(clips):
        envs.append(fingerprint(y, sr))
        origin.append(i)
        kind.append(None)
    fp_seconds = time.perf_counter() - start
    for i, (y, sr) in enumerate(clips):
        for t in TRANSFORMS:
            z, zsr = transform(y.astype(np.float32), sr, *t, rng)
            envs.append(fingerprint(z, zsr))
            origin.append(i)
            kind.append(t)
    start = time.perf_counter()
    pairs = near_duplicates(envs, threshold)
    search = time.perf_counter() - start
    parent = list(range(len(envs)))  # a copy counts as found when the pairs join it to its original

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for p in pairs:
        parent[root(p.i)] = root(p.j)
    hits = {t: 0 for t in TRANSFORMS}
    for k in range(len(clips), len(envs)):
        if root(origin[k]) == root(k):
            hits[kind[k]] += 1
    false = [p for p in pairs if origin[p.i] != origin[p.j]]
    say(f"near-duplicates on {len(clips)} clips, {len(TRANSFORMS)} copies each, threshold {threshold}")
    say(f"{'transform':<12}{'strength':>10}{'recall':>9}")
    for t in TRANSFORMS:
        say(f"{t[0]:<12}{t[1]:>10g}{hits[t] / len(clips):>9.2f}")
    correct = len(pairs) - len(false)
    precision = correct / len(pairs) if pairs else float("nan")
    say(f"pairs found {len(pairs)}, of them between different recordings {len(false)}: precision {precision:.3f}")
    per_clip = (fp_seconds + search * len(clips) / len(envs)) / len(clips)
    say(f"cost per clip: fingerprint + search {1000 * per_clip:.1f} ms = {per_clip / (decode / len(clips)):.1f}x "
        f"decoding the clip ({1000 * decode / len(clips):.1f} ms)")
    return {"recall": {f"{a}={b:g}": hits[(a, b)] / len(clips) for a, b in TRANSFORMS}, "precision": precision,
            "false_pairs": len(false), "seconds_per_clip": per_clip}
