"""``python -m moldiff`` runs the command line."""

from moldiff.cli import main

main()
