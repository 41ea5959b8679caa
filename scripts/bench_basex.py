#!/usr/bin/env python3
"""treeindex search against BaseX, the XML database GrETEL searches with, in the same run.

    python3 scripts/bench_basex.py [--mb 200 1000] [--repeat 7] [--only NAME ...] [--standalone]
                                   [--python /tmp/clean-venv/bin/python]

For each size: builds the input (scripts/make_corpus.py), a treeindex index and a BaseX
database (attribute index on) of the same file under /tmp/treeindex-bench, starts a
`basexserver` on 127.0.0.1 and opens one client session, as GrETEL does. Then, interleaved
round by round, it times:
  - BaseX: GrETEL's count query through the open session,
    `count(for $node in db:open("X")/treebank//node[...] return $node)`;
  - treeindex: the whole command `treeindex search --count -q QUERY` (process start
    included), alone and answered by a running `treeindex server` of the index (its
    client session, as basexserver has one);
and checks that the hit counts are equal. With --standalone, afterwards, both without a server,
interleaved: the command alone against BaseX's own command (`basex QUERY`, which starts its
JVM and opens the database each time). Prints medians and the ratio treeindex / BaseX,
and the XPath 2.0 forms against their XPath 1.0 equivalents (treeindex only). Then, where the
interpreter has datasette (`pip install '.[web]'`), the first page of hits, interleaved too:
the search page of a running `treeindex serve` over HTTP (one kept-alive connection, as a
browser's) against GrETEL's own results query for the same first 50 hits through the
session (`(for $node in ... return <match>{sentid}||{sentence}||{ids}||{begins}||{$node}||
{meta}||</match>)[position() = 1 to 50]`), their sentence ids checked equal, and against the
count above. Installs BaseX from Debian (`apt-get install basex`) when it is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import WORK, corpus, treeindex  # noqa: E402

# (name, the query as treeindex takes it, the predicate GrETEL's count query uses)
QUERIES = [
    ("selective: np with the lemma fiets", '//node[@cat="np" and node[@lemma="fiets"]]'),
    ("np + det de + noun head",
     '//node[@cat="np" and node[@rel="det" and @lemma="de"] and node[@rel="hd" and @pt="n"]]'),
    ("span > 9 words", "//node[number(@end) - number(@begin) > 9]"),
    ("a common category", '//node[@cat="whq"]'),
    ("a common rel and pt", '//node[@rel="su" and @pt="vnw"]'),
    ("a relative clause", '//node[@cat="rel" and node[@rel="rhd"]]'),
    ("pronoun subjects of finite clauses",
     '//node[@cat="smain" and node[@rel="su" and @pt="vnw"]]'),
]
# XPath 2.0 forms and an XPath 1.0 query that selects the same nodes
FORMS = [
    ("sequence", '//node[@rel=("obj1","obj2")]', '//node[@rel="obj1" or @rel="obj2"]'),
    ("some", '//node[some $x in node satisfies $x/@rel="obj2"]', '//node[node[@rel="obj2"]]'),
    ("every", '//node[@cat and (every $x in node satisfies $x/@word)]',
     '//node[@cat and not(node[not(@word)])]'),
    ("matches", '//node[matches(@lemma, "^ver")]', '//node[starts-with(@lemma, "ver")]'),
    ("ends-with", '//node[ends-with(@lemma, "heid")]',
     '//node[substring(@lemma, string-length(@lemma) - 3) = "heid"]'),
    ("lower-case", '//node[lower-case(@word)="de"]',
     '//node[@word="de" or @word="De" or @word="DE" or @word="dE"]'),
    ("exists", '//node[exists(node[@rel="det"])]', '//node[node[@rel="det"]]'),
    ("path ending in a function", '//node[node[@rel="mod"]/number(@begin) > 3]',
     '//node[node[@rel="mod"]/@begin > 3]'),
]
PORT = 19841


def ensure_basex() -> None:
    if shutil.which("basexserver"):
        return
    print("installing BaseX from Debian (apt-get install basex) ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "basex"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def basex_env() -> dict[str, str]:
    home = WORK / "basex-home"  # BaseX keeps its configuration and databases under $HOME
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(home)}


def basex_db(src: Path, name: str) -> None:
    env = basex_env()
    marker = Path(env["HOME"]) / f"{name}.built"
    if marker.exists() and marker.read_text() == str(src.stat().st_mtime):
        return
    script = WORK / f"{name}.bxs"
    script.write_text(f"SET ATTRINDEX true\nSET INTPARSE true\nCREATE DB {name} {src}\n")
    t = time.perf_counter()
    subprocess.run(["basex", "-c", str(script)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"  BaseX database {name}: {time.perf_counter() - t:.1f} s", flush=True)
    marker.write_text(str(src.stat().st_mtime))


class Session:
    """A BaseX client session (the server protocol: digest authentication, commands)."""

    def __init__(self, port: int, user: str = "admin", password: str = "admin") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""
        nonce = self._read()
        if b":" in nonce:
            realm, ts = nonce.split(b":", 1)
            inner = hashlib.md5(f"{user}:{realm.decode()}:{password}".encode()).hexdigest()
        else:
            ts = nonce
            inner = hashlib.md5(password.encode()).hexdigest()
        digest = hashlib.md5(inner.encode() + ts).hexdigest()
        self.sock.sendall(user.encode() + b"\0" + digest.encode() + b"\0")
        if self._byte() != 0:
            raise SystemExit("BaseX: access denied")

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise SystemExit("BaseX closed the connection")
        self.buf += chunk

    def _byte(self) -> int:
        while not self.buf:
            self._fill()
        b, self.buf = self.buf[0], self.buf[1:]
        return b

    def _read(self) -> bytes:
        out = bytearray()
        while True:
            b = self._byte()
            if b == 0:
                return bytes(out)
            if b == 0xFF:
                b = self._byte()
            out.append(b)

    def execute(self, command: str) -> str:
        self.sock.sendall(command.encode() + b"\0")
        result = self._read()
        info = self._read()
        if self._byte() != 0:
            raise SystemExit(f"BaseX: {info.decode()}")
        return result.decode()

    def close(self) -> None:
        try:
            self.execute("EXIT")
        except (SystemExit, OSError):
            pass
        self.sock.close()


def start_server() -> subprocess.Popen:
    proc = subprocess.Popen(["basexserver", f"-p{PORT}", "-z"], env=basex_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("basexserver did not start")


def gretel_count(db: str, xpath: str) -> str:
    assert xpath.startswith("//node")
    return f'XQUERY count(for $node in db:open("{db}")/treebank{xpath} return $node)'


PAGE = 50  # hits on a first page: the web page's (treeindex/web/pages.py) and GrETEL's
WEB_PORT = 19842


def gretel_page(db: str, xpath: str) -> str:
    """GrETEL's results query (basex-search-scripts/treebank-search.php, createXquery, no
    context, not grinded) for the first PAGE hits."""
    assert xpath.startswith("//node")
    return ("XQUERY (for $node in db:open(\"" + db + "\")/treebank" + xpath + "\n"
            "let $tree := ($node/ancestor::alpino_ds) let $sentid := ($tree/@id) "
            "let $sentence := ($tree/sentence) let $ids := ($node//@id) "
            "let $indexs := (distinct-values($node//@index)) "
            "let $indexed := ($tree//node[@index=$indexs]) "
            "let $begins := (($node | $indexed)//@begin) "
            "let $beginlist := (distinct-values($begins)) let $meta := ($tree/metadata/meta) "
            "return <match>{data($sentid)}||{data($sentence)}||{string-join($ids, '-')}||"
            "{string-join($beginlist, '-')}||{$node}||{$meta}||</match>)"
            f"[position() = 1 to {PAGE}]")


def gretel_ids(result: str) -> list[str]:
    return [m.split("<match>", 1)[1].split("||", 1)[0].strip()
            for m in result.split("</match>") if "<match>" in m]


_HIT = re.compile(r"<li value='\d+'><a href='[^']*'>([^<]*)</a>")


class Web:
    """`treeindex serve DB` on WEB_PORT, asked over one kept-alive HTTP connection."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(command_line("serve", str(db), "--port", str(WEB_PORT)),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=600)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.get("/-/versions.json")
                return
            except OSError:
                self.conn.close()
                time.sleep(0.2)
        self.close()
        raise SystemExit("treeindex serve did not start")

    def get(self, path: str) -> str:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise SystemExit(f"treeindex serve: {response.status} for {path}")
        return body

    def first_page(self, xpath: str) -> tuple[float, list[str]]:
        time.sleep(PAUSE)
        t = time.perf_counter()
        body = self.get("/-/treeindex/search?q=" + quote(xpath))
        elapsed = time.perf_counter() - t
        if "ti-job" in body:
            raise SystemExit(f"the first page of {xpath} did not come at once")
        return elapsed, [html.unescape(m).split(" ", 1)[1] for m in _HIT.findall(body)]

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait()


def run_pages(db: Path, name: str, session: Session, queries: list[tuple[str, str]],
              repeat: int, counts: dict[str, float]) -> None:
    """The first page of hits: the web page against GrETEL's results query (see the
    module), interleaved; one round first that neither times (both servers warm)."""
    web = Web(db)
    try:
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in queries}
        differ: dict[str, str] = {}
        for k in range(repeat + 1):
            for label, xpath in queries:
                time.sleep(PAUSE)
                t = time.perf_counter()
                theirs = gretel_ids(session.execute(gretel_page(name, xpath)))
                tb = time.perf_counter() - t
                tw, ours = web.first_page(xpath)
                if ours != theirs:
                    differ[label] = f"  HITS DIFFER: {len(ours)} / BaseX {len(theirs)}"
                if k:
                    times[label].append((tw, tb))
    finally:
        web.close()
    print(f"  the first page ({PAGE} hits): `treeindex serve`'s search page over HTTP against "
          "GrETEL's results query, and against BaseX's count:")
    print(f"  {'query':<38} {'web page':>9} {'BaseX page':>10} {'web/page':>9} "
          f"{'web/count':>10}")
    for label, _ in queries:
        tw, tb = (statistics.median(r[k] for r in times[label]) for k in range(2))
        print(f"  {label:<38} {tw:>8.3f}s {tb:>9.3f}s {tw / tb:>8.2f}x "
              f"{tw / counts[label]:>9.2f}x{differ.get(label, '')}")


def has_datasette() -> bool:
    python = PYTHON[0] if PYTHON else sys.executable
    return subprocess.run([python, "-c", "import datasette"], capture_output=True).returncode == 0


PYTHON: list[str] = []  # --python: the interpreter of a clean install to time
PAUSE = 0.2  # seconds of quiet before each timed command or query (see run_size)


def command_line(*args: str) -> list[str]:
    """The `treeindex` command as a user runs it: the installed script of --python's
    environment (this interpreter's `-m treeindex` without --python)."""
    if PYTHON:
        script = Path(PYTHON[0]).parent / "treeindex"
        return [str(script), *args] if script.exists() else PYTHON + treeindex(*args)[1:]
    return treeindex(*args)


def time_treeindex(db: Path, xpath: str, served: bool = False) -> tuple[float, int]:
    command = command_line("search", "--db", str(db), "--count", "-q", xpath)
    env = {**os.environ, "TREEINDEX_SERVER": "require" if served else "off"}
    time.sleep(PAUSE)
    t = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         cwd="/", env=env).stdout
    elapsed = time.perf_counter() - t
    last = out.strip().splitlines()[-1].split()
    return elapsed, int(last[1].replace(",", "")) if len(last) > 1 else 0


def start_treeindex_server(db: Path, memory_mb: int) -> subprocess.Popen:
    """`treeindex server` of the index, ready (its socket there), as basexserver is."""
    sys.path.insert(0, str(HERE.parent))
    from treeindex.client import socket_path

    proc = subprocess.Popen(command_line("server", "--db", str(db), "--memory",
                                         str(memory_mb)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        path = socket_path(str(db))
        if path and os.path.exists(path):
            assert proc.stderr is not None
            print("  " + proc.stderr.readline().strip(), flush=True)
            return proc
        if proc.poll() is not None:
            raise SystemExit(f"treeindex server did not start: {proc.stderr.read()}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("treeindex server did not start")


def time_basex_command(name: str, xpath: str) -> tuple[float, int]:
    """BaseX run as a command (`basex QUERY`: its JVM started, the database opened, GrETEL's
    count query): what a BaseX search costs without a running server, as a treeindex
    command alone costs without `treeindex server`."""
    time.sleep(PAUSE)
    t = time.perf_counter()
    out = subprocess.run(["basex", "-c", gretel_count(name, xpath)], env=basex_env(), check=True,
                         capture_output=True, text=True).stdout
    return time.perf_counter() - t, int(out.strip())


def run_standalone(db: Path, name: str, queries: list[tuple[str, str]], repeat: int) -> None:
    """Both tools without a server, interleaved: the whole `treeindex search --count`
    command alone against the `basex` command, hit counts checked equal."""
    times: dict[str, list[tuple[float, float]]] = {n: [] for n, _ in queries}
    hits: dict[str, tuple[int, int]] = {}
    for _ in range(repeat):
        for label, xpath in queries:
            tb, bx = time_basex_command(name, xpath)
            ti, n = time_treeindex(db, xpath)
            times[label].append((ti, tb))
            hits[label] = (n, bx)
    print("  without a server: the command alone against BaseX's own command (`basex "
          "QUERY`), interleaved, medians:")
    print(f"  {'query':<38} {'alone':>8} {'basex':>8} {'alone/basex':>11}")
    for label, _ in queries:
        ti, tb = (statistics.median(r[k] for r in times[label]) for k in range(2))
        n, bx = hits[label]
        same = "" if n == bx else f"  HITS DIFFER: {n:,} / BaseX {bx:,}"
        print(f"  {label:<38} {ti:>7.3f}s {tb:>7.3f}s {ti / tb:>10.2f}x{same}")


def run_size(mb: float, repeat: int, only: list[str], memory_mb: int,
             pages: bool = True, standalone: bool = False) -> None:
    src = corpus(mb)
    db = WORK / f"bench-search-{mb:g}.db"
    if not db.exists():
        t = time.perf_counter()
        subprocess.run(treeindex("ingest", "-q", "--db", str(db), str(src)), check=True)
        print(f"  treeindex index: {time.perf_counter() - t:.1f} s", flush=True)
    name = f"bench{int(mb)}"
    queries = [q for q in QUERIES if not only or any(o in q[0] for o in only)]
    basex_db(src, name)
    server = start_server()
    ours = start_treeindex_server(db, memory_mb)
    # Each round times, one after the other, with PAUSE seconds of quiet before each (so
    # that neither server's work after a query, such as treeindex's next process warming
    # up, falls into the other's time): BaseX's count through its open session, the whole
    # `treeindex search --count` command alone (TREEINDEX_SERVER=off), and the same
    # command answered by `treeindex server` (TREEINDEX_SERVER=require).
    try:
        session = Session(PORT)
        session.execute(f"OPEN {name}")
        times: dict[str, list[tuple[float, float, float]]] = {n: [] for n, _ in queries}
        hits: dict[str, tuple[int, int, int]] = {}
        for _ in range(repeat):
            for label, xpath in queries:
                time.sleep(PAUSE)
                t = time.perf_counter()
                bx = int(session.execute(gretel_count(name, xpath)))
                tb = time.perf_counter() - t
                ti, n = time_treeindex(db, xpath)
                ts, n2 = time_treeindex(db, xpath, served=True)
                times[label].append((ti, ts, tb))
                hits[label] = (n, n2, bx)
        print(f"\n{mb:g} MB ({src}), {repeat} interleaved rounds, medians:")
        print(f"  {'query':<38} {'hits':>9} {'alone':>8} {'served':>8} {'BaseX':>8} "
              f"{'alone/BaseX':>11} {'served/BaseX':>12}")
        for label, _ in queries:
            ti, ts, tb = (statistics.median(r[k] for r in times[label]) for k in range(3))
            n, n2, bx = hits[label]
            same = "" if n == bx == n2 else f"  HITS DIFFER: {n:,} / {n2:,} / BaseX {bx:,}"
            print(f"  {label:<38} {n:>9,} {ti:>7.3f}s {ts:>7.3f}s {tb:>7.3f}s "
                  f"{ti / tb:>10.2f}x {ts / tb:>11.2f}x{same}")
        if pages and has_datasette():
            run_pages(db, name, session, queries, repeat,
                      {label: statistics.median(r[2] for r in times[label])
                       for label, _ in queries})
        elif pages:
            print("  (no first pages: datasette is not installed: pip install '.[web]')")
        session.close()
        if not only:
            print("  XPath 2.0 forms against their XPath 1.0 equivalents (treeindex, alone; "
                  "served):")
            for label, two, one in FORMS:
                line = []
                for served in (False, True):
                    pairs = [(time_treeindex(db, two, served), time_treeindex(db, one, served))
                             for _ in range(repeat)]
                    t2 = statistics.median(a[0] for a, _ in pairs)
                    t1 = statistics.median(b[0] for _, b in pairs)
                    n2, n1 = pairs[0][0][1], pairs[0][1][1]
                    same = "" if n2 == n1 else f" (hits {n2:,} vs {n1:,})"
                    line.append(f"{t2:.3f}s vs {t1:.3f}s = {t2 / t1:.2f}x{same}")
                print(f"  {label:<28} {line[0]:<32} {line[1]}")
    finally:
        server.terminate()
        server.wait()
        ours.terminate()
        ours.wait()
    if standalone:  # (after the servers: the `basex` command opens the database itself)
        run_standalone(db, name, queries, repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, nargs="+", default=[200])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", nargs="*", default=[], help="queries whose name has this")
    ap.add_argument("--server-memory", type=int, default=8192,
                    help="`treeindex server --memory` (MB)")
    ap.add_argument("--no-pages", action="store_true",
                    help="leave out the first pages (web page against GrETEL's results query)")
    ap.add_argument("--standalone", action="store_true",
                    help="also time both without a server: the command alone against "
                         "BaseX's own `basex QUERY` command (its JVM started each time)")
    ap.add_argument("--python", default=None,
                    help="time `PYTHON -m treeindex` (a clean venv with `pip install .`) "
                         "instead of this interpreter")
    args = ap.parse_args()
    if args.python:
        PYTHON.append(args.python)
    ensure_basex()
    # byte-compiled, as `pip install` leaves a package (an editable install compiles each
    # module at every start when PYTHONDONTWRITEBYTECODE is set)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "treeindex")],
                   check=True, env={k: v for k, v in os.environ.items()
                                    if k != "PYTHONDONTWRITEBYTECODE"})
    for mb in args.mb:
        run_size(mb, args.repeat, args.only, args.server_memory, not args.no_pages,
                 args.standalone)


if __name__ == "__main__":
    main()
