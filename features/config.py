"""Analysis settings shared by every feature set; every field is part of the cache key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

STATISTICS = ("mean", "std", "min", "max", "p10", "p50", "p90", "slope")
STAT_ALIASES = {"percentiles": ("p10", "p50", "p90"), "all": STATISTICS}


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
        if self.sr <= 0 or self.win_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("sr, win_ms and hop_ms must be positive")
        unknown = [s for s in self.stats if s not in STATISTICS]
        if unknown:
            raise ValueError(f"unknown statistic(s) {', '.join(unknown)}; choose from {', '.join(STATISTICS)}")
        if self.tonnetz_source not in ("stft", "cqt"):
            raise ValueError("tonnetz_source must be 'stft' or 'cqt'")
        if self.seq_pool < 1:
            raise ValueError("seq_pool must be at least 1")
        if self.n_mfcc < 1 or self.n_mels < self.n_mfcc:
            raise ValueError(f"need 1 <= n_mfcc <= n_mels, got n_mfcc={self.n_mfcc}, n_mels={self.n_mels}")
        if self.win_length > self.n_fft or self.hop_length < 1:
            raise ValueError("the analysis window and hop must be at least one sample")

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


def parse_stats(text: str) -> tuple[str, ...]:
    """``"mean,std,percentiles"`` -> ``("mean", "std", "p10", "p50", "p90")``."""
    out: list[str] = []
    for item in (s.strip().lower() for s in text.split(",") if s.strip()):
        for stat in STAT_ALIASES.get(item, (item,)):
            if stat not in out:
                out.append(stat)
    return tuple(out)


CONFIG_FIELDS = tuple(f.name for f in fields(AnalysisConfig))
