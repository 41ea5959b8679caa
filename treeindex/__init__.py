"""treeindex: a queryable SQLite index of the subtrees of Alpino treebanks.

The names below are imported when first used, so that a command that does not ingest (a
search, say) starts without loading the ingest machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .errors import DatabaseError, InputError, Interrupted, TreeindexError  # noqa: E402

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import indexer

        return getattr(indexer, name)
    raise AttributeError(f"module 'treeindex' has no attribute {name!r}")
