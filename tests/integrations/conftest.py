"""The framework integrations' tests: each framework for real, on CPU, with tiny models and
data made in the test (helpers in integration_helpers.py).

A test module imports its framework with ``integration_helpers.framework(module, extra)``,
which skips the module naming the extra to install, and fails under ``CI=true`` (CI must run
these tests). Keras runs on its torch backend, and Hugging Face never goes online.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
