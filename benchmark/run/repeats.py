"""Repeats of a run: the training seed (and, with ``--repeat-folds``, the fold draw) of every repeat.

Repeat 0 uses ``--seed`` itself, so a run with one repeat is the run it always was; repeat ``r > 0`` takes a
seed derived from ``(seed, r)`` by NumPy's ``SeedSequence``, so the seeds of a run are fixed by its ``--seed``
and adding repeats keeps the earlier ones (and their cached fits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from benchmark.evaluation.protocols import Fold


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The training seed of each repeat.

    Parameters
    ----------
    seed : int
        The run's ``--seed`` (repeat 0 uses it unchanged).
    repeats : int
        Number of repeats, at least 1.

    Returns
    -------
    list of int
        ``repeats`` distinct seeds in [0, 2**32); the first ``k`` do not depend on ``repeats``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    seeds = [int(seed)]
    r = 1
    while len(seeds) < repeats:
        derived = int(np.random.SeedSequence([int(seed), r]).generate_state(1, dtype=np.uint32)[0])
        if derived not in seeds:  # a collision (odds 2**-32) would silently make two repeats one
            seeds.append(derived)
        r += 1
    return seeds


def fold_draws(protocols: Sequence[str], seeds: Sequence[int], repeat_folds: bool,
               make: Callable[[str, int], list[Fold]]) -> list[dict[str, list[Fold]]]:
    """The folds of every repeat: one draw shared by all (default), or one per repeat seed (``--repeat-folds``).

    Parameters
    ----------
    protocols : sequence of str
        The run's protocols.
    seeds : sequence of int
        The repeats' seeds (:func:`repeat_seeds`).
    repeat_folds : bool
        Draw the folds anew for each repeat (repeated k-fold) instead of reusing repeat 0's.
    make : callable
        ``make(protocol, seed)`` gives the folds of one draw (``make_folds`` with the run's other settings).

    Returns
    -------
    list of dict
        One ``{protocol: folds}`` per repeat; without ``repeat_folds`` every entry is the same object.
    """
    first = {p: make(p, seeds[0]) for p in protocols}
    if not repeat_folds:
        return [first] * len(seeds)
    return [first] + [{p: make(p, s) for p in protocols} for s in seeds[1:]]
