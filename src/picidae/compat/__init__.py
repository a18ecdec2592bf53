"""Drop-in SDKs for programs written against other trackers (see docs/migrating.md):
``import picidae.compat.wandb as wandb`` and ``import picidae.compat.runicorn as rn`` record
into Picidae with only the import line changed. Neither needs the other tracker installed."""
