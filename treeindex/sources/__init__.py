"""Input formats: one module per format behind one small contract (`base.Format`).

- `treebank`: `<treebank>` files of `<alpino_ds>` sentences (.xml, .xml.gz);
- `folder`: directories of one-sentence files;
- `compact`: Alpino's compact corpora (`X.data.dz` + `X.index`).

`discover` turns the paths given to ingest into corpora; `FORMATS` finds a corpus's format
by its kind (as stored in `corpora.kind`), `reader` a task's reader by the task's kind.
Adding a format: docs/design.md, "Adding an input format".
"""

from __future__ import annotations

from collections.abc import Callable

from ..worker.contract import Task, TaskInput
from .base import Corpus, Format, Resume
from .compact import Compact
from .folder import Folder
from .treebank import TreebankFile

FORMATS: dict[str, Format] = {f.kind: f for f in (TreebankFile(), Folder(), Compact())}


def _more_formats() -> None:
    from .archive import Archive, ArchiveTreebank  # (it uses discovery: registered after)

    for f in (Archive(), ArchiveTreebank()):
        FORMATS[f.kind] = f
        for k in f.task_kinds:
            _READERS[k] = f
_READERS: dict[str, Format] = {k: f for f in FORMATS.values() for k in f.task_kinds}


def reader(task_kind: str) -> Callable[[Task], TaskInput]:
    """The function that reads the sentences of a task of this kind."""
    return _READERS[task_kind].read


from .discovery import Discovery, discover, natural_key  # noqa: E402

_more_formats()

__all__ = ["FORMATS", "Corpus", "Discovery", "Format", "Resume", "discover", "natural_key",
           "reader"]
