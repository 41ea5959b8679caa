"""treeindex: a queryable SQLite index of the subtrees of Alpino treebanks.

The names below are imported when first used, so that a command that does not ingest (a
search, say) starts without loading the ingest machinery.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # (typing's import alone costs the `treeindex` command 20 ms)
if TYPE_CHECKING:
    from typing import Any

    from .errors import DatabaseError, InputError, Interrupted, TreeindexError
    from .indexer import IngestReport, Progress, ingest

__all__ = [
    "DatabaseError",
    "IngestReport",
    "InputError",
    "Interrupted",
    "Progress",
    "TreeindexError",
    "ingest",
]

_LAZY = {"ingest", "IngestReport", "Progress"}
_ERRORS = {"DatabaseError", "InputError", "Interrupted", "TreeindexError"}


def __getattr__(name: str) -> "Any":
    if name in _ERRORS:
        from . import errors

        return getattr(errors, name)
    if name in _LAZY:
        from . import indexer

        return getattr(indexer, name)
    raise AttributeError(f"module 'treeindex' has no attribute {name!r}")
