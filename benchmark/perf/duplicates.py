"""``perf --duplicates``: precision and recall of near-duplicate detection on generated transforms of real clips,
per transform and strength, the false-flag rate on different takes of one sentence, and the cost per clip.

For each (transform, strength), ``n`` clips and one transformed copy of each are searched together (a corpus
holding every clip twice, as the "merged" sets do). Recall is the share of (clip, its copy) pairs reported;
every other reported pair is false. Then the whole corpus is searched as it is: a reported pair between two
recordings of one sentence by one speaker (another take, or another emotion) is a false flag.
"""

from __future__ import annotations

import io
import time

import numpy as np

from benchmark.evaluation.duplicates import (
    MIN_LOG_STRETCH,
    MIN_PITCH_SHIFT,
    PITCH_THRESHOLD,
    STRETCH_THRESHOLD,
    THRESHOLD,
    WARPED_THRESHOLD,
    WIDE_STRETCH_THRESHOLD,
    SearchStats,
    fingerprint,
    match_score,
    near_duplicates,
)

LOW_WARPED = 0.8  # a lower warped threshold, to show what the built-in corpus's near-identical takes cost
TRANSFORMS = [("gain", -6.0), ("gain", 6.0), ("resample", 8000), ("resample", 22050), ("mp3", 64), ("ogg", 0.3),
              ("trim-head", 0.25), ("trim-head", 0.5), ("trim-tail", 0.5), ("trim-both", 0.25),
              ("noise", 30.0), ("noise", 20.0), ("noise", 10.0),
              ("pitch", -4.0), ("pitch", -2.0), ("pitch", -1.0), ("pitch", 1.0), ("pitch", 2.0), ("pitch", 4.0),
              ("stretch", 0.8), ("stretch", 0.9), ("stretch", 1.1), ("stretch", 1.25)]


def transform(y: np.ndarray, sr: int, name: str, strength: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, int]:
    """A copy of ``y``: gain (dB), resample (to Hz: a file at that rate), mp3 (kbit/s) or ogg (Vorbis quality)
    round trip, trim-head / trim-tail / trim-both (seconds off), noise (white, SNR dB), pitch (semitones,
    ``librosa.effects.pitch_shift``) or stretch (rate, ``librosa.effects.time_stretch``)."""
    import librosa
    import soundfile as sf

    if name == "gain":
        return np.clip(y * 10 ** (strength / 20), -1, 1), sr
    if name == "resample":
        return librosa.resample(y, orig_sr=sr, target_sr=int(strength)), int(strength)
    if name in ("mp3", "ogg"):
        buffer = io.BytesIO()
        if name == "mp3":
            sf.write(buffer, y, sr, format="MP3", subtype="MPEG_LAYER_III",
                     compression_level=1 - min(strength, 320) / 320, bitrate_mode="CONSTANT")
        else:
            sf.write(buffer, y, sr, format="OGG", subtype="VORBIS", compression_level=1 - strength)
        buffer.seek(0)
        z, zsr = sf.read(buffer, dtype="float32")
        return z, zsr
    if name.startswith("trim"):
        cut = int(strength * sr)
        head = cut if name in ("trim-head", "trim-both") else 0
        tail = cut if name in ("trim-tail", "trim-both") else 0
        return y[head: len(y) - tail], sr
    if name == "noise":
        power = float(np.mean(y ** 2)) or 1e-12
        return y + rng.normal(0, np.sqrt(power / 10 ** (strength / 10)), y.shape).astype(y.dtype), sr
    if name == "pitch":
        return librosa.effects.pitch_shift(y, sr=sr, n_steps=strength), sr
    if name == "stretch":
        return librosa.effects.time_stretch(y, rate=strength), sr
    raise ValueError(f"perf --duplicates: unknown transform {name!r}")


def _same_sentence(table, by: tuple[str, ...] = ("speaker", "text")) -> set[tuple[int, int]]:
    """Row pairs (i < j) of one speaker saying one sentence (by ``by``): different recordings, not to be flagged."""
    pairs: set[tuple[int, int]] = set()
    if not set(by) <= set(table.columns):
        return pairs
    for _, rows in table.reset_index(drop=True).groupby(list(by)).groups.items():
        rows = sorted(int(r) for r in rows)
        pairs |= {(a, b) for k, a in enumerate(rows) for b in rows[k + 1:]}
    return pairs


def run(table, n_files: int = 40, seed: int = 0, say=print) -> dict:
    """Measure the detector on ``n_files`` clips of ``table`` (evenly spread), then on the whole corpus.

    Parameters
    ----------
    table : the corpus table (``path``; ``speaker`` and ``text`` for the takes check).
    n_files : clips given a copy per transform.
    seed : the noise seed.
    say : where lines go.

    Returns
    -------
    dict
        Recall per transform, precision, false flags among same-sentence recordings, cost per clip.
    """
    from features.audio import read_native

    table = table.reset_index(drop=True)
    paths = table["path"].astype(str).tolist()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    audio = [read_native(p) for p in paths]
    decode = (time.perf_counter() - start) / len(paths)
    start = time.perf_counter()
    fps = [fingerprint(y, sr) for y, sr in audio]
    fp_seconds = (time.perf_counter() - start) / len(paths)
    start = time.perf_counter()
    stats = SearchStats()
    corpus_pairs = near_duplicates(fps, stats=stats)
    search_seconds = (time.perf_counter() - start) / len(paths)

    chosen = list(range(0, len(paths), max(1, len(paths) // n_files)))[:n_files]
    say(f"near-duplicates: {len(chosen)} clips, each searched with one copy per transform (2 x {len(chosen)} "
        f"clips a search)")
    say(f"{'transform':<11}{'strength':>9}{'recall':>8}{'false':>7}{'unwarped':>10}{'warped':>8}"
        f"{'at ' + str(LOW_WARPED):>9}{'pitch':>7}{'stretch':>8}{'wide st':>8}  (median scores; recall of the pair "
        f"alone with the warped threshold at {LOW_WARPED}; pitch, stretch and wide st: the hypotheses' scores)")
    recall, false_total, found_total = {}, 0, 0
    for name, strength in TRANSFORMS:
        copies = [fingerprint(*transform(audio[i][0], audio[i][1], name, strength, rng)) for i in chosen]
        pairs = near_duplicates([fps[i] for i in chosen] + copies)
        m = len(chosen)
        true = {(k, k + m) for k in range(m)}
        hits = sum(1 for p in pairs if (p.i, p.j) in true)
        false = len(pairs) - hits
        matches = [match_score(fps[i], c) for i, c in zip(chosen, copies, strict=True)]
        recall[f"{name}={strength:g}"] = hits / m
        false_total += false
        found_total += len(pairs)
        say(f"{name:<11}{strength:>9g}{hits / m:>8.2f}{false:>7d}{np.median([x.unwarped for x in matches]):>10.3f}"
            f"{np.median([x.warped for x in matches]):>8.3f}"
            f"{np.mean([x.is_copy(THRESHOLD, LOW_WARPED) for x in matches]):>9.2f}"
            f"{np.median([x.pitch for x in matches]):>7.3f}{np.median([x.stretch for x in matches]):>8.3f}"
            f"{np.median([x.wide_stretch for x in matches]):>8.3f}")
    precision = (found_total - false_total) / found_total if found_total else float("nan")
    say(f"pairs reported {found_total}, between different recordings {false_total}: precision {precision:.3f}")

    say(f"whole corpus ({len(paths)} clips): {len(corpus_pairs)} pair(s) reported, {stats.verified} verified of "
        f"{len(paths) * (len(paths) - 1) // 2} possible")
    same = _same_sentence(table)
    takes = _same_sentence(table, ("speaker", "text", "emotion"))
    flagged = {}
    for label, group in (("takes (same speaker, sentence, emotion)", takes),
                         ("other emotions (same speaker, sentence)", same - takes)):
        if not group:
            continue
        hit = [p for p in corpus_pairs if (p.i, p.j) in group]
        flagged[label] = (len(hit), len(group))
        scores = [match_score(fps[a], fps[b]) for a, b in sorted(group)]  # the margin: every pair scored
        say(f"  {label}: {len(hit)} of {len(group)} flagged ({len(hit) / len(group):.4f}); max unwarped "
            f"{max(s.unwarped for s in scores):.3f} (flags at {THRESHOLD}), max warped "
            f"{max(s.warped for s in scores):.3f} (flags at {WARPED_THRESHOLD}), max pitch "
            f"{max([s.pitch for s in scores if abs(s.pitch_shift) >= MIN_PITCH_SHIFT] or [-1.0]):.3f} (at a shift of "
            f"a semitone or more; flags at {PITCH_THRESHOLD}), max stretch "
            f"{max([s.stretch for s in scores if abs(s.stretch_log_scale) >= MIN_LOG_STRETCH] or [-1.0]):.3f} "
            f"(at 5 % or more; flags at {STRETCH_THRESHOLD} with the margin), max wide stretch "
            f"{max([s.wide_stretch for s in scores if abs(s.stretch_log_scale) >= MIN_LOG_STRETCH] or [-1.0]):.3f} "
            f"(flags at {WIDE_STRETCH_THRESHOLD} with the larger margin)")
    per_clip = fp_seconds + search_seconds
    say(f"cost per clip: fingerprint {1000 * fp_seconds:.1f} ms + search {1000 * search_seconds:.1f} ms = "
        f"{per_clip / decode:.0f}x decoding the clip ({1000 * decode:.1f} ms)")
    return {"recall": recall, "precision": precision, "false_pairs": false_total,
            "same_sentence_flagged": flagged,
            "verified": stats.verified, "seconds_per_clip": per_clip}
