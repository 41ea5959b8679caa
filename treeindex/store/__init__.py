"""The store: the index's schema (plain .sql files), connections, the single writer, and the
read side (`Index`). It never imports the worker or the input formats: what it needs of them
is written down as protocols (`writer.CorpusInfo`, `writer.Batch`) and as the packed-row
format (`packed`), which the worker writes and the writer reads."""

from .connect import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SETTING_KEYS,
    IngestLock,
    atomic,
    build_indexes,
    check_settings,
    connect_read,
    connect_write,
    database_error,
    dictionary,
    finish,
    leave_wal,
    nodes_from,
    save_dictionary,
    schema_sql,
    terms_from,
    translate_errors,
)
from .index import CorpusRow, Index, Sentence

__all__ = [
    "APPLICATION_ID", "SCHEMA_VERSION", "SETTING_KEYS", "CorpusRow", "Index", "IngestLock",
    "Sentence", "atomic", "build_indexes", "check_settings", "connect_read", "connect_write",
    "database_error", "dictionary", "finish", "leave_wal", "nodes_from", "save_dictionary",
    "schema_sql", "terms_from", "translate_errors",
]
