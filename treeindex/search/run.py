"""Running a search: sentences in ranges of a corpus, evaluated by workers, hits in document
order (corpus, sentence, node pre-order), identical for any number of workers."""

from __future__ import annotations

from typing import NamedTuple

from lxml import etree

from ..store import Index
from .xpath import Query

SENTENCES_PER_TASK = 500
# where a stored sentence is parsed: no DTD, no entities, no network (it was checked once)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          collect_ids=False, remove_blank_text=False)


class Hit(NamedTuple):
    """One selected `node`."""

    corpus: str
    sentid: str
    id: str | None  # the node's @id
    cat: str | None
    pt: str | None
    rel: str | None
    begin: int | None
    end: int | None
    words: list[str]  # the words under the node, in sentence order
    positions: list[int]  # their positions (@begin) in the sentence
    sentence: str  # the plain sentence
    label: str | None  # 'np-17' when the node is a kept subtree
    seq: int  # the sentence's position in its corpus
    values: tuple = ()  # the attributes asked for (SearchTask.attrs), None where missing
    xml: bytes | None = None  # the sentence's XML, on its first hit (SearchTask.with_xml)


class SearchTask(NamedTuple):
    db: str
    query: str  # the query's text, macros expanded (each worker compiles it once)
    corpus_id: int
    corpus: str
    first_seq: int
    last_seq: int
    with_xml: bool  # also return the matching sentences' XML
    attrs: tuple[str, ...] = ()  # attributes of each hit to return (for statistics)
    details: bool = True  # words, positions and label (counting needs none of them)
    seqs: tuple[int, ...] | None = None  # only these sentences (the candidates) of the range


class TaskHits(NamedTuple):
    sentences: int  # sentences evaluated
    hits: list[Hit]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _leaves(el: etree._Element) -> list[tuple[int, str]]:
    """(begin, word) of the words under `el` (itself included), in sentence order."""
    return sorted((b, w) for leaf in el.iter("node")
                  if (w := leaf.get("word")) is not None
                  and (b := _int(leaf.get("begin"))) is not None)


_queries: dict[str, Query] = {}


def run_search_task(task: SearchTask) -> TaskHits:
    """Evaluate the query on every sentence of a range (in a worker)."""
    index = Index.for_process(task.db)
    query = _queries.get(task.query)
    if query is None:
        query = _queries[task.query] = Query(task.query)
    hits: list[Hit] = []
    # (hit, the sentence's first subtree, the node's position) of the hits that may have a
    # label: read after the loop, one query for all the task's sentences (one a sentence
    # was a third of a first page's SQL)
    labelled: list[tuple[int, int, int]] = []
    ranges: list[tuple[int, int]] = []
    n = 0
    rows = (index.sentences(task.corpus_id, task.first_seq, task.last_seq) if task.seqs is None
            else index.sentences_at(task.corpus_id, list(task.seqs)))
    for seq, sentid, text, zxml, first, count in rows:
        n += 1
        xml = index.decode(zxml)
        root = etree.fromstring(xml, _PARSER)
        found = query.select(root)
        if not found:
            continue
        # lxml returns a node-set once each, in document order; elementpath need not
        ordered = query.engine == "lxml"
        labelled_here = bool(count and task.details)  # (kept subtrees: labels to read)
        if labelled_here:
            ranges.append((first, first + count - 1))
        order = ({el: i for i, el in enumerate(root.iter("node"))}
                 if labelled_here or not ordered else {})
        sentence = (text if text is not None or not task.details  # (no <sentence>: the
                    else " ".join(w for _, w in _leaves(root))) or ""  # leaves' words)
        first_hit = True
        for el in found if ordered else sorted(set(found), key=order.__getitem__):
            leaves = _leaves(el) if task.details else []
            if labelled_here:
                labelled.append((len(hits), first, order[el]))
            hits.append(Hit(task.corpus, sentid, el.get("id"), el.get("cat"), el.get("pt"),
                            el.get("rel"), _int(el.get("begin")), _int(el.get("end")),
                            [w for _, w in leaves], [b for b, _ in leaves], sentence,
                            None, seq, tuple(el.get(a) for a in task.attrs),
                            xml if task.with_xml and first_hit else None))
            first_hit = False
    if labelled:
        found_labels = index.labels_of(ranges)
        for k, first, node in labelled:
            label = found_labels.get((first, node))
            if label is not None:
                hits[k] = hits[k]._replace(label=label)
    return TaskHits(n, hits)
