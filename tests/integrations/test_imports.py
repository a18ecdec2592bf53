"""The integrations import their framework only when used, and name the extra to install
when it is missing. Each check runs in a fresh interpreter, where ``sys.modules`` is clean."""

from __future__ import annotations

import json
from typing import Any

from integration_helpers import framework

FRAMEWORKS = ["torch", "lightning", "pytorch_lightning", "transformers", "keras", "xgboost",
              "lightgbm", "optuna", "tensorflow", "jax"]
MODULES = {"lightning": "PicidaeLogger", "transformers": "PicidaeCallback",
           "keras": "PicidaeCallback", "xgboost": "PicidaeCallback",
           "lightgbm": "PicidaeCallback", "optuna": "PicidaeCallback"}


def test_import_picidae_and_its_integration_modules_load_no_framework(run_script: Any) -> None:
    proc = run_script(f"""
        import json, sys
        import picidae, picidae.integrations
        for name in {sorted(MODULES)!r}:
            __import__("picidae.integrations." + name)
        print(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))
    """)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_a_missing_framework_raises_missing_dependency_naming_the_extra(
        run_script: Any) -> None:
    # A framework that is absent: None in sys.modules makes its import fail, as it would.
    proc = run_script(f"""
        import importlib, json, sys
        for name in {FRAMEWORKS!r}:
            sys.modules[name] = None
        import picidae
        out = {{}}
        for module, obj in {MODULES!r}.items():
            mod = importlib.import_module("picidae.integrations." + module)
            try:
                getattr(mod, obj)()
            except picidae.MissingDependency as exc:
                out[module] = [str(exc), isinstance(exc, ImportError)]
        try:
            from picidae.integrations.keras import PicidaeCallback
        except ImportError as exc:
            out["from-import"] = [str(exc), isinstance(exc, picidae.MissingDependency)]
        print(json.dumps(out))
    """)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for module in MODULES:
        message, is_import_error = out[module]
        assert f"pip install 'picidae[{module}]'" in message and is_import_error
    assert out["from-import"] == ["this feature needs 'keras': pip install 'picidae[keras]'",
                                  True]


def test_the_contract_names_import_from_a_fresh_interpreter(run_script: Any) -> None:
    for module in ("lightning", "transformers", "keras", "xgboost", "lightgbm", "optuna"):
        framework(module, module)
    proc = run_script("""
        import os
        os.environ.setdefault("KERAS_BACKEND", "torch")
        from picidae.integrations.lightning import PicidaeLogger
        from picidae.integrations.transformers import PicidaeCallback as HF
        from picidae.integrations.keras import PicidaeCallback as Keras
        from picidae.integrations.xgboost import PicidaeCallback as XGB
        from picidae.integrations.lightgbm import PicidaeCallback as LGB
        from picidae.integrations.optuna import PicidaeCallback as Optuna
        import keras, lightning.pytorch, transformers, xgboost
        assert issubclass(PicidaeLogger, lightning.pytorch.loggers.Logger)
        assert issubclass(HF, transformers.TrainerCallback)
        assert issubclass(Keras, keras.callbacks.Callback)
        assert issubclass(XGB, xgboost.callback.TrainingCallback)
        assert callable(LGB()) and callable(Optuna())
        print("ok")
    """, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_an_installed_framework_that_fails_to_import_says_why_not_pip_install(
        run_script: Any) -> None:
    # Keras 3 is installed but its default backend (TensorFlow) is not: the error used to say
    # "pip install 'picidae[keras]'", which changes nothing; it must name the real cause.
    import importlib.util

    import pytest

    if importlib.util.find_spec("keras") is None:
        framework("keras", "keras")  # skips, or fails under CI=true
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed, so Keras's default backend imports")
    proc = run_script("""
        import picidae
        import picidae.integrations.keras as integration
        try:
            integration.PicidaeCallback
        except picidae.MissingDependency as exc:
            print(exc)
    """, env={"KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr
    assert "'keras' is installed but cannot be imported" in proc.stdout
    assert "tensorflow" in proc.stdout and "KERAS_BACKEND=torch" in proc.stdout
    assert "pip install" not in proc.stdout
