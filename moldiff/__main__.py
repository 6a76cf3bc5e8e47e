"""``python -m moldiff`` runs the command line."""

from .cli import main

main()
