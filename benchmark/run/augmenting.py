"""``run --augment``: augmented copies of the training clips, in the training fold only.

Every clip gets one seeded copy per transform (features cached keyed by the clip's content, the transform and
its range, and the seed). The copies are appended after the corpus rows of every input array; each fold's
training rows gain the copies of its own training clips and nothing else, so a test clip's copy never trains a
model that is scored on that clip. Test rows stay the corpus rows, so every table is scored as without
augmentation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmark.evaluation.protocols import Fold
from features import pad_sequences

from .config import AUGMENT_ROBUSTNESS, ConfigError


def augment_folds(folds: dict[str, list[Fold]], source: np.ndarray, n: int) -> dict[str, list[Fold]]:
    """Each fold's training rows plus the rows ``n + i`` of the copies whose ``source[i]`` trains in that fold.

    Parameters
    ----------
    folds : folds by protocol, rows into the corpus table.
    source : for each copy, the corpus row it was made from.
    n : number of corpus rows (copies come after them).

    Returns
    -------
    dict
        The same folds with longer training rows; test and development rows unchanged.
    """
    out = {}
    for protocol, fold_list in folds.items():
        out[protocol] = [dataclasses.replace(f, train=np.concatenate([f.train, n + np.flatnonzero(
            np.isin(source, f.train))]).astype(int)) for f in fold_list]
    return out


def transforms(config) -> tuple[list, list[str]]:
    """The run's augmentations (:func:`features.augment.augmentation` of each ``--augment`` item) and notes.

    ``robustness`` stands for every ``--robustness`` condition, in its order, except babble (its talkers are
    chosen per fold; a note says it was left out), so that a model is trained on what it is scored under.
    """
    from features.augment import augmentation

    from .robustness import parse_conditions

    out, notes = [], []
    for name, low, high in config.augment:
        if name != AUGMENT_ROBUSTNESS:
            out.append(augmentation(name, low, high))
            continue
        conditions, _ = parse_conditions(list(config.robustness))
        babble = [c.name for c in conditions if c.kind == "babble"]
        out.extend(augmentation(c.name) for c in conditions if c.kind != "babble")
        if babble:
            notes.append(f"--augment {AUGMENT_ROBUSTNESS}: {', '.join(babble)} left out (babble's talkers are "
                         "chosen per fold from training speakers, so it cannot be one copy per clip)")
    unique = list({a.key: a for a in out}.values())  # a transform named twice makes one copy
    return unique, notes


def augment_inputs(config, feats, table: pd.DataFrame, arrays: dict, input_specs: dict, folds: dict,
                   cache_root, jobs: int, say: Callable[[str], None]) -> tuple[pd.DataFrame, dict, dict]:
    """(the table with the copies' rows, the input arrays with the copies' rows, the augmented folds)."""
    from features.augment import augmented_features

    if config.speaker_norm or config.corpus_norm:
        raise ConfigError("--augment with --speaker-norm or --corpus-norm: not supported (the copies would need "
                          "their speakers' statistics)")
    vector_specs = [spec for spec in input_specs.values() if spec.kind == "vector"]
    sequence_specs = [spec for spec in input_specs.values() if spec.kind != "vector"]
    sets = list(dict.fromkeys(s for spec in vector_specs for s in spec.sets))
    widths = {s: feats.matrix([s])[0].shape[1] for s in sets}
    augs, notes = transforms(config)
    for note in notes:
        say(note)
    copies = augmented_features(table["path"].astype(str).tolist(), table["digest"].astype(str).tolist(),
                                np.arange(len(table)), augs, sets, config.seed, config.analysis,
                                cache_root if config.use_cache else None, jobs, widths,
                                sequence_sets=[spec.name for spec in sequence_specs])
    say(f"augment: {len(copies.source)} copies ({', '.join(a.label for a in augs)}), {copies.computed} computed, "
        f"{copies.cached} from the cache; training folds only")
    out = dict(arrays)
    for spec in vector_specs:
        X = arrays[(spec.name, False)]
        out[(spec.name, False)] = np.vstack([X, copies.matrix(list(spec.sets)).astype(X.dtype)])
    for spec in sequence_specs:  # the copies' frames padded (or cut) to the clips' own padded length
        X = arrays[(spec.name, False)]
        out[(spec.name, False)] = np.concatenate([X, pad_sequences(copies.sequences[spec.name], X.shape[1])])
    extended = pd.concat([table, table.iloc[copies.source]], ignore_index=True)
    return extended, out, augment_folds(folds, copies.source, len(table))
