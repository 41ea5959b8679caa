"""treeindex: a queryable SQLite index of the subtrees of Alpino treebanks."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import DatabaseError, InputError, Interrupted, TreeindexError  # noqa: E402
from .ingest import IngestReport, Progress, ingest  # noqa: E402

__all__ = [
    "DatabaseError",
    "IngestReport",
    "InputError",
    "Interrupted",
    "Progress",
    "TreeindexError",
    "ingest",
]
