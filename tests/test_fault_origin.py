"""Whose fault: a bug inside a plugin, a model factory or the persistence layer is exit 1 with its traceback
(the cause chained), never the one-line "your mistake" of exit 2; what truly is the user's stays exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.cli import main
from features.errors import UserInputError
from features.plugins import PluginError, load_plugins
from models import MODELS, register_model
from models.persistence import PersistenceError, PersistenceFault, _skops_bytes, load_estimator
from models.registry import ModelFactoryError, check_params


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("SER_DEBUG", raising=False)  # SER_DEBUG re-raises instead of printing the one line


def _traceback_file(err: str) -> str:
    found = re.search(r"full traceback in (\S+?);", err)
    assert found, err
    return Path(found.group(1)).read_text()


def test_a_plugin_that_raises_while_loading_is_a_fault_with_its_cause(tmp_path):
    plugin = tmp_path / "buggy_import.py"
    plugin.write_text("def helper():\n    return {}['missing']\n\nhelper()\n")
    with pytest.raises(PluginError, match="buggy_import.py failed to load: KeyError") as caught:
        load_plugins([plugin])
    assert not isinstance(caught.value, UserInputError)
    assert isinstance(caught.value.__cause__, KeyError)


def test_the_command_line_says_where_the_plugins_traceback_is_and_exits_1(tmp_path, capsys):
    plugin = tmp_path / "buggy_list.py"
    plugin.write_text("raise ZeroDivisionError('the author divided by zero')\n")
    assert main(["list", "--plugin", str(plugin)]) == 1
    err = capsys.readouterr().err
    assert "internal error: PluginError" in err and "buggy_list.py" in err
    text = _traceback_file(err)
    assert "ZeroDivisionError: the author divided by zero" in text  # the plugin's own exception, chained
    assert "The above exception was the direct cause" in text


def test_a_plugin_the_registry_refuses_is_still_the_users_one_line(tmp_path, capsys):
    plugin = tmp_path / "taken.py"
    plugin.write_text("from features import feature_set\n\n\n@feature_set('rms')\ndef rms(clip):\n    return {}\n")
    assert main(["list", "--plugin", str(plugin)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "feature set 'rms' is already registered" in err[0] and "taken.py" in err[0]


def test_a_factory_that_crashes_on_its_defaults_is_a_fault_not_a_model_error():
    def crashing(**params):
        return {}["a key the author forgot"]

    register_model("crashes_on_defaults", crashing, replace=True)
    try:
        with pytest.raises(ModelFactoryError, match="'crashes_on_defaults' cannot be built") as caught:
            check_params("crashes_on_defaults", {"C": 1.0})
        assert isinstance(caught.value.__cause__, KeyError) and not isinstance(caught.value, UserInputError)
    finally:
        MODELS.pop("crashes_on_defaults")


def test_a_factory_refusing_the_user_keeps_the_users_message():
    def refusing(**params):
        raise UserInputError("this model needs --set refusing.depth")

    register_model("refusing", refusing, replace=True)
    try:
        with pytest.raises(UserInputError, match="needs --set refusing.depth"):
            check_params("refusing", {"depth": 3})
    finally:
        MODELS.pop("refusing")


def test_skops_failing_while_it_writes_is_a_fault_with_its_cause(monkeypatch):
    import skops.io as sio

    def broken_dumps(value):
        raise RuntimeError("skops broke")

    monkeypatch.setattr(sio, "dumps", broken_dumps)
    with pytest.raises(PersistenceFault, match="skops failed to store") as caught:
        _skops_bytes(object(), "model.scaler")
    assert isinstance(caught.value.__cause__, RuntimeError) and not isinstance(caught.value, UserInputError)


def test_a_damaged_saved_model_is_the_users_file_with_the_cause_kept():
    with pytest.raises(PersistenceError, match="is not valid JSON") as caught:
        load_estimator({"estimator.json": b"{not json"}, where="bundle.zip")
    assert caught.value.__cause__ is not None
