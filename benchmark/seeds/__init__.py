"""The reference systems' claims beside what their replications score here.

``claims.csv`` (shipped with the project) holds one row per replication: the seed, the recipe (a registered
model), the README it comes from, the corpus, figure, metric and split it claims. :func:`claims_table` puts
a finished run's numbers beside them, reading only the run folder's ``folds.csv``.
"""

from .claims import (
    CLAIM_COLUMNS,
    HOLDOUT,
    SPEAKER,
    claims_table,
    load_claims,
    recipes_for,
    render_claims,
    write_claims,
)

__all__ = [
    "CLAIM_COLUMNS",
    "HOLDOUT",
    "SPEAKER",
    "claims_table",
    "load_claims",
    "recipes_for",
    "render_claims",
    "write_claims",
]
