"""The ``moldiff`` command group and how it reports errors.

User mistakes (a :class:`~moldiff.core.errors.MoldiffError`) end in one line ``Error: ...`` on stderr and
exit code 2, without a traceback; output files are only written, atomically, once the work is done.
"""

from __future__ import annotations

import logging
import sys

import click

from moldiff import __version__
from moldiff.core.errors import MoldiffError

log = logging.getLogger("moldiff")


class UserError(click.ClickException):
    """A one-line error with exit code 2."""

    exit_code = 2


class MoldiffGroup(click.Group):
    """A click group that turns :class:`MoldiffError` into a one-line error, exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MoldiffError as exc:
            raise UserError(str(exc)) from None


class _EchoHandler(logging.Handler):
    """Writes ``warning: message`` to whatever stderr is now (tests and notebooks swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def _setup_logging() -> None:
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler())
        log.setLevel(logging.INFO)
        log.propagate = False


def _console():
    from rich.console import Console

    return Console()


@click.group(cls=MoldiffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="moldiff")
def cli() -> None:
    """moldiff: guided discrete diffusion for molecule design.

    Data sets are named by a spec wherever a molecule file is accepted: qm9 (all splits),
    qm9:train, qm9:valid, qm9:test, or a path to a .smi/.txt/.csv/.jsonl/.sdf file (optionally .gz).
    """
    _setup_logging()


def main() -> None:
    """Console-script entry point: every error is one line on stderr; user errors exit with 2."""
    try:
        code = cli.main(prog_name="moldiff", standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
