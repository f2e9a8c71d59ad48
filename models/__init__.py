"""Models behind one estimator interface, picked by name with ``--models``.

Add a model by registering a factory (any scikit-learn style classifier)::

    from models import register_model
    from sklearn.ensemble import RandomForestClassifier

    @register_model("forest", description="random forest")
    def forest(random_state=0, n_jobs=1):
        return RandomForestClassifier(n_estimators=300, random_state=random_state, n_jobs=n_jobs)
"""

from .base import LabelledClassifier
from .classical import SVMClassifier, XGBoostClassifier
from .neural import DenseNetworkClassifier, LSTMClassifier
from .registry import MODELS, ModelError, ModelSpec, make_model, register_model, resolve_models

# seed_free: the SVC is deterministic; its one seeded step (the Platt-calibration folds) keeps the run's --seed.
register_model("svm", SVMClassifier, seed_free=True, description="standardisation + RBF SVC")
# Trees on the thousands of columns of the full bank cost minutes per fold for no gain over the classic groups.
register_model("xgboost", XGBoostClassifier, default_input="classic",
               description="XGBoost, hist tree method, on the classic groups by default")

from . import linear  # noqa: E402,F401  (registers logreg and linsvm)

__all__ = [
    "DenseNetworkClassifier", "LSTMClassifier", "LabelledClassifier", "MODELS", "ModelError", "ModelSpec",
    "SVMClassifier", "XGBoostClassifier", "make_model", "register_model", "resolve_models",
]
