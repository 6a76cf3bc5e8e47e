"""A griffe extension for the API reference: reST roles in docstrings shown as plain code.

moldiff's docstrings name other objects the Sphinx way, ``:func:`load` `` or
``:class:`~moldiff.core.errors.MoldiffError` ``. mkdocstrings renders Markdown, where such a role
would show as the text ``:func:`` followed by the name. This extension rewrites each role to the
name alone, in backquotes: a leading ``~`` keeps the last dotted component (as in Sphinx), a
leading ``.`` (a name relative to the current module) is dropped. The docstrings in the code are
left as they are; only the copy that the documentation site renders changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`([^`]+)`")


def _name(target: str) -> str:
    target = target.strip()
    if target.startswith("~"):
        return target.lstrip("~").rsplit(".", 1)[-1]
    return target.lstrip(".")


def strip_roles(text: str) -> str:
    """``text`` with every reST cross-reference role replaced by its name in backquotes."""
    return ROLE.sub(lambda match: f"`{_name(match.group(1))}`", text)


class ReSTRoles(griffe.Extension):
    """Rewrite reST roles in every docstring that griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = strip_roles(obj.docstring.value)
