"""Standardisation that a clip from another corpus cannot blow up: z-scores fitted on training rows, clipped.

Why: on thousands of functionals, a few columns are nearly constant in training (the minimum of a band energy
on a corpus without digital silence, the spectral kurtosis of voiced frames). A clip recorded elsewhere can
put such a column at a z-score of 10^8 (measured: the built-in corpus's statistics applied to EmoDB). One such
value decides a linear model's logits alone and puts every RBF kernel value at exactly 0, so an SVM answers
its intercept for every clip: one class for a whole corpus, with no error anywhere. Clipping the z-scores at
a bound that training rows rarely reach keeps what in-corpus data says and bounds what one column can do.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

DEFAULT_CLIP = 5.0


class ClippedStandardScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise with the training rows' mean and standard deviation, then clip to ``[-clip, clip]``.

    Parameters
    ----------
    clip : float or None
        Bound on the absolute z-score (``None``: no clipping, exactly :class:`~sklearn.preprocessing.
        StandardScaler`).
    with_mean, with_std : bool
        As for :class:`~sklearn.preprocessing.StandardScaler`.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Fitted on the rows given to ``fit`` only; a column constant in training has ``scale_ == 1``.

    Examples
    --------
    >>> import numpy as np
    >>> train = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    >>> scaler = ClippedStandardScaler(clip=3.0).fit(train)
    >>> scaler.transform(np.array([[2.0, 1e9]])).tolist()
    [[0.0, 3.0]]
    """

    def __init__(self, clip: float | None = DEFAULT_CLIP, with_mean: bool = True, with_std: bool = True):
        self.clip = clip
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None):
        if self.clip is not None and not float(self.clip) > 0:
            raise ValueError(f"clip must be a positive number or None, got {self.clip!r}")
        inner = StandardScaler(with_mean=self.with_mean, with_std=self.with_std).fit(X)
        self.mean_, self.scale_ = inner.mean_, inner.scale_
        self.n_features_in_ = inner.n_features_in_
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        Z = np.array(X, dtype=np.float64)  # a copy, then in place: the same values without three temporaries
        if self.mean_ is not None:
            np.subtract(Z, self.mean_, out=Z)
        if self.scale_ is not None:
            np.divide(Z, self.scale_, out=Z)
        if self.clip is not None:
            np.clip(Z, -float(self.clip), float(self.clip), out=Z)
        return Z
