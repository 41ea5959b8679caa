"""The datasette plugin (registered through datasette's entry point; `treeindex serve` starts
datasette with it, read-only).

- SQL functions on every connection: `treeindex_xml(xml)` (a stored sentence's XML, as text)
  and `treeindex_svg(xml)` (its tree, as SVG);
- cells render as trees: a `sentences` row's `xml`, and the `node` of any row that also has
  `sentence_id` (`subtrees`, `subtree_info`, views built on them);
- `/-/treeindex/search`: an XPath box (macros from the server's macros file), hits paged in
  document order, the hit's words in brackets, each linking to its tree with the hit
  highlighted (`/-/treeindex/tree`); counts and statistics as tables with bars.
Every word and attribute is escaped; nothing here writes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl  # type: ignore[import-untyped]
from datasette.utils.asgi import Response  # type: ignore[import-untyped]
from lxml import etree
from markupsafe import Markup

from .. import draw
from ..errors import TreeindexError
from ..store import Index
from ..store.codec import Decoder

PAGE = 50
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_STYLE = """<style>
.ti-hit{background:#ffd54f;font-weight:bold}.ti-bar{background:#5c7cfa;height:12px}
.ti-tree{overflow-x:auto;max-width:100%}.ti-form input[type=text]{width:70%}
table.ti td,table.ti th{padding:2px 8px;text-align:left}</style>"""


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    decode = Decoder(conn)

    def xml(blob: bytes | None) -> str | None:
        return None if blob is None else decode(blob).decode("utf-8")

    def svg(blob: bytes | None) -> str | None:
        return None if blob is None else draw.svg(etree.fromstring(decode(blob), _PARSER))

    conn.create_function("treeindex_xml", 1, xml, deterministic=True)
    conn.create_function("treeindex_svg", 1, svg, deterministic=True)


def _tree_html(svg: str) -> Markup:
    return Markup(f'<div class="ti-tree">{svg}</div>')


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Any:
    if column == "xml" and table == "sentences" and isinstance(value, bytes):
        index = _index(datasette.get_database(database).path)
        return _tree_html(draw.svg(etree.fromstring(index.decode(value), _PARSER)))
    keys = row.keys() if hasattr(row, "keys") else []
    if column == "node" and "sentence_id" in keys and isinstance(value, int):
        sentence = row["sentence_id"]
        if isinstance(sentence, dict):  # a foreign key datasette expanded: {value, label}
            sentence = sentence.get("value")
        if not isinstance(sentence, int):
            return None
        index = _index(datasette.get_database(database).path)
        found = index.conn.execute("SELECT xml FROM sentences WHERE id = ?",
                                   (sentence,)).fetchone()
        if found is None:
            return None
        nodes = list(etree.fromstring(index.decode(found[0]), _PARSER).iter("node"))
        return _tree_html(draw.svg(nodes[value])) if 0 <= value < len(nodes) else None
    return None


_indexes: dict[tuple[str, int], Index] = {}


def _index(path: str) -> Index:
    """One read-only Index per database and thread, kept open: a table page renders a
    hundred cells, each of which would otherwise open the file and load its dictionary."""
    key = (path, threading.get_ident())
    index = _indexes.get(key)
    if index is None:
        index = _indexes[key] = Index(path)
    return index


@hookimpl
def register_routes() -> list:
    return [(r"^/-/treeindex/search$", search_page), (r"^/-/treeindex/tree$", tree_page)]


@hookimpl
def menu_links(datasette: Any) -> list:
    return [{"href": datasette.urls.path("/-/treeindex/search"), "label": "XPath search"}]


def _db_path(datasette: Any, name: str | None) -> tuple[str, str]:
    names = [n for n, d in datasette.databases.items() if d.path]
    if not names:
        raise TreeindexError("no database is served")
    chosen: str = name if name is not None and name in names else names[0]
    return chosen, str(datasette.databases[chosen].path)


def _macros() -> dict[str, str]:
    from ..search import macros

    path = os.environ.get(macros.ENVIRONMENT)
    return macros.load(Path(path)) if path else {}


_TEMPLATE = ('{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}'
             '{% block content %}<h1>{{ title }}</h1>{{ style }}{{ body }}{% endblock %}')


def _page(datasette: Any, request: Any, title: str, body: str) -> Any:
    template = datasette.jinja_env.from_string(_TEMPLATE)
    return datasette.render_template(template, {"title": title, "body": Markup(body),
                                                "style": Markup(_STYLE)}, request=request)


async def search_page(datasette: Any, request: Any) -> Response:
    from ..search import count, search, stats

    args = request.args
    q = args.get("q", "")
    name, path = _db_path(datasette, args.get("db"))
    mode = args.get("mode", "hits")
    attrs = args.get("attrs", "lemma")
    try:
        page = max(int(args.get("page", "1")), 1)
    except ValueError:
        page = 1
    form = (f'<form class="ti-form" action="" method="get"><input type="hidden" name="db" '
            f'value="{escape(name)}"><input type="text" name="q" value="{escape(q)}" '
            f'placeholder=\'//node[@cat="np" and node[@rel="det"]]\'> '
            f'<select name="mode">' + "".join(
                f'<option value="{m}"{" selected" if m == mode else ""}>{m}</option>'
                for m in ("hits", "count", "stats")) +
            f'</select> <input type="text" name="attrs" value="{escape(attrs)}" '
            f'style="width:8em" title="attributes for stats"> '
            f'<input type="submit" value="Search"></form>')
    body = [form]
    if q:
        try:
            body.append(await datasette.get_database(name).execute_fn(
                lambda conn: _results(path, name, q, mode, attrs, page, search, count, stats)))
        except TreeindexError as e:
            body.append(f'<p class="message-error">{escape(str(e))}</p>')
    return Response.html(await _page(datasette, request, "XPath search", "".join(body)))


def _results(path: str, name: str, q: str, mode: str, attrs: str, page: int, search: Any,
             count: Any, stats: Any) -> str:
    macros = _macros()
    if mode == "count":
        counts = count(path, q, macros=macros, workers=0)
        top = max([h for h, _ in counts.corpora.values()] or [1])
        rows = "".join(
            f"<tr><td>{escape(c)}</td><td>{h:,}</td><td>{s:,}</td><td><div class='ti-bar' "
            f"style='width:{300 * h / top:.0f}px'></div></td></tr>"
            for c, (h, s) in counts.corpora.items())
        return (f"<table class='ti'><tr><th>corpus</th><th>hits</th><th>sentences</th>"
                f"<th></th></tr>{rows}<tr><td>(all)</td><td>{counts.hits:,}</td>"
                f"<td>{counts.sentences:,}</td><td></td></tr></table>")
    if mode == "stats":
        names = tuple(a.strip().lstrip("@") for a in attrs.split(",") if a.strip()) or ("lemma",)
        table = stats(path, q, names, macros=macros, workers=0)
        total = sum(n for _, n in table) or 1
        top = table[0][1] if table else 1
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(v if v is not None else '[missing]')}</td>"
                             for v in values) +
            f"<td>{n:,}</td><td>{100 * n / total:.2f}%</td><td><div class='ti-bar' "
            f"style='width:{300 * n / top:.0f}px'></div></td></tr>"
            for values, n in table[:500])
        head = "".join(f"<th>{escape(a)}</th>" for a in names)
        return (f"<table class='ti'><tr>{head}<th>count</th><th>percent</th><th></th></tr>"
                f"{rows}</table>")
    first = (page - 1) * PAGE
    hits = list(search(path, q, macros=macros, workers=0, limit=first + PAGE + 1))
    shown = hits[first:first + PAGE]
    lines = []
    for n, h in enumerate(shown, first + 1):
        text = _bracketed(h.sentence or "", set(h.positions))
        link = "/-/treeindex/tree?" + urlencode({"db": name, "corpus": h.corpus,
                                                  "sentid": h.sentid, "hit": h.id or ""})
        lines.append(f"<li value='{n}'><a href='{escape(link)}'>{escape(h.corpus)} "
                     f"{escape(h.sentid)}</a>" + (f" <code>{escape(h.label)}</code>"
                                                   if h.label else "") + f": {text}</li>")
    nav = []
    base = {"db": name, "q": q, "mode": mode}
    if page > 1:
        nav.append(f"<a href='?{escape(urlencode({**base, 'page': page - 1}))}'>previous</a>")
    if len(hits) > first + PAGE:
        nav.append(f"<a href='?{escape(urlencode({**base, 'page': page + 1}))}'>next</a>")
    if not shown:
        return "<p>No hits.</p>"
    return f"<ol class='ti-hits'>{''.join(lines)}</ol><p>{' | '.join(nav)}</p>"


def _bracketed(sentence: str, marked: set[int]) -> str:
    """The sentence, escaped, with each run of the hit's words in one bracketed span."""
    out = []
    for k, word in enumerate(sentence.split()):
        opens = k in marked and k - 1 not in marked
        closes = k in marked and k + 1 not in marked
        out.append(('<span class="ti-hit">[' if opens else "") + escape(word) +
                   ("]</span>" if closes else ""))
    return " ".join(out)


async def tree_page(datasette: Any, request: Any) -> Response:
    from ..show import find, highlight_query

    args = request.args
    name, path = _db_path(datasette, args.get("db"))
    try:
        tree = find(path, args.get("sentid", ""), args.get("corpus"))
        if args.get("hit"):
            tree.highlight.add(args["hit"])
        if args.get("highlight"):
            highlight_query(tree, args["highlight"])
        root = tree.root()
        sentence = root.findtext("sentence") or ""
        body = (f"<h2>{escape(tree.corpus)} {escape(tree.sentid)}</h2><p>{escape(sentence)}"
                f"</p>{_tree_html(draw.svg(root, tree.highlight))}")
    except TreeindexError as e:
        body = f'<p class="message-error">{escape(str(e))}</p>'
    return Response.html(await _page(datasette, request, "Tree", body))

