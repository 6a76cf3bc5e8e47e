"""The ``moldiff`` command line, one module per command group.

User mistakes (a :class:`~moldiff.core.errors.MoldiffError`) end in one line ``Error: ...`` on stderr and
exit code 2, without a traceback; output files are only written, atomically, once the work is done.

May import: every layer (the command line is the top layer).
"""

from moldiff.cli import data, models, oracle, sample, targets, train  # noqa: F401  (each registers its commands)
from moldiff.cli.app import cli, main

__all__ = ["cli", "main"]
