"""Audio augmentation: seeded, pure transforms of a waveform, and the features of augmented clips, cached.

Each transform is a function ``(y, sr, rng, **params) -> y`` of a mono float waveform. An :class:`Augmentation`
names one transform with its parameters (e.g. ``noise`` at an SNR drawn from 10-30 dB); a
:class:`DegradedCopy` is one recording condition of ``run --robustness`` (telephone, a codec, noise at an SNR,
reverberation ...) used as a transform, so that a model can be trained on the conditions it is scored under.
The random draw of a clip's copy comes from a generator seeded by (the run's seed, the clip's content key, the
transform), so a copy is the same whatever the order, the number of processes or the other clips of the run.

Augmentation is good practice inside the training fold (``run --augment``) and a leak when the whole corpus is
augmented before the split (``run --leaks augment-before-split``): the copies of a test clip then train the
model. This module only makes copies; which rows get them is decided by the caller.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analysis import Clip
from .audio import read_native, resample
from .config import AnalysisConfig
from .degrade import Condition, ConditionError, condition_from_name
from .degrade import apply as degrade
from .errors import UserInputError
from .registry import as_sequence, as_vector, get_feature_set, module_digest

AUGMENT_VERSION = 1


class AugmentError(UserInputError):
    """An augmentation that cannot be applied (unknown name, parameter out of range); one line."""


def add_noise(y: np.ndarray, sr: int, rng: np.random.Generator, snr_db: tuple[float, float] = (10.0, 30.0)
              ) -> np.ndarray:
    """White noise at a signal-to-noise ratio drawn uniformly from ``snr_db`` (dB, against the clip's power).

    Parameters
    ----------
    y : mono waveform.
    sr : sample rate (unused; every transform takes it).
    rng : the copy's generator.
    snr_db : (low, high) range of the SNR in dB.

    Returns
    -------
    np.ndarray
        ``y`` plus noise, same length and dtype.
    """
    snr = rng.uniform(*snr_db)
    power = float(np.mean(np.square(y, dtype=np.float64))) or 1e-12
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr / 10)), size=y.shape)
    return (y + noise).astype(y.dtype)


def pitch_shift(y: np.ndarray, sr: int, rng: np.random.Generator, semitones: tuple[float, float] = (-2.0, 2.0)
                ) -> np.ndarray:
    """Pitch shifted by a number of semitones drawn uniformly from ``semitones`` (duration kept).

    Returns
    -------
    np.ndarray
        The shifted waveform, same length.
    """
    import librosa

    steps = rng.uniform(*semitones)
    return librosa.effects.pitch_shift(y.astype(np.float32), sr=sr, n_steps=steps).astype(y.dtype)


def time_stretch(y: np.ndarray, sr: int, rng: np.random.Generator, rate: tuple[float, float] = (0.85, 1.15)
                 ) -> np.ndarray:
    """Tempo changed by a factor drawn uniformly from ``rate`` (above 1: faster, shorter), pitch kept.

    Returns
    -------
    np.ndarray
        The stretched waveform (its length changes by ``1 / rate``).
    """
    import librosa

    factor = rng.uniform(*rate)
    return librosa.effects.time_stretch(y.astype(np.float32), rate=factor).astype(y.dtype)


def change_gain(y: np.ndarray, sr: int, rng: np.random.Generator, gain_db: tuple[float, float] = (-6.0, 6.0)
                ) -> np.ndarray:
    """Level changed by a gain drawn uniformly from ``gain_db`` (dB); clipped to [-1, 1] as a file would be.

    Returns
    -------
    np.ndarray
        The scaled waveform.
    """
    gain = 10 ** (rng.uniform(*gain_db) / 20)
    return np.clip(y * gain, -1.0, 1.0).astype(y.dtype)


TRANSFORMS = {"noise": (add_noise, "snr_db"), "pitch": (pitch_shift, "semitones"),
              "stretch": (time_stretch, "rate"), "gain": (change_gain, "gain_db")}
DEFAULTS = {"noise": (10.0, 30.0), "pitch": (-2.0, 2.0), "stretch": (0.85, 1.15), "gain": (-6.0, 6.0)}
LIMITS = {"noise": (-10.0, 80.0), "pitch": (-12.0, 12.0), "stretch": (0.25, 4.0), "gain": (-40.0, 40.0)}


@dataclass(frozen=True)
class Augmentation:
    """One transform and its parameter range: each augmented clip gets one copy per augmentation."""

    name: str
    low: float
    high: float

    def __post_init__(self):
        if self.name not in TRANSFORMS:
            raise AugmentError(f"--augment {self.name}: unknown transform; choose from {', '.join(TRANSFORMS)}")
        lo, hi = LIMITS[self.name]
        if not (lo <= self.low <= self.high <= hi):
            raise AugmentError(f"--augment {self.name}={self.low:g}:{self.high:g}: the range must be increasing and "
                               f"within {lo:g}:{hi:g}")

    @property
    def label(self) -> str:
        return f"{self.name}={self.low:g}:{self.high:g}"

    @property
    def key(self) -> str:
        """What seeds a copy and keys its cache entry."""
        return self.label

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        func, param = TRANSFORMS[self.name]
        return func(y, sr, rng, **{param: (self.low, self.high)})


@dataclass(frozen=True)
class DegradedCopy:
    """A recording condition of ``run --robustness`` as an augmentation: each clip's copy is the clip under it.

    Babble is not one: it is made of other speakers' training clips chosen per fold, and a copy of a training
    clip serves every fold that clip trains in, some of whose test speakers would be among any talkers chosen
    once (their voices would then train the model that is scored on them).
    """

    condition: Condition

    def __post_init__(self):
        if self.condition.kind == "babble":
            raise AugmentError(f"--augment {self.condition.name}: babble is not an augmentation (its talkers are "
                               "chosen per fold from training speakers); use white or pink noise")

    @property
    def name(self) -> str:
        return self.condition.name

    @property
    def label(self) -> str:
        return self.condition.name

    @property
    def key(self) -> str:
        """Every parameter of the condition (a codec's compression level too), so a change is a new copy."""
        return f"degraded|{sorted(self.condition.params().items())}"

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        return degrade(self.condition, y, sr, rng)


Transform = Augmentation | DegradedCopy  # what one copy per clip is made with


def augmentation(name: str, low: float | None = None, high: float | None = None) -> Transform:
    """An :class:`Augmentation` with the default range of ``name`` where none is given, or the
    :class:`DegradedCopy` of a recording condition's name (``telephone``, ``mp3``, ``white@10``, ``reverb@0.6``).

    Raises
    ------
    AugmentError
        An unknown name, a range out of bounds, a range given to a condition, or babble; one line.

    Examples
    --------
    >>> augmentation("noise").label
    'noise=10:30'
    >>> augmentation("reverb@0.6").label
    'reverb@0.6'
    """
    if name in DEFAULTS:
        lo, hi = DEFAULTS[name]
        return Augmentation(name, lo if low is None else float(low), hi if high is None else float(high))
    try:
        condition = condition_from_name(name)
    except ConditionError as error:
        if "unknown kind" not in str(error):
            raise AugmentError(str(error).replace("condition ", "--augment ", 1)) from None
        raise AugmentError(f"--augment {name}: unknown transform; choose from {', '.join(TRANSFORMS)} or a recording "
                           "condition of --robustness (telephone, mp3, white@10, reverb@0.6 ...)") from None
    if low is not None or high is not None:
        raise AugmentError(f"--augment {name}: a recording condition takes no range (its parameter is in its name)")
    return DegradedCopy(condition)


def copy_rng(seed: int, clip_key: str, aug: Transform) -> np.random.Generator:
    """The generator of one copy: the run's seed, the clip's identity and the transform decide it, nothing else."""
    digest = hashlib.sha256(f"{seed}|{clip_key}|{aug.key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def augment_clip(y: np.ndarray, sr: int, aug: Transform, seed: int, clip_key: str) -> np.ndarray:
    """The augmented copy of one waveform (pure: same inputs, same copy)."""
    return aug.apply(np.asarray(y, dtype=np.float32), sr, copy_rng(seed, clip_key, aug))


@dataclass
class AugmentedFeatures:
    """Feature rows of augmented copies: ``X[i]`` is ``source[i]``'s copy by ``augmentations[which[i]]``, and
    ``sequences[name][i]`` its frames of the sequence set ``name``."""

    X: np.ndarray
    source: np.ndarray  # row of the corpus table each copy was made from
    which: np.ndarray  # index into ``augmentations``
    augmentations: list[Transform] = field(default_factory=list)
    computed: int = 0
    cached: int = 0
    widths: dict[str, int] = field(default_factory=dict)  # columns of each set, side by side in ``sets`` order
    sequences: dict[str, list[np.ndarray]] = field(default_factory=dict)  # sequence set -> (frames, dims) per copy

    def matrix(self, sets: Sequence[str]) -> np.ndarray:
        """The copies' columns of ``sets`` side by side (a subset of the sets they were computed for)."""
        start, where = 0, {}
        for name, width in self.widths.items():
            where[name] = slice(start, start + width)
            start += width
        return np.hstack([self.X[:, where[name]] for name in sets]) if sets else self.X[:, :0]


def _cache_key(clip_key: str, aug: Transform, seed: int, sets: Sequence[str], config: AnalysisConfig,
               versions: dict[str, str]) -> str:
    set_keys = [get_feature_set(s).key(config, versions) for s in sets]
    payload = {"v": AUGMENT_VERSION, "code": module_digest("augment.py", "degrade.py"), "clip": clip_key,
               "aug": aug.key, "seed": seed, "sets": set_keys}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _clip_copies(path: str, clip_key: str, items: list[tuple[int, Transform, tuple[str, ...]]],
                 sets: tuple[str, ...], seed: int, config: AnalysisConfig) -> list[tuple[int, dict[str, np.ndarray]]]:
    """``(index, parts)`` of each ``(index, transform, wanted)`` copy of one clip, decoded and resampled once.

    ``wanted`` names what the cache lacks: ``VECTOR`` for the vector sets ``sets`` side by side (one float32
    row), or a sequence set (its float32 (frames, dims) array); one analysis of the copy serves them all.
    """
    native, native_sr = read_native(path)
    y = resample(native, native_sr, config.sr)
    out = []
    for index, aug, wanted in items:
        clip = Clip(augment_clip(y, config.sr, aug, seed, clip_key), config, path)
        parts = {}
        for name in wanted:
            if name == VECTOR:
                parts[name] = _vector_row(clip, sets)
            else:
                spec = get_feature_set(name)
                frames = as_sequence(spec.func(clip), spec)
                parts[name] = np.nan_to_num(frames, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        out.append((index, parts))
    return out


def _vector_row(clip: Clip, sets: tuple[str, ...]) -> np.ndarray:
    parts = []
    for name in sets:
        values, _ = as_vector(get_feature_set(name).func(clip), get_feature_set(name))
        parts.append(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


VECTOR = ""  # the part of a copy that holds its vector sets side by side (no set has an empty name)


def augmented_features(paths: Sequence[str], clip_keys: Sequence[str], rows: Sequence[int],
                       augmentations: Sequence[Transform], sets: Sequence[str], seed: int,
                       config: AnalysisConfig | None = None, cache_dir: str | Path | None = None,
                       jobs: int = 1, widths: dict[str, int] | None = None,
                       sequence_sets: Sequence[str] = ()) -> AugmentedFeatures:
    """Vector features (``sets`` side by side, as :meth:`Features.matrix` lays them), and the frames of each
    sequence set of ``sequence_sets``, of one copy per augmentation of each clip in ``rows``; cached under
    ``cache_dir/augmented``, keyed by the clip's content key, the transform and its range, the seed and the
    feature sets' own keys.

    Parameters
    ----------
    paths, clip_keys : per corpus row, the audio file and its content identity (the table's ``digest``).
    rows : the corpus rows to augment (the caller decides: training rows only, or every row for the leak).
    augmentations : the transforms, one copy each.
    sets : vector feature sets, in the order of the model's input.
    seed : the run's seed.
    config : analysis settings.
    cache_dir : cache root; None keeps nothing.
    jobs : worker processes for the copies the cache lacks.
    widths : columns of each set (from the clips' own features), to take sets apart with
        :meth:`AugmentedFeatures.matrix`; checked against the copies.
    sequence_sets : sequence feature sets (frame-level inputs of the recurrent networks).

    Returns
    -------
    AugmentedFeatures
        Rows ordered by (augmentation, corpus row).
    """
    from .bank import library_versions

    config = config or AnalysisConfig()
    versions = library_versions()
    sets, sequence_sets = tuple(sets), tuple(dict.fromkeys(sequence_sets))
    plan = [(a, int(r)) for a, _ in enumerate(augmentations) for r in rows]
    folder = Path(cache_dir) / "augmented" if cache_dir is not None else None
    parts = ((VECTOR, sets),) * bool(sets) + tuple((name, (name,)) for name in sequence_sets)
    keys = {part: [_cache_key(str(clip_keys[r]), augmentations[a], seed, what, config, versions) for a, r in plan]
            for part, what in parts}
    values: dict[str, list[np.ndarray | None]] = {part: [None] * len(plan) for part in keys}
    if folder is not None:
        for part, part_keys in keys.items():
            for i, key in enumerate(part_keys):
                path = folder / key[:2] / f"{key}.npy"
                if path.is_file():
                    try:
                        values[part][i] = np.load(path, allow_pickle=False)
                    except (OSError, ValueError):
                        path.unlink(missing_ok=True)  # unreadable: recomputed below
    wanted = {i: tuple(part for part in keys if values[part][i] is None) for i in range(len(plan))}
    todo = [i for i, missing in wanted.items() if missing]
    per_clip: dict[int, list[tuple[int, Transform, tuple[str, ...]]]] = {}  # one task per clip: decoded once
    for i in todo:
        per_clip.setdefault(plan[i][1], []).append((i, augmentations[plan[i][0]], wanted[i]))
    tasks = [(str(paths[r]), str(clip_keys[r]), items, sets, seed, config) for r, items in per_clip.items()]
    if max(1, jobs) > 1 and len(tasks) > 1:
        # the run's one worker pool (features.pool), as for the clips' own features: joblib's executor cannot share
        # loky's reusable pool once the run has started it
        from .bank import on_pool

        done = on_pool(_clip_copies, tasks, [*sets, *sequence_sets], config, min(jobs, len(tasks)))
    else:
        from .pool import wait_for_warm_up

        wait_for_warm_up()  # never compile beside a worker that compiles (numba issue 10128)
        done = (_clip_copies(*task) for task in tasks)
    for i, computed in (copy for copies in done for copy in copies):
        for part, array in computed.items():
            values[part][i] = array
            if folder is not None:
                path = folder / keys[part][i][:2] / f"{keys[part][i]}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as handle:
                    np.save(handle, array, allow_pickle=False)
                os.replace(tmp, path)
    rows_ = values.get(VECTOR, [])
    width = rows_[0].shape[0] if rows_ else 0
    X = np.vstack(rows_) if rows_ else np.zeros((len(plan), width), dtype=np.float32)
    if widths is not None and sum(widths.values()) != width and rows_:
        raise ValueError(f"augmented copies: the sets' widths add up to {sum(widths.values())}, rows have {width}")
    return AugmentedFeatures(X.astype(np.float32), np.array([r for _, r in plan], dtype=int),
                             np.array([a for a, _ in plan], dtype=int), list(augmentations), len(todo),
                             len(plan) - len(todo), dict(widths or {}),
                             {name: values[name] for name in sequence_sets})
