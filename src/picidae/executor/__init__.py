"""Running work: submit commands as queued runs, and workers that execute them.

``submit`` plans and stores queued runs (one per seed or grid point under a parent);
``worker`` claims them and hands each to a ``launcher``, which takes it through
provisioning (``provision``), syncing its inputs, running the command with its resources
sampled (``resources``) and priced (``prices``), evaluating, and an ending; ``parents`` ends
the parent of submitted children; ``rerun`` and ``cancel`` are the explicit re-execution and
stopping; ``flows`` the named, versioned templates. See docs/running.md.
"""
