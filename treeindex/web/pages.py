"""The HTML of the search page's results and of the tree page, made in a worker process of
web/runner.py (no datasette here: a worker imports only what a search needs)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

from lxml import etree
from markupsafe import Markup

from .. import draw

PAGE = 50


FIT_FROM = 1200  # a tree page's picture wider than this (px) is shown fitted at first


def tree_div(svg: str) -> Markup:
    return Markup(f'<div class="ti-tree">{svg}</div>')


def fitted_tree(svg: str) -> Markup:
    """A tree page's picture, with a "fit the window" switch (CSS only: the SVG scaled to
    the page's width, its whole height kept in proportion), on at first for a picture wider
    than FIT_FROM; off, it scrolls at full size."""
    m = re.search(r'\bwidth="(\d+)"', svg)
    on = " checked" if m and int(m.group(1)) > FIT_FROM else ""
    return Markup(f'<input type="checkbox" id="ti-fit" class="ti-fit"{on}>'
                  '<label for="ti-fit"> fit the window</label>'
                  f'<div class="ti-tree">{svg}</div>')


def _macros() -> dict[str, str]:
    from ..search import macros

    path = os.environ.get(macros.ENVIRONMENT)
    return macros.load(Path(path)) if path else {}


_kept: dict[str, Any] = {}


def keep(path: str) -> None:
    """With `serve --keep-memory MB`: this worker keeps the index's node table as
    superblocks (search/merged.py), as `treeindex server` does, brought up to date with the
    file before each search (a changed block is never used: see merged.py). Nothing
    otherwise."""
    from .runner import KEEP_ENV

    budget = int(os.environ.get(KEEP_ENV) or 0) << 20
    if budget <= 0:
        return
    from ..search import fast, merged

    kept = _kept.get(path)
    if kept is None:
        kept = _kept[path] = merged.Superblocks(path)
    kept.refresh(budget)
    fast.keep(kept)


# what a new worker searches first in each index (runner.Runner.warm): its notes, and its
# first hit as lxml finds it (the index opened and checked, the dictionary loaded, a
# sentence parsed), not the node table's: that would load numpy and the table's code into
# every worker (20 MB each) before any query needs them
WARM_QUERY = "//node[@cat]"


def warm(paths: tuple[str, ...]) -> int:
    """A small search of each index, whose answer is thrown away: the first search a user
    asks then finds the index opened and checked, its dictionary loaded. An index that
    cannot be searched (yet) is passed over: its own search says why. How many were
    searched."""
    from ..search import notes, search

    searched = 0
    for path in paths:
        try:
            notes(path, WARM_QUERY, _macros())
            for _ in search(path, WARM_QUERY, engine="lxml", workers=0, limit=1):
                pass
            searched += 1
        except Exception:  # noqa: BLE001, S112 - a warm-up is never an error
            continue
    return searched


def results(path: str, name: str, q: str, mode: str, attrs: str, page: int,
            corpora: tuple[str, ...] = ()) -> str:
    """The results of a search, as HTML (hits paged, counts or statistics), in `corpora`
    (none: all)."""
    from functools import partial

    from ..search import count, notes, search, stats
    from ..search.formats import attribute_names

    keep(path)
    macros = _macros()
    names = attribute_names(attrs) or ("lemma",)
    said = "".join(f'<p class="ti-note">note: {escape(n)}</p>'
                   for n in notes(path, q, macros, names if mode == "stats" else ()))
    chosen = list(corpora) or None
    told = partial(_tell, [0.0])
    return said + _results(path, name, q, mode, names, page, macros,
                           partial(count, corpora=chosen, progress_callback=told),
                           partial(search, corpora=chosen, progress_callback=told),
                           partial(stats, corpora=chosen, progress_callback=told), corpora)


PROGRESS_EVERY = 0.2  # seconds between two progress events of a search


def _tell(last: list[float], p: Any) -> None:
    """A search's progress, sent to the web process (web/runner.py `emit`) at most every
    PROGRESS_EVERY seconds: (sentences searched, sentences to search, hits so far)."""
    import time

    from .runner import emit

    now = time.monotonic()
    if now - last[0] >= PROGRESS_EVERY:
        last[0] = now
        emit(("progress", p.sentences_done, p.sentences_total, p.hits))


def _results(path: str, name: str, q: str, mode: str, names: tuple[str, ...], page: int,
             macros: dict[str, str], count: Any, search: Any, stats: Any,
             corpora: tuple[str, ...] = ()) -> str:
    if mode == "count":
        counts = count(path, q, macros=macros, workers=0)
        words = corpus_words(path, corpora)
        top = max([h for h, _ in counts.corpora.values()] or [1])
        rows = "".join(
            f"<tr><td>{escape(c)}</td><td>{h:,}</td><td>{s:,}</td>"
            f"<td>{per_million(h, words.corpora.get(c, (0, 0))[0])}</td><td><div "
            f"class='ti-bar' style='width:{300 * h / top:.0f}px'></div></td></tr>"
            for c, (h, s) in counts.corpora.items())
        return (f"<table class='ti'><tr><th>corpus</th><th>hits</th><th>sentences</th>"
                f"<th>per million words</th><th></th></tr>{rows}<tr><td>(all)</td>"
                f"<td>{counts.hits:,}</td><td>{counts.sentences:,}</td>"
                f"<td>{per_million(counts.hits, words.hits)}</td><td></td></tr></table>")
    if mode == "stats":
        table = stats(path, q, names, macros=macros, workers=0)
        words = corpus_words(path, corpora).hits
        total = sum(n for _, n in table) or 1
        top = table[0][1] if table else 1
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(v if v is not None else '[missing]')}</td>"
                             for v in values) +
            f"<td>{n:,}</td><td>{100 * n / total:.2f}%</td><td>{per_million(n, words)}</td>"
            f"<td><div class='ti-bar' style='width:{300 * n / top:.0f}px'></div></td></tr>"
            for values, n in table[:500])
        head = "".join(f"<th>{escape(a)}</th>" for a in names)
        return (f"<table class='ti'><tr>{head}<th>count</th><th>percent of hits</th>"
                f"<th>per million words</th><th></th></tr>{rows}</table>"
                f"<p class='ti-words'>{words:,} words (tokens: nodes with a word, "
                "punctuation included) in the corpora searched</p>")
    first = (page - 1) * PAGE
    hits = list(search(path, q, macros=macros, workers=0, limit=first + PAGE + 1))
    shown = hits[first:first + PAGE]
    lines = []
    for n, h in enumerate(shown, first + 1):
        text = _bracketed(h.sentence or "", set(h.positions))
        link = hit_link(name, h, q, n, corpora)
        lines.append(f"<li value='{n}'><a href='{escape(link)}'>{escape(h.corpus)} "
                     f"{escape(h.sentid)}</a>" + (f" <code>{escape(h.label)}</code>"
                                                   if h.label else "") + f": {text}</li>")
    nav = []
    base = [("db", name), ("q", q), ("mode", mode)] + [("corpus", c) for c in corpora]
    if page > 1:
        nav.append(f"<a href='?{escape(urlencode(base + [('page', page - 1)]))}'>previous</a>")
    if len(hits) > first + PAGE:
        nav.append(f"<a href='?{escape(urlencode(base + [('page', page + 1)]))}'>next</a>")
        counting = [(k, "count" if k == "mode" else v) for k, v in base]
        nav.append(f"<a class='ti-count-all' href='?{escape(urlencode(counting))}'>count all "
                   "hits and sentences</a>")
    if not shown:
        return "<p>No hits.</p>"
    return f"<ol class='ti-hits'>{''.join(lines)}</ol><p>{' | '.join(nav)}</p>"


def download(path: str, q: str, fmt: str, attrs: str, corpora: tuple[str, ...] = ()
             ) -> Iterator[str]:
    """The lines of a download (web/plugin.py `download`): every hit as CSV, JSON lines or
    a treebank of the matching sentences, or the statistics with counts, percent of hits
    and per million words as CSV. Lines are made as they are sent."""
    from ..search import search, stats
    from ..search.formats import MISSING, attribute_names, hit_lines, table_lines

    keep(path)
    macros = _macros()
    chosen = list(corpora) or None
    if fmt == "stats":
        names = attribute_names(attrs) or ("lemma",)
        table = stats(path, q, names, corpora=chosen, macros=macros, workers=0)
        words = corpus_words(path, corpora).hits
        total = sum(n for _, n in table) or 1
        rows: list[list[Any]] = [
            [*(MISSING if v is None else v for v in values), n, round(100 * n / total, 4),
             round(n * 1e6 / words, 4) if words else None] for values, n in table]
        yield from table_lines([*names, "count", "percent_of_hits", "per_million_words"],
                               rows, "csv")
        return
    hits = search(path, q, corpora=chosen, macros=macros, workers=0, with_xml=fmt == "xml")
    yield from hit_lines(hits, fmt)


WORDS = "//node[@word]"  # a sentence's tokens (punctuation included), as PaQu counts them
_words: dict[tuple, Any] = {}


def corpus_words(path: str, corpora: tuple[str, ...]) -> Any:
    """The tokens of the corpora searched (all: `()`), per corpus and in all (search.Counts
    of WORDS): counted once for each state of the index file (connect.file_state: any
    ingest, `rm` or `rename` changes it), not again for every page."""
    from ..search import count
    from ..store.connect import file_state

    key = (path, corpora, file_state(Path(path)))
    got = _words.get(key)
    if got is None:
        if len(_words) >= 64:
            _words.clear()
        got = _words[key] = count(path, WORDS, corpora=list(corpora) or None, workers=0)
    return got


def per_million(n: int, words: int) -> str:
    return f"{n * 1e6 / words:,.1f}" if words else ""


def hit_link(name: str, h: Any, q: str, n: int, corpora: tuple[str, ...]) -> str:
    """The tree page of the n-th hit of q (which gets links to the hits before and after).
    (urlencode's form, each value quoted once per page, not once per hit: a page of 50
    hits quoted the query 50 times, 6 ms.)"""
    return (f"/-/treeindex/tree?db={_quoted(name)}&corpus={_quoted(h.corpus)}"
            f"&sentid={_quoted(h.sentid)}&hit={_quoted(h.id or '')}&q={_quoted(q)}&n={n}"
            + "".join(f"&in={_quoted(c)}" for c in corpora))


@lru_cache(maxsize=256)
def _quoted(value: str) -> str:
    return quote_plus(value)


def _neighbours(path: str, name: str, q: str, n: int, corpora: tuple[str, ...]) -> str:
    """Links to the hits before and after the n-th hit of q (the search runs again, to hit
    n + 1: cheap for the first pages of hits, as the tree page is reached from them)."""
    from ..search import search

    hits = list(search(path, q, macros=_macros(), corpora=list(corpora) or None, workers=0,
                       limit=n + 1))
    links = []
    if 1 < n <= len(hits) + 1:
        href = hit_link(name, hits[n - 2], q, n - 1, corpora)
        links.append(f"<a class='ti-prev' href='{escape(href)}'>previous hit ({n - 1})</a>")
    if len(hits) > n:
        href = hit_link(name, hits[n], q, n + 1, corpora)
        links.append(f"<a class='ti-next' href='{escape(href)}'>next hit ({n + 1})</a>")
    if not links:
        return ""
    return (f"<p class='ti-around'>hit {n} of <code>{escape(q)}</code>: "
            + " | ".join(links) + "</p>")


def _bracketed(sentence: str, marked: set[int]) -> str:
    """The sentence, escaped, with each run of the hit's words in one bracketed span."""
    words = escape(sentence).split()  # (escaping puts no space in: the same words)
    if not marked:
        return " ".join(words)
    for k in marked:
        if 0 <= k < len(words):
            words[k] = (('<span class="ti-hit">[' if k - 1 not in marked else "") + words[k] +
                        ("]</span>" if k + 1 not in marked else ""))
    return " ".join(words)



def tree(path: str, corpus: str | None, sentid: str, hit: str | None,
         highlight: str | None, db_name: str = "", q: str = "", n: int = 0,
         corpora: tuple[str, ...] = ()) -> str:
    """A sentence's tree, the hit (and what `highlight` selects) highlighted, as HTML; for a
    hit, a link to search for subtrees of its shape (search by example), and for the n-th
    hit of query q, links to the hits before and after it."""
    from ..show import find, highlight_query

    found = find(path, sentid, corpus)
    if hit:
        found.highlight.add(hit)
    if highlight:
        highlight_query(found, highlight)
    root = found.root()
    sentence = root.findtext("sentence") or ""
    from ..search.like import like_xpath

    def like(el: etree._Element) -> tuple[str, str]:  # search by example, from any node
        return ("/-/treeindex/search?" + urlencode({"db": db_name, "q": like_xpath(el)}),
                "find more like this: subtrees of this node's shape")

    caption = f"{found.corpus} {found.sentid}" + (f": {sentence}" if sentence else "")
    more = ""
    node = next((el for el in root.iter("node") if hit and el.get("id") == hit), None)
    if node is not None:
        more = (f"<p><a class='ti-like' href='{escape(like(node)[0])}'>find more like this"
                "</a> (subtrees of the hit's shape: its category and its children's; or "
                "click any node of the tree)</p>")
    around = _neighbours(path, db_name, q, n, corpora) if q and n > 0 else ""
    picture = fitted_tree(draw.svg(root, found.highlight, like, caption))
    return (f"<h2>{escape(found.corpus)} {escape(found.sentid)}</h2>{around}"
            f"<p>{escape(sentence)}</p>{more}{picture}" + node_panel(root, found.highlight))


# the attributes the panel shows first, as columns (the others in one column after them)
_PANEL = ("id", "rel", "cat", "pt", "word", "lemma", "postag", "frame", "index", "begin",
          "end")


def node_panel(root: etree._Element, highlight: set[str]) -> str:
    """Every node's attributes, a row each in document order (hits marked), folded under
    the tree: what the boxes show only as tooltips."""
    rows = []
    for el in root.iter("node"):
        have = {str(k): str(v) for k, v in el.attrib.items()}
        cells = "".join(f"<td>{escape(have.get(a, ''))}</td>" for a in _PANEL)
        rest = " ".join(f"{k}={v}" for k, v in sorted(have.items()) if k not in _PANEL)
        hit = ' class="ti-hit-row"' if have.get("id") in highlight else ""
        rows.append(f"<tr{hit}>{cells}<td>{escape(rest)}</td></tr>")
    head = "".join(f"<th>{a}</th>" for a in _PANEL) + "<th>other attributes</th>"
    return (f'<details class="ti-nodes"><summary>Attributes of every node ({len(rows)})'
            f"</summary><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></details>")
