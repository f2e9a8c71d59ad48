"""The typed configuration of a run, and its validation before any audio is decoded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from features import AnalysisConfig
from features.errors import UserInputError

DEFAULT_MODELS = ("svm", "xgboost", "dnn", "lstm")
DEFAULT_PROTOCOLS = ("stratified", "speaker")
BACKENDS = ("serial", "processes", "dask")
MAX_FOLDS = 100
MAX_REPEATS = 100
AUGMENT_ROBUSTNESS = "robustness"  # --augment robustness: one copy per --robustness condition (babble left out)


class ConfigError(UserInputError):
    """A run setting out of range; the message names the flag and what is allowed."""


@dataclass
class RunConfig:
    """Everything that decides a run. The library takes these typed values; only the CLI parses strings.

    ``features`` are vector sets or groups for the models that take the vector bank; ``inputs`` maps a model to
    the feature set it takes instead of its default; ``model_params`` maps a model to parameter overrides.
    """

    dataset: str | None = None
    data_dir: str | None = None
    features: tuple[str, ...] = ("all",)
    models: tuple[str, ...] = DEFAULT_MODELS
    inputs: dict[str, str] = field(default_factory=dict)
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS
    folds: int = 5
    loso: bool = False
    fold_file: str | None = None
    split: str | None = None  # a published split shipped with the project, e.g. "emobox"
    emotions: tuple[str, ...] | None = None  # None: every emotion (several corpora: those all of them have)
    speaker_norm: bool = False
    corpus_norm: bool = False
    tune: bool = False  # hyper-parameters chosen per fold by inner speaker-grouped CV on the training speakers
    seed: int = 0
    repeats: int = 1  # every fit repeated with this many training seeds derived from seed (--repeats)
    repeat_folds: bool = False  # each repeat also draws its own folds (repeated k-fold)
    jobs: int | None = None
    backend: str | None = None  # None: processes when more than one core is useful, else serial
    scheduler: str | None = None  # dask: address of an existing scheduler; None starts a local cluster
    cache_dir: str | None = None
    use_cache: bool = True
    content_hash: bool = False
    out: str = "results"
    plugins: tuple[str, ...] = ()
    quiet: bool = False
    ablation: bool = True
    report: bool = True
    bootstrap_resamples: int = 1000  # confidence intervals and paired tests over speakers
    include_song: bool = False
    strict: bool = False
    profile: str = "default"
    model_params: dict[str, dict] = field(default_factory=dict)
    leaks: tuple[str, ...] = ()  # deliberately leaky pipelines to measure (benchmark.evaluation.leaks.LEAKS)
    # (transform or recording condition, low, high), in-fold only; AUGMENT_ROBUSTNESS: the --robustness conditions
    augment: tuple[tuple[str, float | None, float | None], ...] = ()
    balance: str | None = None  # smote, adasyn, random or class-weight, inside the training fold
    near_duplicates: bool = False  # fingerprint every clip and audit near-duplicate pairs
    system_leaks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model -> the leaks its system made
    robustness: tuple[str, ...] = ()  # degraded-test conditions or presets (benchmark.run.robustness); () = none
    groups: tuple[str, ...] = ()  # speaker-level columns (gender, age_band) for the fairness tables
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def validate(self) -> None:
        """Check every setting that can be checked without audio; raise :class:`ConfigError` naming the flag."""
        if not 2 <= self.folds <= MAX_FOLDS:
            raise ConfigError(f"--folds {self.folds}: must be between 2 and {MAX_FOLDS}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed {self.seed}: must be between 0 and 2**32 - 1")
        if not 1 <= self.repeats <= MAX_REPEATS:
            raise ConfigError(f"--repeats {self.repeats}: must be between 1 and {MAX_REPEATS}")
        if self.repeat_folds and self.repeats < 2:
            raise ConfigError("--repeat-folds needs --repeats 2 or more")
        if self.repeat_folds and self.augment:
            # augmented copies are planned on one draw of the folds; each draw would need its own copies
            raise ConfigError("--augment with --repeat-folds: not supported; use --repeats alone (seeds) with it")
        if any(name == AUGMENT_ROBUSTNESS for name, _, _ in self.augment) and not self.robustness:
            raise ConfigError(f"--augment {AUGMENT_ROBUSTNESS}: give --robustness too (the conditions to train on)")
        if self.jobs is not None and (self.jobs == 0 or self.jobs < -(os.cpu_count() or 1)):
            raise ConfigError(f"--jobs {self.jobs}: give a positive number of cores, or a negative count back "
                              "from all cores")
        if self.backend is not None and self.backend not in BACKENDS:
            raise ConfigError(f"--backend {self.backend!r}: choose from {', '.join(BACKENDS)}")
        if self.scheduler and self.backend not in (None, "dask"):
            raise ConfigError("--scheduler needs --backend dask")
        if self.fold_file is not None and self.split is not None:
            raise ConfigError("--fold-file and --split both name the folds; give one")
        if self.fold_file is not None:
            from benchmark.evaluation.protocols import read_fold_file

            read_fold_file(self.fold_file)
        if not 100 <= self.bootstrap_resamples <= 1_000_000:
            raise ConfigError(f"--bootstrap-resamples {self.bootstrap_resamples}: must be between 100 and 1000000")
        if self.balance is not None:
            from models.balancing import BALANCE_METHODS

            if self.balance not in BALANCE_METHODS:
                raise ConfigError(f"--balance {self.balance}: choose from {', '.join(BALANCE_METHODS)}")
            if self.tune and self.balance != "class-weight":
                raise ConfigError(f"--balance {self.balance} with --tune: the inner cross-validation would score "
                                  "synthetic rows made from its own validation rows; use one or the other")
        if not self.models:
            raise ConfigError("--models: name at least one model")
        if not self.protocols:
            raise ConfigError("--protocols: name at least one protocol")
        check_output_folder(Path(self.out))


def check_output_folder(out: Path) -> None:
    """Fail now, not after every model was fitted, when results cannot be written to ``out``."""
    check_writable_folder(out, "--out")


def check_writable_folder(folder: Path, flag: str, error: type[UserInputError] = ConfigError) -> None:
    """Refuse, in one line naming ``flag``, a ``folder`` that is a file or cannot be created and written to."""
    if folder.exists() and not folder.is_dir():
        raise error(f"{flag} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as problem:
        raise error(f"{flag} {folder}: cannot write there ({problem.strerror or problem})") from None
