"""Framework integrations: one module per framework, each a thin adapter over the SDK.

``picidae.integrations.lightning``, ``.transformers``, ``.keras``, ``.xgboost``,
``.lightgbm`` and ``.optuna``. Importing this package imports no framework; each module
imports its framework when its object is first used, and raises ``MissingDependency``
naming ``pip install 'picidae[EXTRA]'`` when the framework is absent (see
docs/integrations.md).
"""
