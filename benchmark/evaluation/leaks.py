"""Leaky pipelines: each mistake of public SER code, reproduced exactly, to measure what it is worth.

Every leak is applied **alone** on top of the honest speaker-independent protocol (the ``speaker`` folds of the
run, same seed), so its inflation is its own; a system's leaks are applied together. Each leak that misuses a
tool (a scaler, feature selection, augmentation, oversampling, tuning) is compared with its **in-fold twin**:
the same tool fitted on the training fold only. The difference between the two is the leak; the difference
between the twin and the plain honest row is what the tool itself is worth.

A variant is a pure function of (the corpus table, the folds, the feature matrix, the labels, the speakers, the
seed, and the augmented copies when augmentation is involved) -> for each fold, the array the model is fitted
and scored on, and which of its rows train, test and stop early. Test rows are always corpus rows (the first
``n`` rows of every fold's array, in table order), so every variant is scored on the same utterances as the
honest row it is compared with, and a paired test over speakers applies.

Leak rows are diagnostics: they never rank a leaderboard, and every table marks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from features.errors import UserInputError

from .protocols import Fold

LEAKS: dict[str, str] = {
    "speakers": "the random split (stratified k-fold over utterances): the same speakers in training and test",
    "sentences": "the same sentences in training and test, speakers disjoint (against speaker+text folds)",
    "scale-on-all": "StandardScaler fitted on all rows before the split",
    "select-on-all": "SelectKBest(f_classif) on the labels fitted on all rows before the split",
    "augment-before-split": "the whole corpus augmented, then split: copies of each test clip train the model",
    "oversample-before-split": "SMOTE on all rows, then split: synthetic points interpolated from test rows "
                               "train the model",
    "epoch-on-test": "early stopping and the best epoch chosen on the test fold",
    "tune-on-test": "hyper-parameters chosen by their score on the test fold",
    "test-in-train": "the test rows also in the training set",
}
# The tools a leak misuses, done honestly inside the training fold: the leak's own reference row.
TWIN_OF = {"scale-on-all": "scale", "select-on-all": "select", "augment-before-split": "augment",
           "oversample-before-split": "oversample", "tune-on-test": "tune"}
TOOLS = ("augment", "scale", "select", "oversample", "tune")
HONEST = "speaker"
SELECT_K = 100  # features kept by SelectKBest (a common choice in SER code)
ALL = "all"


class LeakError(UserInputError):
    """An unknown leak name or one the run cannot apply; the message names ``--leaks``."""


def resolve_leaks(names: Sequence[str]) -> list[str]:
    """Leak names in canonical order; ``all`` means every leak.

    Raises
    ------
    LeakError
        An unknown name (the message lists the known ones).
    """
    names = [n.strip() for n in names if n.strip()]
    if ALL in names:
        return list(LEAKS)
    unknown = [n for n in names if n not in LEAKS]
    if unknown or not names:
        raise LeakError(f"--leaks {','.join(unknown) or '(none)'}: unknown leak; choose from {', '.join(LEAKS)} "
                        f"or {ALL}")
    return [n for n in LEAKS if n in names]


@dataclass
class FoldInput:
    """What one fold's model is fitted and scored on: its own array and rows into it."""

    index: int
    X: np.ndarray  # the first n rows are the corpus rows, in table order; then copies or synthetic rows
    y: np.ndarray
    groups: np.ndarray
    train: np.ndarray
    test: np.ndarray  # corpus rows only
    dev: np.ndarray | None = None  # rows early stopping watches (the test rows under ``epoch-on-test``)
    fitted: dict = field(default_factory=dict)  # the fitted transforms, for audits and tests


@dataclass
class Variant:
    """A row of the decomposition: some leaks, and the tools done honestly inside the fold."""

    name: str
    leaks: tuple[str, ...]
    tools: tuple[str, ...]  # in-fold tools (the twin's)
    folds: list[FoldInput]
    tune: str = ""  # "", "inner" (speaker-grouped CV on training speakers) or "test" (the leak)

    @property
    def leaky(self) -> bool:
        return bool(self.leaks)


@dataclass(frozen=True)
class Augmented:
    """Feature rows of augmented copies: ``X[i]`` is a copy of corpus row ``source[i]``."""

    X: np.ndarray
    source: np.ndarray


def base_folds(leaks: Sequence[str], folds: dict[str, list[Fold]], base: str | None = None
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(train, test, dev) corpus rows per fold (dev: a published split's development rows, else None): speaker folds, stratified ones under ``speakers``, and under
    ``sentences`` the speaker+text test rows with the speaker folds' training rows (every sentence of the training
    speakers, the test sentences included). ``base`` names a protocol to take as it is (a twin's reference).
    """
    if base is not None:
        return [(f.train, f.test, f.dev) for f in _need(folds, base, "the reference")]
    if "speakers" in leaks:
        return [(f.train, f.test, f.dev) for f in _need(folds, "stratified", "speakers")]
    if "sentences" in leaks:
        return [(s.train, t.test, s.dev) for s, t in zip(_need(folds, HONEST, "sentences"),
                                                         _need(folds, "speaker+text", "sentences"), strict=True)]
    return [(f.train, f.test, f.dev) for f in _need(folds, HONEST, "every leak")]


def _need(folds: dict[str, list[Fold]], protocol: str, why: str) -> list[Fold]:
    if protocol not in folds:
        raise LeakError(f"--leaks: {why} needs the {protocol} folds, which this corpus cannot give")
    return folds[protocol]


def fit_scaler(X: np.ndarray, fit_rows: np.ndarray):
    """StandardScaler fitted on ``X[fit_rows]``.

    No PCA: the benchmark's models standardise again on their training fold, and a PCA fitted on all rows then
    yields components carried by the test rows alone, which that in-fold standardisation blows up (measured on
    EmoDB with logreg: -32 points). That is an artefact of our model, not the leak of a pipeline whose model
    takes the PCA output as it is, so it is not reported as the leak's size.
    """
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(X[fit_rows])


def fit_selector(X: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, k: int = SELECT_K):
    """SelectKBest(f_classif) fitted on ``X[fit_rows]`` with their labels."""
    import warnings

    from sklearn.feature_selection import SelectKBest, f_classif

    with warnings.catch_warnings():  # constant columns give NaN F scores; SelectKBest ranks them last
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="Features .* are constant")
        return SelectKBest(f_classif, k=min(k, X.shape[1])).fit(X[fit_rows], y[fit_rows])


def oversample(X: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, seed: int, method: str = "smote"
               ) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic rows (features, labels) an imbalanced-learn sampler adds to ``X[fit_rows]``.

    imbalanced-learn's samplers return the original rows first, then the new ones; only the new ones are
    returned here.
    """
    from models.balancing import make_sampler  # the one sampler factory, shared with ``run --balance``

    sampler = make_sampler(method, seed, y[fit_rows])
    X_res, y_res = sampler.fit_resample(X[fit_rows], y[fit_rows])
    return X_res[len(fit_rows):], y_res[len(fit_rows):]


def build_variant(name: str, leaks: Sequence[str], tools: Sequence[str], folds: dict[str, list[Fold]],
                  X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int,
                  augmented: Augmented | None = None, base: str | None = None) -> Variant:
    """The folds of one decomposition row: ``leaks`` committed, ``tools`` done honestly in the training fold.

    The steps run in the order leaky SER code takes them: augment the clips, scale, select features,
    oversample, split; then ``test-in-train`` adds the test rows to training and ``epoch-on-test`` hands the test
    rows to early stopping. A leaky step is fitted on all rows (of the corpus, and its copies); its twin on the
    fold's training rows (and their copies) only.

    Parameters
    ----------
    name : the row's name.
    leaks, tools : leak names (:data:`LEAKS`) and in-fold tools (:data:`TOOLS`).
    folds : the run's folds by protocol (``speaker`` always; ``stratified``, ``speaker+text`` when used).
    X, y, groups : the corpus rows' features, emotions and speakers.
    seed : the run's seed (SMOTE).
    augmented : copies of corpus rows, needed when augmentation is a leak or a tool.
    base : a protocol whose folds are taken as they are (``speaker+text``: the ``sentences`` leak's reference).

    Returns
    -------
    Variant
    """
    leaks, tools = tuple(leaks), tuple(tools)
    n = len(X)
    augmenting = "augment-before-split" in leaks or "augment" in tools
    if augmenting and augmented is None:
        raise ValueError("augmentation needs the augmented copies")
    if augmenting:
        X_all = np.vstack([X, augmented.X]).astype(np.float32)
        y_all = np.concatenate([y, y[augmented.source]])
        g_all = np.concatenate([groups, groups[augmented.source]])
        source = np.concatenate([np.arange(n), augmented.source])
    else:
        X_all, y_all, g_all, source = X, y, groups, np.arange(n)
    every = np.arange(len(X_all))
    out = []
    for index, (train, test, base_dev) in enumerate(base_folds(leaks, folds, base)):
        fitted: dict = {}
        if "augment-before-split" in leaks:
            copies = np.arange(n, len(X_all))  # every clip's copies, the test clips' included
        elif "augment" in tools:
            copies = n + np.flatnonzero(np.isin(augmented.source, train))
        else:
            copies = np.array([], dtype=int)
        train_rows = np.concatenate([train, copies]).astype(int)
        Xf, yf, gf = X_all, y_all, g_all
        if "scale-on-all" in leaks or "scale" in tools:
            fit_rows = every if "scale-on-all" in leaks else train_rows
            scaler = fit_scaler(Xf, fit_rows)
            Xf = scaler.transform(Xf).astype(np.float32)
            fitted.update(scaler=scaler, scale_rows=fit_rows)
        if "select-on-all" in leaks or "select" in tools:
            fit_rows = every if "select-on-all" in leaks else train_rows
            selector = fit_selector(Xf, yf, fit_rows)
            Xf = selector.transform(Xf).astype(np.float32)
            fitted.update(selector=selector, select_rows=fit_rows)
        if "oversample-before-split" in leaks or "oversample" in tools:
            fit_rows = every if "oversample-before-split" in leaks else train_rows
            X_new, y_new = oversample(Xf, yf, fit_rows, seed)
            start = len(Xf)
            Xf = np.vstack([Xf, X_new]).astype(np.float32)
            yf = np.concatenate([yf, y_new])
            # a synthetic point belongs to no speaker; it gets one of its own so that grouped validation splits
            # inside the fit keep it with the training speakers' side, never mistaken for a real speaker
            gf = np.concatenate([gf, np.array([f"__synthetic_{i}" for i in range(len(y_new))])])
            train_rows = np.concatenate([train_rows, np.arange(start, len(Xf))])
            fitted.update(oversample_rows=fit_rows, synthetic=np.arange(start, len(Xf)))
        if "test-in-train" in leaks:
            train_rows = np.concatenate([train_rows, test])
        dev = test.copy() if "epoch-on-test" in leaks else base_dev
        fitted["source"] = source
        out.append(FoldInput(index, np.ascontiguousarray(Xf), yf, gf, np.sort(train_rows), np.asarray(test), dev,
                             fitted))
    tune = "test" if "tune-on-test" in leaks else "inner" if "tune" in tools else ""
    return Variant(name, leaks, tools, out, tune)


def twin_tools(leak: str) -> tuple[str, ...]:
    """The in-fold tools a leak is measured against (none: the plain honest row)."""
    return (TWIN_OF[leak],) if leak in TWIN_OF else ()


def reference_name(leak: str) -> str:
    """The row a single leak's inflation is measured against."""
    if leak == "sentences":
        return "speaker+text"
    return f"in-fold {TWIN_OF[leak]}" if leak in TWIN_OF else "honest"


def needs_protocols(leaks: Sequence[str]) -> list[str]:
    """The protocols whose folds the leaks need besides ``speaker``."""
    extra = []
    if "speakers" in leaks:
        extra.append("stratified")
    if "sentences" in leaks:
        extra.append("speaker+text")
    return extra
