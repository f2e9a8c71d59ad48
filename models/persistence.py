"""Saving and loading fitted estimators without pickle: loading a saved model never runs code from the file.

An estimator becomes a set of named members (bytes), which a bundle stores and checksums:

- ``estimator.json``: the class, ``get_params()`` and a tree describing every fitted attribute (the
  attributes ending in ``_``, as scikit-learn defines fitted state);
- ``arrays.npz``: every numpy array of that state, read back with ``allow_pickle=False``;
- ``<attr>.skops``: scikit-learn objects (scalers, pipelines, calibrators, label encoders) in skops format, loaded
  with an explicit list of trusted types computed from the file and checked against a policy (classes of
  scikit-learn, numpy, scipy and this project's own estimators; never a function, never ``trusted=True``);
- ``<attr>.json``: XGBoost models in XGBoost's own JSON format;
- ``<attr>.keras``: Keras models in the ``.keras`` format, loaded with ``safe_mode=True``.

It is generic over the fitted attributes, so a new model needs no code here as long as its state is made of
those kinds of values (plus plain numbers, strings, lists, tuples and dicts of them, and nested estimators). An
attribute of any other type is a :class:`PersistenceError` at save time: there is no pickle fallback.

Examples
--------
>>> members = save_estimator(fitted_model)        # doctest: +SKIP
>>> model = load_estimator(members)               # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from features.errors import UserInputError

STATE_MEMBER = "estimator.json"
ARRAYS_MEMBER = "arrays.npz"
STATE_VERSION = 1
SAFE_ROOTS = ("sklearn", "numpy", "scipy")  # packages whose classes skops may rebuild
OWN_ROOT = "models"  # this project's estimators (classes subclassing scikit-learn's BaseEstimator)
XGBOOST_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor", "XGBRanker", "Booster")


class PersistenceError(UserInputError):
    """A model that cannot be saved safely, or saved state that cannot be loaded safely; one-line message."""


class PersistenceFault(RuntimeError):
    """A library failing inside the persistence layer (skops raising while it writes): a fault, exit 1, with the
    library's exception chained, never reported as the user's mistake."""


# ---------------------------------------------------------------------------------------------------------------
# Saving


def save_estimator(estimator) -> dict[str, bytes]:
    """Serialise a fitted estimator into named members, without pickle.

    Parameters
    ----------
    estimator : a fitted scikit-learn style estimator: one of this project's (``models.base.LabelledClassifier``
        or any ``BaseEstimator`` in ``models``), whose fitted attributes are serialised one by one, or any
        scikit-learn estimator, stored whole with skops.

    Returns
    -------
    dict
        Member name -> bytes; ``estimator.json`` describes the rest.

    Raises
    ------
    PersistenceError
        An attribute of a type that cannot be stored without pickle (named in the message).
    """
    members: dict[str, bytes] = {}
    arrays: dict[str, np.ndarray] = {}
    root = _encode(estimator, "model", members, arrays)
    if arrays:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        members[ARRAYS_MEMBER] = buffer.getvalue()
    state = {"state_version": STATE_VERSION, "root": root}
    members[STATE_MEMBER] = json.dumps(state, indent=1, sort_keys=True, allow_nan=True).encode()
    return members


def _encode(value, path: str, members: dict[str, bytes], arrays: dict[str, np.ndarray]) -> dict:
    """A JSON node describing ``value``; large or typed parts go to ``members`` / ``arrays``."""
    if _plain_json(value):
        return {"t": "json", "v": value}
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise PersistenceError(f"cannot save {path}: numpy scalar of dtype {value.dtype} is not supported")
        return {"t": "scalar", "dtype": value.dtype.str, "v": value.item()}
    if isinstance(value, np.ndarray):
        return _encode_array(value, path, arrays)
    if isinstance(value, list | tuple):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "items": [_encode(v, f"{path}.{i}", members, arrays) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise PersistenceError(f"cannot save {path}: dict keys must be strings, got {type(bad[0]).__name__}")
        return {"t": "dict", "items": {k: _encode(v, f"{path}.{k}", members, arrays) for k, v in value.items()}}
    module = type(value).__module__ or ""
    if module.split(".")[0] in ("keras", "tf_keras", "tensorflow") and _is_keras_model(value):
        name = f"{path}.keras"
        members[name] = _keras_bytes(value)
        return {"t": "keras", "member": name}
    if module.split(".")[0] == "xgboost":
        cls = type(value).__name__
        if cls not in XGBOOST_CLASSES:
            raise PersistenceError(f"cannot save {path}: xgboost type {cls} is not supported")
        name = f"{path}.xgb.json"
        members[name] = _xgboost_bytes(value)
        return {"t": "xgboost", "class": cls, "member": name}
    if _is_own_estimator(value):
        return _encode_estimator(value, path, members, arrays)
    if _is_sklearn_object(value):
        name = f"{path}.skops"
        data, trusted = _skops_bytes(value, path)
        members[name] = data
        return {"t": "skops", "member": name, "trusted": trusted}
    raise PersistenceError(f"cannot save {path}: type {_qualified(type(value))} cannot be stored without pickle "
                           "(supported: numbers, strings, lists, dicts, numpy arrays, scikit-learn objects, "
                           "XGBoost and Keras models)")


def _plain_json(value) -> bool:
    """None, bool, int, float, str, and lists / string-keyed dicts of them (tuples keep their own node)."""
    if value is None or isinstance(value, bool | int | float | str):
        return not isinstance(value, np.generic)
    if type(value) is list:
        return all(_plain_json(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def _encode_estimator(estimator, path: str, members: dict[str, bytes], arrays: dict[str, np.ndarray]) -> dict:
    cls = type(estimator)
    params = estimator.get_params(deep=False)
    fitted = {name: value for name, value in vars(estimator).items()
              if name.endswith("_") and not name.startswith("_") and name not in params}
    return {
        "t": "estimator",
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": {k: _encode(v, f"{path}.params.{k}", members, arrays) for k, v in params.items()},
        "fitted": {k: _encode(v, f"{path}__{k}", members, arrays) for k, v in fitted.items()},
    }


def _encode_array(value: np.ndarray, path: str, arrays: dict[str, np.ndarray]) -> dict:
    node = {"t": "array", "key": f"a{len(arrays)}"}
    if value.dtype.kind == "O":
        items = value.ravel().tolist()
        if not all(isinstance(v, str) for v in items):
            raise PersistenceError(f"cannot save {path}: an object array holding other things than strings")
        node["object"] = True  # strings stored as a unicode array, turned back into an object array on load
        value = value.astype(str)
    elif value.dtype.kind not in "biufcUSM?" and value.dtype != np.bool_:
        raise PersistenceError(f"cannot save {path}: arrays of dtype {value.dtype} are not supported")
    arrays[node["key"]] = value
    return node


def _is_own_estimator(value) -> bool:
    """This project's estimators (and plugins' ``LabelledClassifier`` subclasses) are stored attribute by attribute."""
    from sklearn.base import BaseEstimator

    from .base import LabelledClassifier

    own = isinstance(value, LabelledClassifier) or (
        isinstance(value, BaseEstimator) and type(value).__module__.split(".")[0] == OWN_ROOT)
    return own and _is_state_serialisable(value)


def _is_state_serialisable(value) -> bool:
    # This project's estimators are stored attribute by attribute (their params must round-trip __init__).
    try:
        return set(value.get_params(deep=False)) <= set(inspect.signature(type(value).__init__).parameters)
    except (TypeError, ValueError):
        return False


def _is_sklearn_object(value) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(value, BaseEstimator) or type(value).__module__.split(".")[0] == "sklearn"


def _is_keras_model(value) -> bool:
    keras = _import_keras()
    return isinstance(value, keras.Model)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ---------------------------------------------------------------------------------------------------------------
# skops: an explicit, checked list of trusted types


def trust_problem(type_name: str) -> str | None:
    """Why ``type_name`` (``module.Qualname``, as skops names it) may not be loaded; ``None`` if it may.

    A type is trusted when it is a class (never a function or method) defined in scikit-learn, numpy or scipy,
    or a scikit-learn estimator class of this project's ``models`` package. The module is imported only after
    its root package passed that check.
    """
    root = type_name.split(".")[0]
    if root not in (*SAFE_ROOTS, OWN_ROOT):
        return f"type {type_name} is not from scikit-learn, numpy, scipy or this project's models"
    obj = _resolve_dotted(type_name)
    if obj is None:
        return f"type {type_name} does not exist in this installation"
    if not inspect.isclass(obj):
        return f"{type_name} is not a class"
    if root == OWN_ROOT:
        from sklearn.base import BaseEstimator

        if not issubclass(obj, BaseEstimator):
            return f"type {type_name} is not a scikit-learn estimator"
    return None


def _resolve_dotted(name: str):
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def checked_trusted_types(data: bytes, where: str) -> list[str]:
    """The types a skops file needs beyond skops' defaults, each checked by :func:`trust_problem`."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as error:  # not a skops file (e.g. a pickle): skops raises zip or schema errors
        raise PersistenceError(f"{where}: not a valid skops file ({type(error).__name__})") from error
    for name in untrusted:
        problem = trust_problem(name)
        if problem is not None:
            raise PersistenceError(f"{where}: refused, {problem}")
    return sorted(untrusted)


def _skops_bytes(value, path: str) -> tuple[bytes, list[str]]:
    import skops.io as sio

    try:
        data = sio.dumps(value)
    except Exception as error:
        raise PersistenceFault(f"cannot save {path}: skops failed to store {_qualified(type(value))} "
                               f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
                               ) from error
    return data, checked_trusted_types(data, f"cannot save {path}")


# ---------------------------------------------------------------------------------------------------------------
# XGBoost and Keras through files in their own formats


def _xgboost_bytes(value) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.json"
        value.save_model(str(target))
        return target.read_bytes()


def _import_keras():
    try:
        from models.neural import import_tensorflow  # deterministic, quiet, bounded threads
    except ImportError:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    else:
        import_tensorflow()
    import keras

    return keras


def _keras_bytes(value) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.keras"
        value.save(str(target))
        return target.read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_estimator(members: Mapping[str, bytes], where: str = "model") -> object:
    """Rebuild an estimator saved by :func:`save_estimator`; never unpickles anything.

    Parameters
    ----------
    members : member name -> bytes, as returned by :func:`save_estimator`.
    where : a name for messages (e.g. the bundle's path).

    Raises
    ------
    PersistenceError
        Missing or malformed members, a class that is not an estimator of this project or scikit-learn, a
        skops type outside the trusted policy, an array that would need pickle, an unsafe Keras model.
    """
    if STATE_MEMBER not in members:
        raise PersistenceError(f"{where}: no {STATE_MEMBER}")
    try:
        state = json.loads(members[STATE_MEMBER])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PersistenceError(f"{where}: {STATE_MEMBER} is not valid JSON") from error
    if not isinstance(state, dict) or state.get("state_version") != STATE_VERSION:
        raise PersistenceError(f"{where}: model state version {state.get('state_version') if isinstance(state, dict) else '?'}"
                               f" is not supported (this version reads {STATE_VERSION})")
    arrays = _load_arrays(members, where)
    try:
        return _decode(state["root"], members, arrays, where)
    except PersistenceError:
        raise
    except (KeyError, TypeError, AttributeError) as error:
        raise PersistenceError(f"{where}: malformed model state ({type(error).__name__}: {error})") from error


def _load_arrays(members: Mapping[str, bytes], where: str) -> dict[str, np.ndarray]:
    if ARRAYS_MEMBER not in members:
        return {}
    try:
        with np.load(io.BytesIO(members[ARRAYS_MEMBER]), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as error:  # numpy refuses object arrays when allow_pickle=False
        raise PersistenceError(f"{where}: {ARRAYS_MEMBER} refused ({str(error).splitlines()[0]})") from error
    except Exception as error:
        raise PersistenceError(f"{where}: {ARRAYS_MEMBER} unreadable ({type(error).__name__})") from error


def _decode(node: dict, members: Mapping[str, bytes], arrays: dict[str, np.ndarray], where: str):
    kind = node["t"]
    if kind == "json":
        return node["v"]
    if kind == "scalar":
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "biuf":
            raise PersistenceError(f"{where}: scalar dtype {dtype} refused")
        return dtype.type(node["v"])
    if kind == "array":
        value = arrays[node["key"]]
        return value.astype(object) if node.get("object") else value
    if kind in ("list", "tuple"):
        items = [_decode(n, members, arrays, where) for n in node["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _decode(n, members, arrays, where) for k, n in node["items"].items()}
    if kind == "estimator":
        return _decode_estimator(node, members, arrays, where)
    if kind == "skops":
        return _load_skops(_member(members, node["member"], where), node["member"], where)
    if kind == "xgboost":
        return _load_xgboost(_member(members, node["member"], where), node["class"], where)
    if kind == "keras":
        return _load_keras(_member(members, node["member"], where), node["member"], where)
    raise PersistenceError(f"{where}: unknown node type {kind!r} in the model state")


def _member(members: Mapping[str, bytes], name: str, where: str) -> bytes:
    try:
        return members[name]
    except KeyError:
        raise PersistenceError(f"{where}: member {name} is missing") from None


def estimator_class(spec: str, where: str = "model") -> type:
    """The class named ``module:Qualname``: a scikit-learn estimator defined in this project's ``models``
    package (imported if needed) or in a module already imported (a ``--plugin`` file loaded beforehand)."""
    from sklearn.base import BaseEstimator

    module_name, _, qualname = spec.partition(":")
    if not module_name or not qualname:
        raise PersistenceError(f"{where}: malformed class name {spec!r}")
    module = sys.modules.get(module_name)
    if module is None:
        if module_name.split(".")[0] != OWN_ROOT:
            raise PersistenceError(f"{where}: the model class {qualname} comes from {module_name}, which is not "
                                   "loaded; load the plugin that defines it first (--plugin FILE)")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise PersistenceError(f"{where}: model class {spec} does not exist in this version") from None
    cls = module
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise PersistenceError(f"{where}: model class {spec} does not exist in this version")
    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise PersistenceError(f"{where}: {spec} is not a scikit-learn estimator class")
    return cls


def _decode_estimator(node: dict, members, arrays, where: str):
    cls = estimator_class(node["class"], where)
    params = {k: _decode(v, members, arrays, where) for k, v in node["params"].items()}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise PersistenceError(f"{where}: {cls.__name__} in this version has no parameter(s) {', '.join(unknown)}; "
                               "the model was saved by an incompatible version")
    estimator = cls(**params)
    for name, value_node in node["fitted"].items():
        if not (name.endswith("_") and name.isidentifier()) or name.startswith("__"):
            raise PersistenceError(f"{where}: {name!r} is not a fitted attribute name")
        setattr(estimator, name, _decode(value_node, members, arrays, where))
    return estimator


def _load_skops(data: bytes, name: str, where: str):
    import skops.io as sio

    trusted = checked_trusted_types(data, f"{where}: {name}")
    try:
        return sio.load(io.BytesIO(data), trusted=trusted)
    except Exception as error:
        raise PersistenceError(f"{where}: {name} cannot be loaded ({type(error).__name__})") from error


def _load_xgboost(data: bytes, cls_name: str, where: str):
    import xgboost

    if cls_name not in XGBOOST_CLASSES:
        raise PersistenceError(f"{where}: xgboost type {cls_name!r} refused")
    model = getattr(xgboost, cls_name)()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.json"
        source.write_bytes(data)
        try:
            model.load_model(str(source))
        except Exception as error:
            raise PersistenceError(f"{where}: XGBoost model cannot be loaded ({type(error).__name__})") from error
    return model


def _load_keras(data: bytes, name: str, where: str):
    keras = _import_keras()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.keras"
        source.write_bytes(data)
        try:
            return keras.saving.load_model(str(source), compile=False, safe_mode=True)
        except Exception as error:
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            raise PersistenceError(f"{where}: {name} refused by Keras safe mode or unreadable "
                                   f"({type(error).__name__}: {message})") from error
