"""Near-duplicate audio: the same recording re-encoded, resampled, trimmed, gain-changed, noised, pitch-shifted or
time-stretched.

Exact content hashes (the audit's ``duplicate_groups``) miss all of these. The method follows the pitch- and
tempo-invariant fingerprinting of Panako (Six & Leman, ISMIR 2014): on a log-frequency spectrogram a pitch shift is
a shift along the frequency axis and a time stretch a scaling of the time axis, so

1. **fingerprint**: each clip is resampled to 8 kHz (a telephone-rate copy keeps every band), silence-trimmed and
   turned into a log-frequency spectrogram (half-semitone bands, 150 Hz to 3.6 kHz, 16 ms hop). Its strongest local
   peaks are joined into **triplets**; a triplet's hash is the two frequency steps between its peaks (in bands:
   unchanged by a pitch shift) and where the middle peak falls in time between the outer two (a ratio: unchanged by
   a time stretch, a trim or a gain);
2. **candidates** (no quadratic scan): an inverted index of the hashes. Two clips sharing a hash vote for one
   (frequency shift, time scale) cell, read off the matched triplets; a copy's votes pile up in one cell, chance
   matches scatter. Hashes held by more than ``BUCKET_CAP`` clips are dropped (stop words), and each clip keeps its
   ``NEIGHBOURS`` best-voted partners. A second, cheap path catches the phase-vocoder copies left too few
   triplets to win the vote: each clip's ``PROFILE_NEIGHBOURS`` nearest partners by its long-term profile (the
   coarse bands' mean over the loud frames; a stretch leaves it nearly unchanged, a pitch shift translates it, so
   it is compared over the shifts searched), from a ball tree. At most ``n * (NEIGHBOURS + PROFILE_NEIGHBOURS)``
   pairs reach step 3;
3. **verification**: the pair's band-centred spectrograms are aligned around the voted shift, scale and offset,
   searched finely, and scored by the mean frame-wise cosine similarity along the best alignment, in [-1, 1];
   then two hypotheses that a phase-vocoder copy (librosa ``pitch_shift`` / ``time_stretch``, as augmentation makes
   them) fits and another take does not, both starting where the silence-trimmed original starts: **pitch**, the
   original tempo kept exactly (a pitch shift keeps the duration) with the shift searched, and **stretch**, the
   original pitch kept exactly with the tempo searched. They are scored on a third envelope, ``wide`` (512 ms
   windows on the coarse hop, floored 50 dB down): the phase vocoder smears a copy's short-time detail, which long
   windows average out, so a copy's pitch score rises (EmoDB medians from 0.89-0.92 on the coarse frames to
   0.95-0.96) while another recording's hardly moves. The stretch's tempo is read off the coarse frames, which
   tell a 10 % stretch from none better.

A pair scoring at least ``threshold`` (or a hypothesis holding) is a near-duplicate. Two takes of one sentence by one
speaker share hashes (they can be candidates) but no single shift and scale lines their frames up (their timing and
intonation differ from syllable to syllable), so they score well below a copy and are not flagged unless they truly
are one recording. The limits: the built-in corpus's takes and speakers come from one synthesiser (see the
thresholds' comments); a pair that only the profiles made a candidate is judged by the two hypotheses alone.

Measured with ``perf --duplicates`` (docs/leakage.md): recall 0.90-1.00 for pitch shifts of 1-4 semitones and
0.95-1.00 for stretches of 0.8-1.25 on EmoDB, no pair of different recordings reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

SR = 8000
N_FFT, HOP = 2048, 512  # the verified envelope: 256 ms windows average the phase vocoder's smearing out, 64 ms hop
PEAK_FFT, PEAK_HOP = 512, 128  # the peaks: 64 ms windows, 16 ms hop
WIDE_FFT = 4096  # the hypotheses' envelope: 512 ms windows on the coarse hop, which average the phase vocoder's
# smearing out further (16 copies of clips of both corpora: the tenth percentile of the pitch score rose from 0.89 on
# the coarse frames to 0.945, the best of the built-in corpus's worst takes from 0.86 to 0.88)
WIDE_FLOOR_DB = 50.0  # its floor: deeper than the coarse one's, so the quiet bands between harmonics count as
# evidence (with a 30 dB floor the same copies scored 0.01 lower and those takes 0.015 higher)
FMIN, FMAX = 150.0, 3600.0
BANDS_PER_SEMITONE = 2
FLOOR_DB = 30.0  # the spectrogram's floor under the clip's peak band: low-level noise does not reach it
LOUD_DB = 15.0  # frames this close to the loudest give the band means
THRESHOLD = 0.92  # the unwarped score (16 ms frames, no pitch shift or stretch) a copy reaches; other takes
# reach 0.89 on the built-in corpus, recordings of one sentence by one EmoDB speaker 0.69
WARPED_THRESHOLD = 0.91  # the warped score (64 ms frames, pitch and tempo searched): takes reach 0.90 on the
# built-in corpus, so only a copy warped little enough to keep its frames this close is found
PITCH_THRESHOLD = 0.92  # the pitch-hypothesis score (``wide`` frames, the tempo kept, a shift of a semitone or
# more): a librosa pitch-shifted copy keeps the original's timing, another take does not. Copies reach 0.93-0.94 at
# the tenth percentile (both corpora), EmoDB's other recordings of a sentence 0.75, the built-in corpus's takes
# 0.91; and the synthesiser's speakers differ by pitch and formant scale, which is what a pitch shift does: two of
# them saying one sentence reach 0.905 (default profile, 3.5 semitones apart), so the bar sits above that ...
SHORT_FRAMES = 25  # ... and for a clip shorter than this (coarse frames: 1.6 s), whose mean over fewer frames varies
SHORT_PITCH_THRESHOLD = 0.93  # more, this bar: two small-profile speakers (f02, f03, neutral, sentence 3: 19
# frames) reach 0.928 a semitone apart
STRETCH_THRESHOLD = 0.86  # the stretch-hypothesis score (coarse frames, the pitch kept, the tempo searched) ...
STRETCH_MARGIN = 0.04  # ... beating the best coarse score at the original tempo by this much: a stretched copy only
# lines up at its own tempo, while a take whose tempo differs a little lines up about as well at the original tempo
WIDE_STRETCH_THRESHOLD = 0.88  # or the ``wide`` score at that tempo (copies: 0.89-0.94 at the tenth percentile;
# the built-in corpus's takes 0.93, EmoDB's recordings of a sentence 0.67) ...
WIDE_STRETCH_MARGIN = 0.08  # ... with a larger margin: the built-in corpus's takes (one synthesiser, the tempo
# drawn anew) line up at a tempo 6-8 % off almost as a stretched copy does, 0.078 above the original tempo at most
HYPOTHESIS_OFFSET = 2.0  # coarse frames the two hypotheses search either side of the trimmed starts
MIN_PITCH_SHIFT = 2  # bands (one semitone): a smaller shift is a near-unwarped pair, judged by the other scores
MIN_LOG_STRETCH = 0.04  # the same for a stretch
UNWARPED_LOG_SCALE = 0.03
NEIGHBOURS = 8  # best-voted candidate partners kept per clip
PROFILE_NEIGHBOURS = 2  # nearest partners per clip by the long-term profile, a second candidate path: a 1.25-rate
# copy of an EmoDB clip is its original's nearest profile in 39 of 40 (second in the last), among the whole corpus
MIN_VOTES = 3  # matched triplets in one (shift, scale) cell for a pair to be a candidate
BUCKET_CAP = 64  # a hash held by more clips is uninformative: dropped from the index
MAX_SEMITONES = 4.5  # pitch shifts searched
MAX_LOG_SCALE = float(np.log(1.3))  # time scales searched: 1/1.3 .. 1.3
MIN_OVERLAP = 0.6  # share of the shorter clip the aligned overlap must cover
PEAKS_PER_SECOND = 30
PEAK_SIZE = (7, 9)  # (bands, frames) neighbourhood a peak is the maximum of
FAN_OUT = 4  # a triplet joins an anchor peak with two of the next FAN_OUT peaks
MAX_SPAN = 40  # peak frames (0.64 s) a triplet may span
RATIO_LEVELS = 8
SHIFT_CELL = 2  # bands per hash and vote cell (one semitone)
SCALE_CELL = 0.05  # log time scale per vote cell


@dataclass
class Fingerprint:
    """A clip's band-centred log-frequency envelope and its peak triplets.

    ``env`` is float32 (frames, bands) on the ``HOP`` grid, ``fine`` the same on the ``PEAK_HOP`` grid, ``wide``
    the same as ``env`` with ``WIDE_FFT`` windows and a ``WIDE_FLOOR_DB`` floor (the hypotheses'). ``triplets``
    is int64 (n, 6): the two band steps between the peaks, the middle peak's place in time between the outer two
    (per mille), the anchor's band, its time and the span (both in peak frames, ``PEAK_HOP``). ``profile`` is the
    float32 (bands,) long-term spectrum (the coarse bands' mean over the loud frames, minus its mean over bands),
    the second candidate path's descriptor; None for a fingerprint built by hand (that path skips it).
    """

    env: np.ndarray
    triplets: np.ndarray = field(repr=False)
    fine: np.ndarray = field(repr=False)
    wide: np.ndarray | None = field(repr=False, default=None)
    profile: np.ndarray | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.wide is None:  # a fingerprint built by hand: the hypotheses use the coarse envelope
            self.wide = self.env

    def __len__(self) -> int:
        return len(self.env)


@lru_cache(maxsize=4)
def _filterbank(n_fft: int) -> np.ndarray:
    """(fft bins, bands) triangles on a log-frequency axis, at least one FFT bin wide, each summing to one."""
    n_bands = int(np.floor(12 * BANDS_PER_SEMITONE * np.log2(FMAX / FMIN))) + 1
    centres = FMIN * 2.0 ** (np.arange(n_bands) / (12 * BANDS_PER_SEMITONE))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SR)
    width = np.maximum(centres * (2.0 ** (1 / (12 * BANDS_PER_SEMITONE)) - 1), SR / n_fft)
    weights = np.maximum(0.0, 1.0 - np.abs(freqs[:, None] - centres[None, :]) / width[None, :])
    return (weights / weights.sum(axis=0, keepdims=True)).astype(np.float32)


def _log_bands(y: np.ndarray, n_fft: int, hop: int, floor_db: float = FLOOR_DB) -> np.ndarray:
    """(bands, frames) log-frequency power in dB, floored ``floor_db`` under the clip's loudest band."""
    import librosa

    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    bands = _filterbank(n_fft).T @ power
    return 10 * np.log10(np.maximum(bands, 10 ** (-floor_db / 10) * max(float(bands.max()), 1e-20)))


def fingerprint(y: np.ndarray, sr: int) -> Fingerprint:
    """A clip's fingerprint: its log-frequency envelope (band-centred) and its peak triplets.

    Parameters
    ----------
    y : mono waveform.
    sr : its sample rate (resampled to 8 kHz here, so a resampled copy gives the same grid).

    Returns
    -------
    Fingerprint
        ``env`` has at least one frame; ``triplets`` may be empty (silence).
    """
    import librosa

    from features.audio import resample

    y = resample(np.asarray(y, dtype=np.float32), sr, SR)
    if y.size and np.abs(y).max() > 0:
        y, _ = librosa.effects.trim(y, top_db=40, frame_length=PEAK_FFT, hop_length=PEAK_HOP)
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    coarse, fine = _log_bands(y, N_FFT, HOP), _log_bands(y, PEAK_FFT, PEAK_HOP)
    # the same frame centres as ``coarse`` (a short clip padded to one window, its extra frames dropped)
    wide = _log_bands(np.pad(y, (0, max(0, WIDE_FFT - y.size))), WIDE_FFT, HOP, WIDE_FLOOR_DB)[:, : coarse.shape[1]]
    return Fingerprint(_centred(coarse), _triplets(fine), _centred(fine), _centred(wide), _profile(coarse))


def _loud_mean(db: np.ndarray) -> np.ndarray:
    """(bands, 1): each band's mean over the frames within ``LOUD_DB`` of the loudest."""
    level = db.mean(axis=0)
    loud = level >= level.max() - LOUD_DB
    return db[:, loud].mean(axis=1, keepdims=True)


def _centred(db: np.ndarray) -> np.ndarray:
    """(frames, bands), each band minus its mean over the loud frames: a gain or a flat channel change cancels, and
    the pauses a noisy copy fills do not move the means."""
    return np.ascontiguousarray((db - _loud_mean(db)).T, dtype=np.float32)


def _profile(db: np.ndarray) -> np.ndarray:
    """(bands,) the long-term spectrum: a time stretch leaves it nearly unchanged (the same spectra, longer or
    shorter), a pitch shift translates it along the bands, a gain is removed with the mean over bands."""
    mean = _loud_mean(db)[:, 0]
    return (mean - mean.mean()).astype(np.float32)


def _triplets(db: np.ndarray) -> np.ndarray:
    """Panako-style triplets of the strongest spectral peaks (smoothed 3 x 3: steadier under noise and the phase
    vocoder), each anchor joined with two of its next ``FAN_OUT`` peaks within ``MAX_SPAN`` frames."""
    from scipy.ndimage import maximum_filter, uniform_filter

    db = uniform_filter(db, size=3, mode="nearest")
    floor = db.min()
    is_peak = (db == maximum_filter(db, size=PEAK_SIZE, mode="constant", cval=floor)) & (db > floor + 6.0)
    band, time = np.nonzero(is_peak)
    keep = int(np.ceil(PEAKS_PER_SECOND * db.shape[1] * PEAK_HOP / SR))
    if len(band) > keep:  # the strongest peaks: the ones noise leaves in place
        top = np.argsort(-db[band, time], kind="stable")[:keep]
        band, time = band[top], time[top]
    order = np.lexsort((band, time))
    band, time = band[order].astype(np.int64), time[order].astype(np.int64)
    n = len(band)
    rows = []
    for a in range(n):
        later = [b for b in range(a + 1, min(n, a + 1 + 4 * FAN_OUT))
                 if time[a] < time[b] <= time[a] + MAX_SPAN][:FAN_OUT]
        for x in range(len(later)):
            for z in range(x + 1, len(later)):
                b, c = later[x], later[z]
                ratio = int(1000 * (time[b] - time[a]) / (time[c] - time[a]))
                rows.append((band[b] - band[a], band[c] - band[b], ratio, band[a], time[a], time[c] - time[a]))
    return np.array(rows, dtype=np.int64).reshape(-1, 6)


def _codes(t: np.ndarray, probe: bool) -> tuple[np.ndarray, np.ndarray]:
    """Hash codes of triplets and the row each came from. The index stores one code per triplet (band steps in
    semitone cells, the time ratio in ``RATIO_LEVELS`` cells); a probe asks for every cell within a band and half a
    ratio cell, so a peak moved by one band or a frame still matches."""
    x = t[:, 2] * RATIO_LEVELS / 1000.0
    if probe:
        d1 = [np.floor_divide(t[:, 0] + e, SHIFT_CELL) for e in (-1, 1)]
        d2 = [np.floor_divide(t[:, 1] + e, SHIFT_CELL) for e in (-1, 1)]
        rr = [np.clip(np.floor(x + e), 0, RATIO_LEVELS - 1).astype(np.int64) for e in (-0.5, 0.5)]
    else:
        d1, d2 = [np.floor_divide(t[:, 0], SHIFT_CELL)], [np.floor_divide(t[:, 1], SHIFT_CELL)]
        rr = [np.minimum(np.floor(x), RATIO_LEVELS - 1).astype(np.int64)]
    codes, rows = [], []
    for a in d1:
        for b in d2:
            for r in rr:
                codes.append(((a + 512) * 1024 + (b + 512)) * RATIO_LEVELS + r)
                rows.append(np.arange(len(t)))
    code, row = np.concatenate(codes), np.concatenate(rows)
    unique = np.unique(np.stack([row, code]), axis=1) if len(code) else np.zeros((2, 0), np.int64)
    return unique[1], unique[0]


@dataclass(frozen=True)
class Pair:
    """A reported pair: its score (the unwarped one if it reached ``THRESHOLD``, else the warped one), and the
    alignment found (b's pitch against a's in semitones, b's duration against a's)."""

    i: int
    j: int
    score: float
    warped: bool = False
    semitones: float = 0.0
    stretch: float = 1.0


@dataclass(frozen=True)
class Match:
    """A verified candidate: the unwarped score (16 ms frames, no shift, scale within 3 %), the warped score (64 ms
    frames, shift and scale searched) and the warped alignment; then the two hypotheses a phase-vocoder copy
    fits and another take does not: ``pitch`` (``wide`` frames, the tempo kept exactly, any shift: ``pitch_shift``;
    ``frames`` is the shorter clip's length in coarse frames) and ``stretch`` (coarse frames, the pitch kept exactly,
    any tempo: ``stretch_log_scale``), with ``kept``, the best coarse score at the original tempo (any shift), and
    ``wide_stretch``, the ``wide`` score at the stretch's tempo."""

    unwarped: float
    warped: float
    shift: int
    log_scale: float
    pitch: float = -1.0
    pitch_shift: int = 0
    frames: int = 0
    stretch: float = -1.0
    stretch_log_scale: float = 0.0
    kept: float = -1.0
    wide_stretch: float = -1.0

    def is_pitch_shifted(self) -> bool:
        """The pitch hypothesis holds: a shift of a semitone or more at the original tempo lines the frames up."""
        bar = PITCH_THRESHOLD if self.frames >= SHORT_FRAMES else SHORT_PITCH_THRESHOLD
        return abs(self.pitch_shift) >= MIN_PITCH_SHIFT and self.pitch >= bar

    def is_stretched(self) -> bool:
        """The stretch hypothesis holds: one tempo change (5 % or more) at the original pitch lines the frames up,
        clearly better than the original tempo does (coarse frames; or ``wide`` ones with a larger margin)."""
        if abs(self.stretch_log_scale) < MIN_LOG_STRETCH:
            return False
        return self._coarse_stretch_holds() or (self.wide_stretch >= WIDE_STRETCH_THRESHOLD
                                                and self.stretch - self.kept >= WIDE_STRETCH_MARGIN)

    def _coarse_stretch_holds(self) -> bool:
        return self.stretch >= STRETCH_THRESHOLD and self.stretch - self.kept >= STRETCH_MARGIN

    def stretch_score(self) -> float:
        """The stretch hypothesis's evidence: the coarse score if it holds there, else the ``wide`` one."""
        return self.stretch if self._coarse_stretch_holds() else self.wide_stretch

    def is_copy(self, threshold: float = THRESHOLD, warped_threshold: float = WARPED_THRESHOLD) -> bool:
        return (self.unwarped >= threshold or self.warped >= warped_threshold or self.is_pitch_shifted()
                or self.is_stretched())

    @property
    def score(self) -> float:
        """The evidence: the unwarped score when it says copy, else the score of the hypothesis that holds, else
        the best warped score."""
        if self.unwarped >= THRESHOLD:
            return self.unwarped
        if self.warped >= WARPED_THRESHOLD:
            return self.warped
        if self.is_pitch_shifted():
            return self.pitch
        if self.is_stretched():
            return self.stretch_score()
        return max(self.warped, self.unwarped)

    @property
    def alignment(self) -> tuple[int, float]:
        """(shift in bands, log scale) of the evidence: b's band k on a's k + shift, b's frame j on a's scale * j."""
        if self.unwarped < THRESHOLD and self.warped < WARPED_THRESHOLD:
            if self.is_pitch_shifted():
                return self.pitch_shift, 0.0
            if self.is_stretched():
                return 0, self.stretch_log_scale
        return self.shift, self.log_scale


@dataclass
class Candidates:
    """The candidate step's output: per pair (i < j) its best vote cells (shift, log-scale, offset) and votes."""

    cells: dict[tuple[int, int], list[tuple[int, float, float]]]
    votes: dict[tuple[int, int], int]


def _matches(fps: Sequence[Fingerprint], cap: int = BUCKET_CAP):
    """Every probe of clip a meeting an index entry of clip b != a: (a, b, shift, log-scale, time in a, time in b),
    with a's band = b's band + shift and a's peak frame = scale * b's + offset."""
    index, probes = [], []
    for k, f in enumerate(fps):
        t = f.triplets
        if not len(t):
            continue
        for store, is_probe in ((index, False), (probes, True)):
            code, row = _codes(t, is_probe)
            store.append((code, np.full(len(code), k, np.int64), t[row, 3], t[row, 4], t[row, 5]))
    if not index:
        return None
    code, clip, band, time, span = (np.concatenate(x) for x in zip(*index, strict=True))
    order = np.lexsort((clip, code))
    code, clip, band, time, span = code[order], clip[order], band[order], time[order], span[order]
    # clips per hash: a hash in more than ``cap`` clips is dropped (a stop word: it would cost cap^2 pairs)
    first = np.r_[True, (code[1:] != code[:-1]) | (clip[1:] != clip[:-1])]
    group = np.cumsum(np.r_[True, code[1:] != code[:-1]]) - 1
    keep = np.bincount(group, weights=first)[group] <= cap
    code, clip, band, time, span = code[keep], clip[keep], band[keep], time[keep], span[keep]
    p_code, p_clip, p_band, p_time, p_span = (np.concatenate(x) for x in zip(*probes, strict=True))
    lo, hi = np.searchsorted(code, p_code, "left"), np.searchsorted(code, p_code, "right")
    sizes = hi - lo
    probe = np.repeat(np.arange(len(p_code)), sizes)
    entry = np.repeat(lo - np.cumsum(np.r_[0, sizes[:-1]]), sizes) + np.arange(int(sizes.sum()))
    other = clip[entry] != p_clip[probe]
    probe, entry = probe[other], entry[other]
    return (p_clip[probe], clip[entry], p_band[probe] - band[entry],
            np.log(p_span[probe] / span[entry]), p_time[probe].astype(np.float64), time[entry].astype(np.float64))


def profile_neighbours(fps: Sequence[Fingerprint], k: int = PROFILE_NEIGHBOURS) -> set[tuple[int, int]]:
    """The second candidate path: each clip's ``k`` nearest partners by the long-term profile, compared over the
    pitch shifts the hypotheses search (a ball tree on the profiles' middle bands, queried with every shifted
    crop of each clip's; no pair matrix is built).

    Parameters
    ----------
    fps : one :func:`fingerprint` per clip; those without a ``profile`` are left out.
    k : partners kept per clip (so at most ``len(fps) * k`` pairs).

    Returns
    -------
    set of (i, j)
        Pairs with i < j.
    """
    from sklearn.neighbors import NearestNeighbors

    have = [i for i, f in enumerate(fps) if f.profile is not None]
    if k < 1 or len(have) < 2:
        return set()
    profiles = np.stack([fps[i].profile for i in have]).astype(np.float64)
    margin = int(MAX_SEMITONES * BANDS_PER_SEMITONE)
    n_bands = profiles.shape[1]
    if n_bands <= 2 * margin + 4:
        return set()

    def crop(shift: int) -> np.ndarray:
        # a unit vector per clip, its mean removed: euclidean distance ranks as the cosine does
        x = profiles[:, margin + shift: n_bands - margin + shift]
        x = x - x.mean(axis=1, keepdims=True)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    tree = NearestNeighbors(n_neighbors=min(k + 1, len(have)), algorithm="ball_tree").fit(crop(0))
    best: dict[tuple[int, int], float] = {}  # (query, partner) -> nearest distance over the shifts
    for shift in range(-margin, margin + 1):
        distance, index = tree.kneighbors(crop(shift))
        for q in range(len(have)):
            for d, r in zip(distance[q], index[q], strict=True):
                if r != q and d < best.get((q, int(r)), np.inf):
                    best[(q, int(r))] = float(d)
    by_query: dict[int, list[tuple[float, int]]] = {}
    for (q, r), d in best.items():
        by_query.setdefault(q, []).append((d, r))
    pairs = set()
    for q, lst in by_query.items():
        for _, r in sorted(lst)[:k]:
            a, b = have[q], have[r]
            pairs.add((min(a, b), max(a, b)))
    return pairs


def candidates(fps: Sequence[Fingerprint], neighbours: int = NEIGHBOURS, min_votes: int = MIN_VOTES,
               cap: int = BUCKET_CAP, profile_k: int = PROFILE_NEIGHBOURS) -> Candidates:
    """Candidate pairs from the hash index: votes per (shift, scale) cell, each clip's best-voted partners; then
    each clip's ``profile_k`` nearest partners by the long-term profile (:func:`profile_neighbours`).

    Parameters
    ----------
    fps : one :func:`fingerprint` per clip.
    neighbours : partners kept per clip (so at most ``len(fps) * neighbours`` pairs).
    min_votes : matched triplets a pair needs in its best cell.
    cap : hashes held by more clips are dropped.
    profile_k : nearest partners by profile added per clip (0: none).

    Returns
    -------
    Candidates
        Pairs (i < j) with their best cells; a pair only the profile path found has no cells (and 0 votes):
        :func:`verify` then scores its two hypotheses alone.
    """
    voted = _voted(fps, neighbours, min_votes, cap)
    for pair in profile_neighbours(fps, profile_k):
        if pair not in voted.cells:
            voted.cells[pair] = []
            voted.votes[pair] = 0
    return voted


def _voted(fps: Sequence[Fingerprint], neighbours: int, min_votes: int, cap: int) -> Candidates:
    """The hash-vote candidates (see :func:`candidates`)."""
    found = _matches(fps, cap)
    if found is None:
        return Candidates({}, {})
    ca, cb, shift, log_scale, ta, tb = found
    swap = ca > cb  # each pair once, as (lower, higher): the alignment read the other way round
    ca, cb = np.where(swap, cb, ca), np.where(swap, ca, cb)
    shift, log_scale = np.where(swap, -shift, shift), np.where(swap, -log_scale, log_scale)
    ta, tb = np.where(swap, tb, ta), np.where(swap, ta, tb)
    max_shift = MAX_SEMITONES * BANDS_PER_SEMITONE + SHIFT_CELL
    ok = (np.abs(shift) <= max_shift) & (np.abs(log_scale) <= MAX_LOG_SCALE + SCALE_CELL)
    ca, cb, shift, log_scale, ta, tb = ca[ok], cb[ok], shift[ok], log_scale[ok], ta[ok], tb[ok]
    s_cell = np.floor_divide(shift, SHIFT_CELL)
    r_cell = np.floor(log_scale / SCALE_CELL).astype(np.int64)
    n = len(fps)
    key = ((ca * n + cb) * 64 + (s_cell + 32)) * 64 + (r_cell + 32)
    cells, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    pair_of_cell = cells // (64 * 64)
    best: dict[tuple[int, int], list[int]] = {}
    for c in np.argsort(-counts, kind="stable"):  # cells by votes, most first
        if counts[c] < min_votes:
            break
        p = int(pair_of_cell[c])
        best.setdefault((p // n, p % n), []).append(int(c))
    votes = {pair: int(counts[cs[0]]) for pair, cs in best.items()}
    partners: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for pair, v in votes.items():
        for k in pair:
            partners.setdefault(k, []).append((v, pair))
    chosen = set()
    for lst in partners.values():
        lst.sort(key=lambda t: (-t[0], t[1]))
        chosen.update(pair for _, pair in lst[:neighbours])
    by_cell = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    out: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
    for pair in sorted(chosen):
        for c in best[pair][:2]:  # a copy's votes may straddle two cells
            members = by_cell[bounds[c]:bounds[c + 1]]
            s = int(s_cell[members][0]) * SHIFT_CELL
            lr = float(np.median(log_scale[members]))
            offset = float(np.median(ta[members] - np.exp(lr) * tb[members]))  # peak frames
            out.setdefault(pair, []).append((s, lr, offset))
    return Candidates(out, {pair: votes[pair] for pair in out})


def _aligned_score(a: np.ndarray, b: np.ndarray, shift: int, log_scales: np.ndarray, offsets: np.ndarray
                   ) -> tuple[float, int]:
    """Best mean frame cosine of a (frames, bands) and b, b's band k on a's band k + shift, b's frame j on a's
    frame exp(log_scale) * j + offset, over the scales and offsets given; and the index of the best scale."""
    n_bands = a.shape[1]
    if abs(shift) >= n_bands - 4:
        return -1.0, 0
    ap = a[:, shift:] if shift >= 0 else a[:, : n_bands + shift]
    bp = b[:, : n_bands - shift] if shift >= 0 else b[:, -shift:]
    ap = ap / np.maximum(np.linalg.norm(ap, axis=1, keepdims=True), 1e-9)
    bp = bp / np.maximum(np.linalg.norm(bp, axis=1, keepdims=True), 1e-9)
    sim = ap @ bp.T  # (frames of a, frames of b)
    na, nb = sim.shape
    flat = np.append(sim.ravel(), np.float32(0.0))  # one zero past the end: where invalid frames point
    j = np.arange(nb, dtype=np.float32)
    scales = np.exp(log_scales).astype(np.float32)
    pos = scales[:, None, None] * j[None, None, :] + offsets.astype(np.float32)[None, :, None]
    valid = (pos >= 0) & (pos <= na - 1)  # (scales, offsets, frames of b)
    lo = np.floor(pos)
    w = pos - lo
    lo = lo.astype(np.int64)
    index = np.where(valid, lo * nb + np.arange(nb), na * nb)
    upper = np.where(valid & (lo < na - 1), index + nb, na * nb)
    values = (1 - w) * flat[index] + w * flat[upper]
    count = valid.sum(axis=2)
    need = np.ceil(MIN_OVERLAP * np.minimum(nb, na / scales))[:, None]
    mean = np.where(count >= np.maximum(need, 1), values.sum(axis=2) / np.maximum(count, 1), -1.0)
    best = int(np.argmax(mean))
    return float(mean.flat[best]), best // mean.shape[1]


def verify(a: Fingerprint, b: Fingerprint, cells: Sequence[tuple[int, float, float]]) -> Match:
    """The pair's scores, searched around each voted (shift, log-scale, offset in peak frames) cell; with no cells
    (a profile candidate) the unwarped and warped scores stay -1 and the hypotheses alone decide.

    Returns
    -------
    Match
        Its unwarped and warped scores and the warped alignment.
    """
    warped, best_shift, best_scale = -1.0, 0, 0.0
    unwarped = -1.0
    steps = np.linspace(-0.03, 0.03, 11)
    for shift, log_scale, offset in cells:
        offsets = offset * PEAK_HOP / HOP + np.arange(-6.0, 6.5, 0.5)
        for s in range(shift - 1, shift + SHIFT_CELL + 1):
            score, k = _aligned_score(a.env, b.env, s, log_scale + steps, offsets)
            if score > warped:
                warped, best_shift, best_scale = score, s, float(log_scale + steps[k])
        # unwarped: the fine frames, the same pitch and tempo (a copy re-encoded, resampled, trimmed or noised)
        if abs(shift) > SHIFT_CELL or abs(log_scale) > 2 * SCALE_CELL:
            continue
        fine_offsets = offset + np.arange(-8.0, 8.5, 0.5)
        for s in (-1, 0, 1):
            fine_scales = np.linspace(-UNWARPED_LOG_SCALE, UNWARPED_LOG_SCALE, 7)
            unwarped = max(unwarped, _aligned_score(a.fine, b.fine, s, fine_scales, fine_offsets)[0])
    # The two hypotheses, searched over the whole range rather than around the voted cells: the phase vocoder
    # breaks many peaks, so a copy's votes are few and its cell is often off. Offsets within 2 frames (128 ms):
    # a whole-clip copy starts where the original does once both are silence-trimmed (within a frame on both
    # corpora; 6 frames found the same copies and let another speaker's sentence line up with a trimmed copy).
    offsets = np.arange(-HYPOTHESIS_OFFSET, HYPOTHESIS_OFFSET + 0.5, 0.5)
    pitch, pitch_shift, kept = -1.0, 0, -1.0
    max_shift = int(MAX_SEMITONES * BANDS_PER_SEMITONE)
    tempo_kept = np.array([-0.01, 0.0, 0.01])  # within 1 %: the coarse frames' rounding
    for s in range(-max_shift, max_shift + 1):
        score, _ = _aligned_score(a.wide, b.wide, s, tempo_kept, offsets)
        if score > pitch:
            pitch, pitch_shift = score, s
        kept = max(kept, _aligned_score(a.env, b.env, s, tempo_kept, offsets)[0])
    # the tempo is read off the coarse frames (the wide ones, 512 ms long, hardly tell a 10 % stretch from none),
    # then the wide frames score it within 2 %
    stretch_scales = np.linspace(-MAX_LOG_SCALE, MAX_LOG_SCALE, 27)  # steps of 2 %
    stretch, k = _aligned_score(a.env, b.env, 0, stretch_scales, offsets)  # the pitch kept
    log_scale = float(stretch_scales[k])
    wide_stretch, _ = _aligned_score(a.wide, b.wide, 0, log_scale + np.linspace(-0.02, 0.02, 5), offsets)
    return Match(unwarped, warped, best_shift, best_scale, pitch, pitch_shift, min(len(a), len(b)), stretch, log_scale,
                 kept, wide_stretch)


def match_score(a: Fingerprint, b: Fingerprint) -> Match:
    """The verified scores of two fingerprints, as the search computes them for a candidate pair.

    Returns
    -------
    Match
        Scores in [-1, 1]; near 1 for a copy, lower for another take; -1 when the two share no voted alignment.
    """
    found = candidates([a, b], neighbours=1, min_votes=1, profile_k=0)
    cells = found.cells.get((0, 1))
    return verify(a, b, cells) if cells else Match(-1.0, -1.0, 0, 0.0)


@dataclass
class SearchStats:
    """What the search did: clips, candidate pairs verified, pairs reported."""

    clips: int = 0
    verified: int = 0
    reported: int = 0


def near_duplicates(fps: Sequence[Fingerprint], threshold: float = THRESHOLD, neighbours: int = NEIGHBOURS,
                    exclude: set[tuple[int, int]] | None = None, stats: SearchStats | None = None,
                    warped_threshold: float = WARPED_THRESHOLD) -> list[Pair]:
    """Pairs (i < j) of fingerprints scoring at least ``threshold``: candidates from the hash index, then verified.

    Parameters
    ----------
    fps : one :func:`fingerprint` per clip.
    threshold : the unwarped score a near-duplicate reaches.
    neighbours : candidate partners kept per clip.
    exclude : pairs not to report (e.g. exact duplicates, already reported).
    stats : filled in with the number of pairs verified (at most ``len(fps) * neighbours``).
    warped_threshold : the warped score (pitch and tempo searched) a near-duplicate reaches otherwise.

    Returns
    -------
    list of Pair
        Sorted by score, highest first.
    """
    stats = stats if stats is not None else SearchStats()
    stats.clips = len(fps)
    if len(fps) < 2:
        return []
    found = candidates(fps, neighbours)
    pairs = []
    for (i, j), cells in found.cells.items():
        if exclude and (i, j) in exclude:
            continue
        stats.verified += 1
        match = verify(fps[i], fps[j], cells)
        if match.is_copy(threshold, warped_threshold):
            warped = match.unwarped < threshold
            fired = match.unwarped if not warped else (
                match.warped if match.warped >= warped_threshold else match.score)
            shift, log_scale = match.alignment if warped else (0, 0.0)
            pairs.append(Pair(i, j, round(fired, 4), warped,
                              round(-shift / BANDS_PER_SEMITONE, 1) if warped else 0.0,
                              round(float(np.exp(-log_scale)), 3) if warped else 1.0))
    stats.reported = len(pairs)
    return sorted(pairs, key=lambda p: (-p.score, p.i, p.j))


def fingerprint_files(paths: Sequence[str], jobs: int = 1) -> list[Fingerprint | None]:
    """Each file's fingerprint (None for a file that cannot be decoded: the extraction reports it)."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=max(1, jobs))(delayed(_one)(str(p)) for p in paths)


def _one(path: str) -> Fingerprint | None:
    from features.audio import AudioError, read_native

    try:
        y, sr = read_native(path)
    except AudioError:
        return None
    return fingerprint(y, sr)


def audit_near_duplicates(table, folds: dict, envelopes: Sequence[Fingerprint | None],
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
    pairs = [Pair(keep[p.i], keep[p.j], p.score, p.warped, p.semitones, p.stretch) for p in local]
    across_folds = {}
    for protocol, fold_list in folds.items():
        count = 0
        for fold in fold_list:
            test, train = set(fold.test.tolist()), set(fold.train.tolist())
            count += sum(1 for p in pairs if (p.i in test and p.j in train) or (p.j in test and p.i in train))
        across_folds[protocol] = count
    return {"threshold": threshold, "warped_threshold": WARPED_THRESHOLD, "pitch_threshold": PITCH_THRESHOLD,
            "short_pitch_threshold": SHORT_PITCH_THRESHOLD,
            "stretch_threshold": STRETCH_THRESHOLD, "wide_stretch_threshold": WIDE_STRETCH_THRESHOLD,
            "pairs": [{"a": paths[p.i], "b": paths[p.j], "score": p.score, "warped": p.warped,
                       "semitones": p.semitones, "stretch": p.stretch,
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
            f"{len(section['pairs'])} near-duplicate pair(s) (score >= {threshold}, or >= {WARPED_THRESHOLD} "
            f"pitch- or tempo-warped, or a pitch-shift or stretch hypothesis holding; re-encoded, resampled, trimmed, "
            f"gain-changed, noised, pitch-shifted or time-stretched copies), {section['across_corpora']} across "
            f"corpora; pair-folds across train/test: {crossing}")
    return section
