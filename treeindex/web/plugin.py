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

import asyncio
import sqlite3
import threading
import weakref
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl  # type: ignore[import-untyped]
from datasette.utils.asgi import Response  # type: ignore[import-untyped]
from lxml import etree
from markupsafe import Markup

from .. import draw
from ..errors import TreeindexError
from ..store import Index
from ..store.codec import Decoder
from .pages import tree_div

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_STYLE = """<style>
.ti-hit{background:#ffd54f;font-weight:bold}.ti-bar{background:#5c7cfa;height:12px}
.ti-tree{overflow-x:auto;max-width:100%}.ti-form input[type=text]{width:70%}
.ti-fit:checked~.ti-tree svg{width:100%;height:auto}
table.ti td,table.ti th{padding:2px 8px;text-align:left}</style>"""


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    decode = Decoder(conn)

    # NULL for anything that is not a stored sentence (a damaged one, or bytes a visitor
    # wrote into the SQL): the decoder refuses it before inflating past 16 MB
    def xml(blob: bytes | None) -> str | None:
        try:
            return None if blob is None else decode(blob).decode("utf-8")
        except (TreeindexError, UnicodeDecodeError):
            return None

    def svg(blob: bytes | None) -> str | None:
        try:
            return None if blob is None else draw.svg(etree.fromstring(decode(blob), _PARSER))
        except (TreeindexError, etree.XMLSyntaxError):
            return None

    conn.create_function("treeindex_xml", 1, xml, deterministic=True)
    conn.create_function("treeindex_svg", 1, svg, deterministic=True)




@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Any:
    if column == "xml" and table == "sentences" and isinstance(value, bytes):
        index = _index(datasette.get_database(database).path)
        picture = draw.svg(etree.fromstring(index.decode(value), _PARSER), fit=THUMBNAIL)
        href = _tree_href(index, database, row)
        if href is None:
            return tree_div(picture)
        return Markup(f'<a class="ti-thumb" href="{escape(href)}" title="open the tree">'
                      f"{tree_div(picture)}</a>")
    if column == "node" and isinstance(value, int):
        sentence = _cell(row, "sentence_id")
        if not isinstance(sentence, int):
            return None
        index = _index(datasette.get_database(database).path)
        found = index.conn.execute("SELECT xml FROM sentences WHERE id = ?",
                                   (sentence,)).fetchone()
        if found is None:
            return None
        nodes = list(etree.fromstring(index.decode(found[0]), _PARSER).iter("node"))
        return tree_div(draw.svg(nodes[value])) if 0 <= value < len(nodes) else None
    return None


THUMBNAIL = 480  # px: the widest a tree is drawn in a table's cell (it links to its page)


def _tree_href(index: Index, database: str, row: Any) -> str | None:
    """The tree page of a sentences row (None if the row lacks what names it)."""
    corpus, sentid = _cell(row, "corpus_id"), _cell(row, "sentid")
    if corpus is None or sentid is None:
        return None
    found = index.conn.execute("SELECT name FROM corpora WHERE id = ?", (corpus,)).fetchone()
    if found is None:
        return None
    return "/-/treeindex/tree?" + urlencode({"db": database, "corpus": found[0],
                                             "sentid": str(sentid)})


def _cell(row: Any, key: str) -> Any:
    """A column of the row datasette renders (None where it has no such column); a foreign
    key datasette expanded ({value, label}) gives its value."""
    keys = row.keys() if hasattr(row, "keys") else []
    if key not in keys:
        return None
    value = row[key]
    return value.get("value") if isinstance(value, dict) else value


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
def startup(datasette: Any) -> Any:
    from .runner import runner

    for database in datasette.databases.values():
        _count_what_can_be_counted(database)
    paths = tuple(str(d.path) for d in datasette.databases.values() if d.path)
    threading.Thread(target=runner().warm, args=(paths,), daemon=True,
                     name="treeindex-warm").start()

    async def warm_pages() -> None:
        # the search page rendered once, its answer thrown away: a user's first page then
        # finds datasette's templates and plugin hooks ready (its first page cost 50-120 ms,
        # later ones 5-15); after the startup, so that it is a request like any other
        await asyncio.sleep(0)
        try:
            await datasette.client.get(datasette.urls.path("/-/treeindex/search"))
        except Exception:  # noqa: BLE001, S110 - a warm-up is never an error
            pass

    async def start_warming_pages() -> None:
        task = asyncio.get_running_loop().create_task(warm_pages())
        _background.add(task)
        task.add_done_callback(_background.discard)

    return start_warming_pages


_background: set[asyncio.Task] = set()  # (tasks are kept from the collector until done)


UNCOUNTABLE = frozenset(("search_terms",))  # (a contentless FTS5 table cannot be scanned)


def _count_what_can_be_counted(database: Any) -> None:
    """Datasette counts every table's rows for its pages, and logs an ERROR line for
    `search_terms`, which cannot be counted (the candidate index: an FTS5 table without
    content or sizes); its count is left out (shown as unknown), the others are datasette's."""
    counts = database.table_counts

    async def table_counts(limit: int = 10) -> dict:
        names = await database.table_names()
        if not UNCOUNTABLE & set(names):
            return dict(await counts(limit))
        out: dict = {}
        for table in names:
            if table in UNCOUNTABLE:
                out[table] = None
                continue
            try:
                result = await database.execute(f"select count(*) from [{table}]",
                                                custom_time_limit=limit,
                                                log_sql_errors=False)
                out[table] = result.rows[0][0]
            except Exception:  # noqa: BLE001 - as datasette: a count that fails is unknown
                out[table] = None
        return out

    database.table_counts = table_counts


@hookimpl
def register_routes() -> list:
    return [(r"^/-/treeindex/search$", search_page), (r"^/-/treeindex/tree$", tree_page),
            (r"^/-/treeindex/download$", download), (r"^/-/treeindex/job$", job_page)]


@hookimpl
def menu_links(datasette: Any) -> list:
    return [{"href": datasette.urls.path("/-/treeindex/search"), "label": "XPath search"}]


def _db_path(datasette: Any, name: str | None) -> tuple[str, str]:
    names = [n for n, d in datasette.databases.items() if d.path]
    if not names:
        raise TreeindexError("no database is served")
    chosen: str = name if name is not None and name in names else names[0]
    return chosen, str(datasette.databases[chosen].path)


_TEMPLATE = ('{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}'
             '{% block content %}<h1>{{ title }}</h1>{{ style }}{{ body }}{% endblock %}')


# the page template compiled once per jinja environment (compiling it for every page was
# 3-5 ms of each: the empty search page took 6 ms in all)
_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _page(datasette: Any, request: Any, title: str, body: str) -> Any:
    env = datasette.jinja_env
    template = _compiled.get(env)
    if template is None:
        template = _compiled[env] = env.from_string(_TEMPLATE)
    return datasette.render_template(template, {"title": title, "body": Markup(body),
                                                "style": Markup(_STYLE)}, request=request)


# a query longer than this is sent in the request's body: in the address, the server would
# refuse a very long one before treeindex could say why (a reset connection)
_POST_FROM = 4000


async def search_page(datasette: Any, request: Any) -> Response:
    args = request.args
    chosen = [c for c in args.getlist("corpus") if c]
    if request.method == "POST":
        body = (await request.post_body()).decode("utf-8")
        pairs = parse_qsl(body, keep_blank_values=True)
        args = dict(pairs)
        chosen = [v for k, v in pairs if k == "corpus" and v]
    q = args.get("q", "")
    words = (args.get("words") or "").strip()
    said = ""
    if words:  # a word search: its XPath goes into the query box, to be seen and edited
        from ..search.like import words_xpath

        q = words_xpath(words, lemmas=bool(args.get("lemmas")))
        said = (f'<p class="ti-note">the {"lemmas" if args.get("lemmas") else "words"} '
                f"{escape(words)!s} in this order, as XPath: <code>{escape(q)}</code></p>")
    name, path = _db_path(datasette, args.get("db"))
    corpora = [r[0] for r in (await datasette.databases[name].execute(
        "SELECT name FROM corpora ORDER BY id")).rows]
    mode = args.get("mode", "hits")
    attrs = args.get("attrs", "lemma")
    try:
        page = max(int(args.get("page", "1")), 1)
    except ValueError:
        page = 1
    token = request.scope.get("csrftoken")
    form = (f'<form class="ti-form" action="" method="get" onsubmit="if (this.q.value.length '
            f'> {_POST_FROM}) {{ this.method = \'post\'; this.csrftoken.disabled = false }}">'
            f'<input type="hidden" name="db" value="{escape(name)}">'
            f'<input type="hidden" name="csrftoken" disabled value="'
            f'{escape(token() if token else "")}">' +
            f'<input type="text" name="q" value="{escape(q)}" '
            f'placeholder=\'//node[@cat="np" and node[@rel="det"]]\'> '
            f'<select name="mode">' + "".join(
                f'<option value="{m}"{" selected" if m == mode else ""}>{m}</option>'
                for m in ("hits", "count", "stats")) +
            f'</select> <input type="text" name="attrs" value="{escape(attrs)}" '
            f'style="width:8em" title="attributes for stats"> '
            f'<input type="submit" value="Search"><div class="ti-words">or words in order: '
            f'<input type="text" name="words" value="" placeholder="in verband met" '
            f'style="width:16em"> <label><input type="checkbox" name="lemmas"> as lemmas'
            f'</label></div>' + _corpus_choice(corpora, chosen) + '</form>')
    body = [form, said]
    if q:
        body.append(await _results_or_progress(path, name, q, mode, attrs, page,
                                               tuple(chosen)))
        if mode != "count":
            body.append(download_links(name, q, mode, attrs, chosen))
    return Response.html(await _page(datasette, request, "XPath search", "".join(body)))


# what the download route streams: (content type, file name ending)
DOWNLOADS = {"csv": ("text/csv; charset=utf-8", "csv"),
             "nl": ("application/x-ndjson; charset=utf-8", "jsonl"),
             "xml": ("application/xml; charset=utf-8", "xml"),
             "stats": ("text/csv; charset=utf-8", "stats.csv")}


async def download(datasette: Any, request: Any) -> Any:
    """Every hit of a search (CSV, JSON lines, or the matching sentences as a treebank), or
    its statistics (CSV), streamed as the worker makes them: memory stays bounded for any
    number of hits, and a download the browser stops stops the search."""
    from datasette.utils.asgi import AsgiStream

    from .runner import runner

    args = request.args
    name, path = _db_path(datasette, args.get("db"))
    fmt = args.get("format", "csv")
    if fmt not in DOWNLOADS:
        return Response.text(f"format must be one of {', '.join(DOWNLOADS)}", status=400)
    q = args.get("q", "")
    if not q:
        return Response.text("no query (q=)", status=400)
    corpora = tuple(c for c in args.getlist("corpus") if c)
    content_type, ending = DOWNLOADS[fmt]

    async def stream(r: Any) -> None:
        chunks = runner().stream("treeindex.web.pages", "download", path, q, fmt,
                                 args.get("attrs", "lemma"), corpora)
        try:
            async for chunk in chunks:
                await r.write(chunk.decode("utf-8"))  # (whole lines: whole characters)
        except TreeindexError as e:  # (the response has begun: the error is its last line)
            await r.write(f"\ntreeindex: {e}\n")
        finally:
            await chunks.aclose()

    return AsgiStream(stream, content_type=content_type, headers={
        "content-disposition": f'attachment; filename="treeindex-{name}.{ending}"'})


def download_links(name: str, q: str, mode: str, attrs: str, chosen: list[str]) -> str:
    """Links that download every hit, or the statistics, of the search on the page."""
    base = [("db", name), ("q", q)] + [("corpus", c) for c in chosen]
    if mode == "stats":
        kinds = [("stats", "statistics (CSV)")]
        base.append(("attrs", attrs))
    else:
        kinds = [("csv", "CSV"), ("nl", "JSON lines"), ("xml", "the matching sentences "
                                                         "(treebank XML)")]
    links = " · ".join(
        f'<a class="ti-download" href="/-/treeindex/download?'
        f'{escape(urlencode(base + [("format", k)]))}">{label}</a>' for k, label in kinds)
    return f'<p class="ti-downloads">download every hit: {links}</p>' if mode != "stats" \
        else f'<p class="ti-downloads">download: {links}</p>'


def _corpus_choice(corpora: list[str], chosen: list[str]) -> str:
    """Which corpora to search: a box each (none ticked: all of them)."""
    if len(corpora) < 2:
        return ""
    boxes = "".join(
        f'<label class="ti-corpus"><input type="checkbox" name="corpus" value="{escape(c)}"'
        f'{" checked" if c in chosen else ""}> {escape(c)}</label> ' for c in corpora)
    return f'<div class="ti-corpora">corpora (none ticked: all): {boxes}</div>'


async def tree_page(datasette: Any, request: Any) -> Response:
    args = request.args
    name, path = _db_path(datasette, args.get("db"))
    try:
        n = max(int(args.get("n", "0")), 0)
    except ValueError:
        n = 0
    body = await _in_worker("tree", path, args.get("corpus"), args.get("sentid", ""),
                            args.get("hit"), args.get("highlight"), name, args.get("q", ""),
                            n, tuple(c for c in args.getlist("in") if c))
    return Response.html(await _page(datasette, request, "Tree", body))


WAIT = 1.0  # seconds a search page waits for its results before it shows their progress
_jobs: dict[str, Any] = {}


class Job:
    """A search running for a page: its latest progress, then its HTML (or error)."""

    def __init__(self, args: tuple) -> None:
        import secrets
        import time

        self.id = secrets.token_urlsafe(12)
        self.args = args
        self.progress = (0, 0, 0)  # sentences searched, to search, hits so far
        self.html: str | None = None
        self.state = "running"  # running, done, cancelled
        self.started = time.monotonic()
        self.finished = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        from .runner import TimedOut, WorkerFailed, runner

        work = runner()
        events = work.events("treeindex.web.pages", "results", *self.args)
        try:
            async for kind, value in events:
                if kind == "event" and value[0] == "progress":
                    self.progress = tuple(value[1:])
                elif kind == "ok":
                    self.html = str(value)
        except TimedOut:
            self.html = _timed_out(work.limit)
        except WorkerFailed:
            self.html = _failed()
        except TreeindexError as e:
            self.html = _error(e)
        except asyncio.CancelledError:
            self.state = "cancelled"
            self.html = "<p class='ti-cancelled'>The search was cancelled.</p>"
            raise
        finally:
            await events.aclose()
            if self.state == "running":
                self.state = "done"
            self.finished.set()


def _forget_old_jobs() -> None:
    import time

    now = time.monotonic()
    for key, job in list(_jobs.items()):
        if job.state != "running" and now - job.started > 600:
            del _jobs[key]


async def _results_or_progress(*args: Any) -> str:
    """The results of a search, if they come within WAIT seconds; else where they will
    come: the search's progress (sentences searched, hits so far), updated while it runs,
    a button that cancels it, and its results once it is done (the page asks /job)."""
    _forget_old_jobs()
    job = Job(args)
    _jobs[job.id] = job
    job.task = asyncio.get_running_loop().create_task(job.run())
    try:
        await asyncio.wait_for(asyncio.shield(job.finished.wait()), WAIT)
        return job.html or ""
    except TimeoutError:
        pass
    ident = escape(job.id)
    return (f'<div class="ti-job" id="ti-job" data-job="{ident}"><p>searching: <progress '
            f'class="ti-progress"></progress> <span class="ti-progress-text"></span> '
            f'<button type="button" class="ti-cancel">cancel</button></p></div>'
            f"<script>{_POLL}</script>")


# the page's side of a running search: asks for its state four times a second
_POLL = """(function () {
  var box = document.getElementById("ti-job"), id = box.dataset.job;
  var url = "/-/treeindex/job?id=" + encodeURIComponent(id);
  box.querySelector(".ti-cancel").onclick = function () { fetch(url + "&cancel=1"); };
  function tick() {
    fetch(url).then(function (r) { return r.json(); }).then(function (j) {
      if (j.state !== "running") { box.outerHTML = j.html; return; }
      var bar = box.querySelector(".ti-progress");
      if (j.total) {
        bar.max = j.total; bar.value = j.done;
        box.querySelector(".ti-progress-text").textContent = j.done.toLocaleString("en") +
          " of " + j.total.toLocaleString("en") + " sentences, " +
          j.hits.toLocaleString("en") + " hits so far";
      }
      setTimeout(tick, 250);
    });
  }
  tick();
})();"""


async def job_page(datasette: Any, request: Any) -> Response:
    """A running search's state as JSON: {state, done, total, hits, html}; cancel=1
    cancels it (its worker is stopped)."""
    job = _jobs.get(request.args.get("id", ""))
    if job is None:
        return Response.json({"state": "gone", "html": "<p class='message-error'>This "
                              "search is no longer known to the server: search again.</p>"},
                             status=404)
    if request.args.get("cancel") and job.state == "running" and job.task is not None:
        job.task.cancel()
        try:
            await job.finished.wait()
        except asyncio.CancelledError:
            pass
    done, total, hits = job.progress
    return Response.json({"state": job.state, "done": done, "total": total, "hits": hits,
                          "html": job.html if job.state != "running" else None})


def _timed_out(limit: float) -> str:
    return (f'<p class="message-error">The search was stopped after {limit:g} s, the '
            "server's time limit (treeindex serve --time-limit): narrow the query, or "
            "run it with treeindex search on the command line.</p>")


def _failed() -> str:
    return ('<p class="message-error">The search ended without an answer (its process '
            "died, perhaps out of memory): narrow the query.</p>")


def _error(e: Exception) -> str:  # (pre: the caret under a query stays under its character)
    return ('<pre class="message-error" style="white-space: pre-wrap; font-family: '
            f'monospace">{escape(str(e))}</pre>')


async def _in_worker(function: str, *args: Any) -> str:
    """pages.`function`(*args) in a worker of web/runner.py: its HTML, or the error's."""
    from .runner import TimedOut, WorkerFailed, runner

    work = runner()
    try:
        return str(await work.run("treeindex.web.pages", function, *args))
    except TimedOut:
        return _timed_out(work.limit)
    except WorkerFailed:
        return _failed()
    except TreeindexError as e:
        return _error(e)
