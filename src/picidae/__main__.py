"""``python -m picidae`` runs the command line."""

from picidae.cli.main import main

main()
