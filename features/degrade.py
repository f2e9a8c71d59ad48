"""Recording conditions: pure, seeded degradations of a waveform, and the measurements that check them.

Every function takes a mono float waveform and explicit parameters (a ``numpy.random.Generator`` where chance
enters) and returns a new float32 waveform of the same length, so that a degraded clip lines up with its clean
original and one seed gives one result. The conditions a run applies are :class:`Condition` values; the CLI
parses their names (``white@10``, ``telephone``, ``reverb@0.6``), the library takes the typed values.

What each condition models, and the choices behind it:

- additive noise (white, pink, babble) scaled to an SNR measured over the whole clip (speech power over noise
  power, both over every sample);
- a telephone channel: band-pass 300-3400 Hz, resampled to 8 kHz, G.711 mu-law (8 bits) encoded and decoded,
  resampled back: nothing above 4 kHz survives;
- lossy codecs written and read back by the installed libsndfile (MP3, Ogg Opus, Ogg Vorbis) at a strong
  compression level; which are available is asked of libsndfile at run time (:func:`available_codecs`);
- reverberation by a synthetic room impulse response: a direct path followed by exponentially decaying Gaussian
  noise whose energy falls by 60 dB in RT60 seconds (Schroeder's statistical model of a diffuse late field);
- a level change (gain in dB, no clipping: audio stays float) and hard clipping at a stated share of the peak.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import UserInputError

NOISE_KINDS = ("white", "pink", "babble")
KINDS = (*NOISE_KINDS, "telephone", "codec", "reverb", "level", "clip")
CODECS = {  # name -> (libsndfile format, subtype)
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
    "vorbis": ("OGG", "VORBIS"),
}
# libsndfile's compression level per codec, 0 (best quality) .. 1 (smallest file): each a low bitrate. On
# two-second 16 kHz speech MP3 at 0.9 writes about 24 kbit/s and Vorbis about 37. Opus at 1.0 writes about
# 10 kbit/s, a low-bandwidth VoIP call; at 0.9 (about 31 kbit/s, near transparent for speech) its encoder, which
# libsndfile runs at the highest complexity with no setting for it, cost twice as much per clip (117 against
# 64 ms, `perf --degrade`), the dearest condition of a robustness run by far.
CODEC_COMPRESSION = {"mp3": 0.9, "opus": 1.0, "vorbis": 0.9}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
TELEPHONE_RATE = 8000
TELEPHONE_BAND = (300.0, 3400.0)
BABBLE_TALKERS = 4
EPS = 1e-12


class ConditionError(UserInputError):
    """A recording condition that cannot be built; the message names it."""


@dataclass(frozen=True)
class Condition:
    """One recording condition: its kind and its single parameter.

    ``value`` is the SNR in dB (white, pink, babble), RT60 in seconds (reverb), gain in dB (level), the clipping
    threshold as a share of the clip's peak (clip) or the codec's name (codec); telephone has none.
    """

    kind: str
    value: float | str | None = None

    @property
    def name(self) -> str:
        if self.kind == "telephone":
            return "telephone"
        if self.kind == "codec":
            return str(self.value)
        return f"{self.kind}@{_number(self.value)}"

    @property
    def snr_db(self) -> float | None:
        return float(self.value) if self.kind in NOISE_KINDS else None

    def params(self) -> dict:
        """What is recorded in run.json: every parameter that decides the degradation."""
        p: dict = {"kind": self.kind}
        if self.kind in NOISE_KINDS:
            p.update(snr_db=float(self.value), measured_over="whole clip")
            if self.kind == "babble":
                p.update(talkers=BABBLE_TALKERS, sources="training-fold clips of other speakers")
        elif self.kind == "telephone":
            p.update(band_hz=list(TELEPHONE_BAND), rate_hz=TELEPHONE_RATE, companding="G.711 mu-law, 8 bit")
        elif self.kind == "codec":
            fmt, subtype = CODECS[str(self.value)]
            p.update(format=fmt, subtype=subtype, compression_level=CODEC_COMPRESSION[str(self.value)])
        elif self.kind == "reverb":
            p.update(rt60_s=float(self.value), model="direct path + exponentially decaying Gaussian noise")
        elif self.kind == "level":
            p.update(gain_db=float(self.value))
        elif self.kind == "clip":
            p.update(threshold_of_peak=float(self.value))
        return p

    def validate(self) -> Condition:
        if self.kind not in KINDS:
            raise ConditionError(f"condition {self.name!r}: unknown kind; choose from {', '.join(KINDS)}")
        if self.kind == "codec":
            if self.value not in CODECS:
                raise ConditionError(f"condition {self.value!r}: unknown codec; choose from {', '.join(CODECS)}")
            if self.value not in available_codecs():
                raise ConditionError(f"condition {self.value!r}: the installed libsndfile cannot write it "
                                     f"(available: {', '.join(available_codecs()) or 'none'})")
        elif self.kind == "telephone":
            if self.value is not None:
                raise ConditionError("condition 'telephone' takes no parameter")
        else:
            if not isinstance(self.value, int | float) or not np.isfinite(self.value):
                raise ConditionError(f"condition {self.kind!r} needs a number, e.g. {self.kind}@10")
            if self.kind == "reverb" and not 0.05 <= float(self.value) <= 5.0:
                raise ConditionError(f"condition {self.name!r}: RT60 must lie between 0.05 and 5 s")
            if self.kind == "clip" and not 0.0 < float(self.value) < 1.0:
                raise ConditionError(f"condition {self.name!r}: the threshold is a share of the peak, in (0, 1)")
            if self.kind in NOISE_KINDS and not -30.0 <= float(self.value) <= 60.0:
                raise ConditionError(f"condition {self.name!r}: SNR must lie between -30 and 60 dB")
        return self


def condition_from_name(name: str) -> Condition:
    """The condition a name spells: ``white@10``, ``pink@0``, ``babble@5``, ``telephone``, ``mp3``, ``opus``,
    ``vorbis``, ``reverb@0.6``, ``level@-20``, ``clip@0.3`` (``db`` and ``s`` suffixes allowed).

    Raises
    ------
    ConditionError
        A name that is no condition, a missing or non-numeric parameter, or one out of range; the message names it.

    Examples
    --------
    >>> condition_from_name("white@10").params()["snr_db"]
    10.0
    >>> condition_from_name("reverb@0.6s").name
    'reverb@0.6'
    """
    name = name.strip().lower()
    if name in CODECS:
        return Condition("codec", name).validate()
    if name == "telephone":
        return Condition("telephone").validate()
    kind, _, value = name.partition("@")
    if kind not in KINDS or kind == "codec":
        named = ", ".join(k for k in KINDS if k != "codec")
        raise ConditionError(f"condition {name}: unknown kind; choose from {named} (codecs by name alone: "
                             f"{', '.join(CODECS)})")
    if not value:
        raise ConditionError(f"condition {name}: give a parameter, e.g. {kind}@10")
    try:
        number = float(value.removesuffix("db").removesuffix("s"))
    except ValueError:
        raise ConditionError(f"condition {name}: {value!r} is not a number") from None
    return Condition(kind, number).validate()


def _number(value) -> str:
    return f"{float(value):g}"


def condition_seed(seed: int, condition: Condition, clip_id: str, extra: str = "") -> np.random.Generator:
    """The generator of one clip under one condition: the same (seed, condition, clip) always draws the same."""
    digest = hashlib.blake2b(f"{seed}|{condition.name}|{clip_id}|{extra}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


# --- noise ----------------------------------------------------------------------------------------------------

def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise of ``n`` samples, unit variance."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise of ``n`` samples, unit variance: white noise shaped by 1/sqrt(f) in frequency."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=float)
    f[0] = 1.0  # keep DC finite; it is removed below
    spectrum /= np.sqrt(f)
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x / (x.std() + EPS)


def babble_noise(sources: Sequence[np.ndarray], n: int, rng: np.random.Generator,
                 talkers: int = BABBLE_TALKERS) -> np.ndarray:
    """Babble of ``n`` samples: ``talkers`` speech excerpts, each at unit RMS, summed.

    Talker ``i`` is ``sources[i % len(sources)]`` from a random start, looped when shorter than ``n``; give one
    clip per talker (of distinct speakers) for a crowd of distinct voices. The caller chooses the sources (in a
    run: training-fold clips of speakers other than the clip's own, never a test speaker's).

    Raises
    ------
    ConditionError
        When no source is given or every source is silent.
    """
    usable = [np.asarray(s, dtype=np.float64) for s in sources if len(s) and np.any(s)]
    if not usable:
        raise ConditionError("babble: no non-silent source clip to build it from")
    out = np.zeros(n)
    for i in range(talkers):
        src = usable[i % len(usable)]
        start = int(rng.integers(len(src)))
        piece = np.resize(np.roll(src, -start), n)
        out += piece / (np.sqrt(np.mean(piece ** 2)) + EPS)
    return out


def add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``y`` plus ``noise`` scaled so that power(y) / power(scaled noise) is ``snr_db`` (over the whole clip).

    Parameters
    ----------
    y : clean waveform.
    noise : noise of the same length (any scale).
    snr_db : target signal-to-noise ratio in dB.

    Returns
    -------
    np.ndarray
        float32, same length as ``y``. A silent ``y`` is returned unchanged (no SNR is defined).
    """
    y = np.asarray(y, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != y.shape:
        raise ValueError(f"noise of shape {noise.shape} for a clip of shape {y.shape}")
    p_signal, p_noise = np.mean(y ** 2), np.mean(noise ** 2)
    if p_signal <= EPS or p_noise <= EPS:
        return y.astype(np.float32)
    gain = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (y + gain * noise).astype(np.float32)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The SNR of ``noisy`` against its clean original, in dB (whole clip)."""
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noisy, dtype=np.float64) - clean
    return float(10 * np.log10(np.mean(clean ** 2) / max(np.mean(noise ** 2), EPS)))


# --- channel --------------------------------------------------------------------------------------------------

def mu_law_round_trip(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """G.711-style mu-law companding: compress, quantise to ``bits`` bits, expand. Input in [-1, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    levels = 2 ** (bits - 1) - 1
    quantised = np.round(compressed * levels) / levels
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu


def telephone(y: np.ndarray, sr: int) -> np.ndarray:
    """A narrow-band telephone channel: 300-3400 Hz band-pass, 8 kHz, G.711 mu-law, back at ``sr``.

    The clip is scaled to a peak of 0.9 before companding (a phone's automatic gain) and back after, so the level
    is kept and mu-law's range is used as a codec would.
    """
    from scipy.signal import butter, sosfiltfilt

    from .audio import resample

    y = np.asarray(y, dtype=np.float64)
    low, high = TELEPHONE_BAND
    sos = butter(8, [low, min(high, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
    band = sosfiltfilt(sos, y)
    narrow = resample(band.astype(np.float32), sr, TELEPHONE_RATE).astype(np.float64)
    peak = np.abs(narrow).max()
    scale = 0.9 / peak if peak > EPS else 1.0
    coded = mu_law_round_trip(narrow * scale) / scale
    # The decoder's own band-pass: quantisation noise outside the channel's band is not sent on.
    coded = sosfiltfilt(butter(8, [low, high], btype="bandpass", fs=TELEPHONE_RATE, output="sos"), coded)
    back = resample(coded.astype(np.float32), TELEPHONE_RATE, sr)
    return _fit_length(back, len(y))


def available_codecs() -> list[str]:
    """The lossy codecs the installed libsndfile can write, among :data:`CODECS`."""
    import soundfile as sf

    formats = sf.available_formats()
    out = []
    for name, (fmt, subtype) in CODECS.items():
        if fmt in formats and subtype in sf.available_subtypes(fmt):
            out.append(name)
    return out


def codec_round_trip(y: np.ndarray, sr: int, codec: str,
                     compression: float | None = None) -> tuple[np.ndarray, float]:
    """Encode ``y`` with libsndfile's ``codec`` (mp3, opus, vorbis) in memory and decode it again.

    ``compression`` is libsndfile's level, 0 (best quality) .. 1 (smallest file); by default the codec's entry of
    :data:`CODEC_COMPRESSION`.

    Returns
    -------
    (np.ndarray, float)
        The decoded waveform at ``sr`` (float32, same length, codec delay removed by cross-correlation) and the
        bitrate actually written in kbit/s.
    """
    import soundfile as sf

    from .audio import resample

    fmt, subtype = CODECS[codec]
    compression = CODEC_COMPRESSION[codec] if compression is None else compression
    y = np.asarray(y, dtype=np.float32)
    rate = sr
    if codec == "opus" and sr not in OPUS_RATES:  # Opus codes only these rates
        rate = min(OPUS_RATES, key=lambda r: (r < sr, abs(r - sr)))
    x = resample(y, sr, rate) if rate != sr else y
    peak = float(np.abs(x).max())
    scale = 0.9 / peak if peak > 0.9 else 1.0  # an encoder clips at full scale; float audio may exceed it
    buffer = io.BytesIO()
    sf.write(buffer, x * scale, rate, format=fmt, subtype=subtype, compression_level=compression)
    kbps = 8 * buffer.tell() / 1000 / (len(x) / rate)
    buffer.seek(0)
    decoded, got_rate = sf.read(buffer, dtype="float32", always_2d=True)
    decoded = decoded.mean(axis=1) / scale
    if got_rate != sr:
        decoded = resample(decoded.astype(np.float32), got_rate, sr)
    return _align(decoded, y), float(kbps)


def _align(decoded: np.ndarray, reference: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``decoded`` shifted by the codec's delay (the lag of the largest cross-correlation) and cut to length."""
    from scipy.signal import correlate

    n = len(reference)
    head = min(n, 4 * max_lag)
    c = correlate(decoded[: head + max_lag], reference[:head], mode="valid", method="fft")
    lag = int(np.argmax(np.abs(c))) if len(c) else 0
    return _fit_length(decoded[lag:], n)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if len(x) >= n:
        return np.ascontiguousarray(x[:n])
    return np.concatenate([x, np.zeros(n - len(x), np.float32)])


# --- room -----------------------------------------------------------------------------------------------------

def room_impulse_response(rt60: float, sr: int, rng: np.random.Generator, direct_to_reverberant_db: float = 0.0,
                          predelay_s: float = 0.005) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path, then a diffuse tail decaying 60 dB in ``rt60`` s.

    The tail is Gaussian noise times ``exp(-6.91 t / rt60)`` (amplitude; energy falls by 60 dB at ``rt60``),
    starting ``predelay_s`` after the direct path and scaled so that direct energy over tail energy is
    ``direct_to_reverberant_db``. Its length is 1.2 x RT60.
    """
    n_tail = int(round(1.2 * rt60 * sr))
    t = np.arange(n_tail) / sr
    tail = rng.standard_normal(n_tail) * np.exp(-3 * np.log(10) * t / rt60)
    tail *= np.sqrt(10 ** (-direct_to_reverberant_db / 10) / (np.sum(tail ** 2) + EPS))
    delay = int(round(predelay_s * sr))
    h = np.zeros(delay + n_tail)
    h[0] = 1.0
    h[delay:] += tail
    return h


def rt60_schroeder(h: np.ndarray, sr: int, start_db: float = -5.0, stop_db: float = -35.0) -> float:
    """RT60 of an impulse response by Schroeder backward integration: a line fitted to the energy decay curve
    between ``start_db`` and ``stop_db`` (T30 by default), extrapolated to 60 dB."""
    energy = np.cumsum(np.asarray(h, dtype=np.float64)[::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0] + EPS)
    use = (edc <= start_db) & (edc >= stop_db)
    if use.sum() < 2:
        raise ValueError("impulse response too short to measure its decay")
    t = np.arange(len(h)) / sr
    slope = np.polyfit(t[use], edc[use], 1)[0]
    return float(-60.0 / slope)


def reverberate(y: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``y`` convolved with ``h``, cut to ``y``'s length and scaled back to ``y``'s RMS (a microphone's gain)."""
    from scipy.signal import fftconvolve

    y = np.asarray(y, dtype=np.float64)
    wet = fftconvolve(y, h)[: len(y)]
    rms_in, rms_out = np.sqrt(np.mean(y ** 2)), np.sqrt(np.mean(wet ** 2))
    if rms_out > EPS:
        wet *= rms_in / rms_out
    return wet.astype(np.float32)


# --- level ----------------------------------------------------------------------------------------------------

def change_level(y: np.ndarray, gain_db: float) -> np.ndarray:
    """``y`` times ``10 ** (gain_db / 20)``; nothing is clipped (the audio stays floating point)."""
    return (np.asarray(y, dtype=np.float64) * 10 ** (gain_db / 20)).astype(np.float32)


def hard_clip(y: np.ndarray, threshold: float) -> np.ndarray:
    """``y`` hard-clipped at ``threshold`` times its peak (e.g. 0.3: every sample beyond 30 % of the peak is cut),
    then scaled back to the original peak, as a recorder whose input stage saturates."""
    y = np.asarray(y, dtype=np.float64)
    peak = np.abs(y).max()
    if peak <= EPS:
        return y.astype(np.float32)
    level = threshold * peak
    return (np.clip(y, -level, level) / threshold).astype(np.float32)


# --- one condition on one clip ----------------------------------------------------------------------------------

def apply(condition: Condition, y: np.ndarray, sr: int, rng: np.random.Generator,
          babble_sources: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``y`` under ``condition``: float32, same length. ``babble_sources`` are needed for babble only.

    Parameters
    ----------
    condition : what to apply.
    y : clean waveform at ``sr``.
    sr : sample rate in Hz.
    rng : the clip's generator (see :func:`condition_seed`).
    babble_sources : speech clips at ``sr`` that babble is made of.
    """
    y = np.asarray(y, dtype=np.float32)
    kind = condition.kind
    if kind == "white":
        return add_noise(y, white_noise(len(y), rng), float(condition.value))
    if kind == "pink":
        return add_noise(y, pink_noise(len(y), rng), float(condition.value))
    if kind == "babble":
        return add_noise(y, babble_noise(babble_sources, len(y), rng), float(condition.value))
    if kind == "telephone":
        return telephone(y, sr)
    if kind == "codec":
        return codec_round_trip(y, sr, str(condition.value))[0]
    if kind == "reverb":
        return reverberate(y, room_impulse_response(float(condition.value), sr, rng))
    if kind == "level":
        return change_level(y, float(condition.value))
    if kind == "clip":
        return hard_clip(y, float(condition.value))
    raise ConditionError(f"condition {condition.name!r}: unknown kind; choose from {', '.join(KINDS)}")


# --- cheap estimates of a recording's condition (for a bundle's profile and predict's warning) -----------------

def band_energy_db(y: np.ndarray, sr: int, above_hz: float) -> float:
    """Energy above ``above_hz`` relative to the whole clip's energy, in dB (one FFT)."""
    spectrum = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) ** 2
    f = np.fft.rfftfreq(len(y), 1 / sr)
    total = spectrum.sum()
    return float(10 * np.log10(spectrum[f > above_hz].sum() / total + EPS)) if total > 0 else float("-inf")
