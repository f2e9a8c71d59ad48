"""Analysis settings shared by every feature set; every field is part of the cache key."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from numbers import Real

from .errors import UserInputError

STATISTICS = ("mean", "std", "min", "max", "p10", "p50", "p90", "slope")
STAT_ALIASES = {"percentiles": ("p10", "p50", "p90"), "all": STATISTICS}
SR_RANGE = (4000, 192000)  # Hz
MIN_WINDOW_SAMPLES = 16
MAX_WIN_MS = 1000.0
MAX_SEQ_POOL = 1000
CQT_MIN_SR = 8400  # librosa's default 7-octave constant-Q chroma from C1 stays below Nyquist


class AnalysisSettingError(UserInputError):
    """An analysis setting out of range; the one-line message names the setting and what is allowed."""


@dataclass(frozen=True)
class AnalysisConfig:
    """Speech conventions by default: 16 kHz, 25 ms windows, 10 ms hop."""

    sr: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    n_mfcc: int = 40
    deltas: bool = True
    stats: tuple[str, ...] = ("mean", "std")
    chroma_tuning: float = 0.0  # speech has no tuning to estimate; librosa's estimate costs a pitch track
    contrast_fmin: float = 100.0  # six octave bands from 100 Hz stay below the 8 kHz Nyquist limit
    contrast_bands: int = 6
    tonnetz_source: str = "stft"  # "cqt": harmonic separation then constant-Q chroma, the usual (slow) route
    seq_pool: int = 4  # frames averaged into one sequence step: 40 ms steps keep the LSTM affordable on CPU
    seq_max_len: int | None = None  # None: the corpus's 95th percentile length

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def win_length(self) -> int:
        return int(round(self.sr * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        return int(round(self.sr * self.hop_ms / 1000.0))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    def subset(self, names: tuple[str, ...] | None) -> dict:
        """The settings a feature set depends on (all of them when ``names`` is None)."""
        values = asdict(self)
        values.update(win_length=self.win_length, hop_length=self.hop_length, n_fft=self.n_fft)
        return values if names is None else {k: values[k] for k in names}

    def with_(self, **changes) -> AnalysisConfig:
        return replace(self, **changes)


def _validate(config: AnalysisConfig) -> None:
    """Check every setting against its allowed range, in an order where each check can rely on the earlier ones.

    Whole-number settings given as integral floats (``n_mfcc=20.0``, e.g. from JSON) become ints, real-valued
    ones given as ints become floats, and a list of statistics a tuple, so equal settings give equal cache keys.

    Raises
    ------
    AnalysisSettingError
        One line naming the setting, its value and the allowed range.
    """
    def fail(name: str, allowed: str) -> None:
        raise AnalysisSettingError(f"{name}={getattr(config, name)!r}: {allowed}")

    def whole(name: str, low: int, high: int | None = None, why: str = "") -> int:
        value = getattr(config, name)
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
                or value != int(value):
            fail(name, f"must be a whole number {span}{why}")
        value = int(value)
        object.__setattr__(config, name, value)
        if value < low or (high is not None and value > high):
            fail(name, f"must be {span}{why}")
        return value

    def number(name: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
               why: str = "") -> float:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            fail(name, f"must be a finite number{why}")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            lower = f"above {low:g}" if low_open else f"at least {low:g}"
            span = (f"{lower} and at most {high:g}" if low is not None and high is not None
                    else lower if low is not None else f"at most {high:g}")
            fail(name, f"must be {span}{why}")
        object.__setattr__(config, name, float(value))  # win_ms=25 and win_ms=25.0 share one cache key
        return float(value)

    sr = whole("sr", *SR_RANGE, " Hz")
    nyquist = sr / 2
    win_ms = number("win_ms", 1000.0 * MIN_WINDOW_SAMPLES / sr, MAX_WIN_MS,
                    why=f" ms (a window of {MIN_WINDOW_SAMPLES} samples to {MAX_WIN_MS:g} ms at sr={sr})")
    if config.win_length < MIN_WINDOW_SAMPLES:  # rounding: 1.0 ms at 16 kHz is 16 samples, 0.99 ms is 16 too
        fail("win_ms", f"gives a window of {config.win_length} samples at sr={sr}; needs at least "
                       f"{MIN_WINDOW_SAMPLES}")
    number("hop_ms", 0.0, win_ms, low_open=True, why=f" ms (at least one sample, at most win_ms={win_ms:g})")
    if config.hop_length < 1:
        fail("hop_ms", f"gives a hop of 0 samples at sr={sr}; needs at least {1000.0 / sr:.3g} ms")
    bins = config.n_fft // 2 + 1
    n_mels = whole("n_mels", 1, bins, f" (the {bins} frequency bins of a {config.win_length}-sample window "
                                      f"at sr={sr}; lengthen win_ms for more)")
    whole("n_mfcc", 1, n_mels, f" (need 1 <= n_mfcc <= n_mels, and n_mels={n_mels})")
    if config.fmax is not None:
        number("fmax", 0.0, nyquist, low_open=True, why=f" Hz (the Nyquist limit of sr={sr}), or null")
    top = nyquist if config.fmax is None else float(config.fmax)
    number("fmin", 0.0, top, why=" Hz" + (" (below fmax)" if config.fmax is not None else
                                          f" (below the Nyquist limit of sr={sr})"))
    if config.fmin >= top:
        fail("fmin", f"must be below {'fmax' if config.fmax is not None else 'the Nyquist limit'} ({top:g} Hz)")
    if not isinstance(config.deltas, bool):
        fail("deltas", "must be true or false")
    stats = config.stats
    if isinstance(stats, str) or not isinstance(stats, tuple | list):
        fail("stats", f"must be a list of statistics from {', '.join(STATISTICS)}")
    unknown = [str(s) for s in stats if s not in STATISTICS]
    if unknown:
        raise AnalysisSettingError(f"unknown statistic(s) {', '.join(unknown)}; choose from "
                                   f"{', '.join(STATISTICS)}")
    if not stats:
        fail("stats", f"give at least one of {', '.join(STATISTICS)}")
    object.__setattr__(config, "stats", tuple(stats))
    number("chroma_tuning", -0.5, 0.5, why=" (a fraction of a chroma bin)")
    bands = whole("contrast_bands", 1, 20)
    fmin = number("contrast_fmin", 0.0, nyquist, low_open=True, why=" Hz")
    if fmin * 2 ** bands > nyquist:
        fit = int(math.floor(math.log2(nyquist / fmin))) if fmin < nyquist else 0
        raise AnalysisSettingError(
            f"contrast_bands={bands}: {bands} octave bands from contrast_fmin={fmin:g} Hz reach "
            f"{fmin * 2 ** bands:g} Hz, above the Nyquist limit of sr={sr} ({nyquist:g} Hz); allowed: at most "
            f"{max(fit, 0)} bands, or a "
            f"contrast_fmin of at most {nyquist / 2 ** bands:g} Hz")
    resolution = sr / config.n_fft
    if fmin < resolution:  # librosa's lowest octave band (contrast_fmin to twice it) must hold a frequency bin
        fail("contrast_fmin", f"must be at least {resolution:g} Hz, the frequency resolution of a "
                              f"{config.n_fft}-point FFT at sr={sr} (or lengthen win_ms)")
    if config.tonnetz_source not in ("stft", "cqt"):
        fail("tonnetz_source", "must be 'stft' or 'cqt'")
    if config.tonnetz_source == "cqt" and sr < CQT_MIN_SR:
        fail("tonnetz_source", f"'cqt' needs sr of at least {CQT_MIN_SR} Hz (its constant-Q chroma reaches about "
                               f"4.1 kHz); use 'stft' at sr={sr}")
    whole("seq_pool", 1, MAX_SEQ_POOL, " frames")
    if config.seq_max_len is not None:
        whole("seq_max_len", 1, None, " steps, or null (the corpus's 95th percentile length)")


def parse_stats(text: str) -> tuple[str, ...]:
    """``"mean,std,percentiles"`` -> ``("mean", "std", "p10", "p50", "p90")``."""
    out: list[str] = []
    for item in (s.strip().lower() for s in text.split(",") if s.strip()):
        for stat in STAT_ALIASES.get(item, (item,)):
            if stat not in out:
                out.append(stat)
    return tuple(out)


CONFIG_FIELDS = tuple(f.name for f in fields(AnalysisConfig))
