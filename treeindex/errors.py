"""Exceptions raised by the treeindex library; the CLI turns them into messages and exit codes.

Every message names the file (or database), the place and the fix, on one line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of the commands (one place: the CLI and the library reports use it)."""

    OK = 0
    ERROR = 1  # bad input or database (nothing written), or a failure that kept the committed
    USAGE = 2  # click's: a wrong option
    SKIPPED = 3  # done, but malformed sentences or files were skipped
    INTERRUPTED = 128  # plus the signal number: 130 for Ctrl-C, 143 for SIGTERM, 129 SIGHUP


class TreeindexError(Exception):
    """An error the user can act on: the message names the file, the place and the fix."""


class InputError(TreeindexError):
    """An input is not a treebank, is empty, unreadable or was changed since it was indexed."""


class DatabaseError(TreeindexError):
    """The database cannot be used as asked (locked, other settings, not a treeindex database,
    read-only, full, corrupt)."""


class QueryError(TreeindexError):
    """Bad or forbidden SQL."""


class WorkerDied(TreeindexError):
    """A worker process died (killed, out of memory); what was committed stays."""


class Interrupted(TreeindexError):
    """The run was interrupted by a signal; what was committed stays and can be resumed."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


def suggest(wanted: str, have: list[str], one: str, many: str) -> str:
    """'unknown <one> X; the <many> in this index are (closest first): ...': names that
    differ only in case first, then by similarity."""
    import difflib  # (here: only a misspelt name needs it, not every command's start)

    folded = [h for h in have if h.lower() == wanted.lower()]
    close = difflib.get_close_matches(wanted.lower(), [h.lower() for h in have], n=len(have),
                                      cutoff=0.0)
    by_lower: dict[str, list[str]] = {}
    for h in have:
        by_lower.setdefault(h.lower(), []).append(h)
    ordered = folded + [h for low in close for h in by_lower[low] if h not in folded]
    return f"unknown {one} {wanted!r}; the {many} in this index are (closest first): " + \
        ", ".join(dict.fromkeys(ordered))


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127, *range(128, 160))}
_CONTROL.update({9: "\\t", 10: "\\n", 13: "\\r"})


_CONTROL_BUT_NEWLINE = {k: v for k, v in _CONTROL.items() if k != 10}


def visible(text: str, newlines: bool = False) -> str:
    """`text` with control characters written as escapes (\\n, \\t, \\x1b): a name with a
    newline or a tab cannot break a line of text output or a table, and an ESC in a file
    name never reaches the terminal raw. `newlines`: keep those (a message's own lines)."""
    if text.isprintable():
        return text
    return text.translate(_CONTROL_BUT_NEWLINE if newlines else _CONTROL)
