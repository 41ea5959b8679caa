from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, NamedTuple

import pytest

DATA = Path(__file__).parent / "data"
TREEBANKS = DATA / "treebanks"
ALPINO = DATA / "alpino"
CDB = TREEBANKS / "cdb-sample.xml"
SUITES = TREEBANKS / "suites-sample.xml"
WRPEE = TREEBANKS / "WRPEE-dummy.xml"


def repeat_treebank(dest: Path, copies: int, sources=(CDB, SUITES)) -> Path:
    """A bigger treebank made of real sentences repeated with unique ids."""
    blocks = []
    for src in sources:
        data = src.read_bytes()
        blocks += re.findall(rb"<alpino_ds .*?</alpino_ds>", data, flags=re.S)
    with open(dest, "wb") as f:
        f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<treebank>\n')
        for c in range(copies):
            suffix = b"/copy%d" % c
            for b in blocks:
                f.write(re.sub(rb'^(<alpino_ds id="[^"]*)"', rb'\1' + suffix + b'"', b))
                f.write(b"\n")
        f.write(b"</treebank>\n")
    return dest


def dump(db: Path, skip_times: bool = True) -> dict[str, list]:
    """Every row of every data table, in a stable order (timestamps and paths left out)."""
    conn = sqlite3.connect(db)
    out = {}
    for table, order in [("corpora", "name"), ("categories", "cat"),
                         ("corpus_categories", "corpus_id, cat"), ("sentences", "id"),
                         ("subtrees", "id"), ("errors", "id"), ("settings", "key"),
                         ("patterns", "id"), ("node_names", "name"),
                         ("node_values", "name, value")]:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if not cols:  # (a table an older index lacks)
            continue
        if skip_times:
            cols = [c for c in cols if c not in ("started_at", "finished_at")]
        sql = f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"
        out[table] = conn.execute(sql).fetchall()
    conn.close()
    return out


def interrupt_after(commits: int):
    """A progress callback that interrupts (as Ctrl-C does) after `commits` commits."""
    seen = []

    def callback(progress):
        seen.append(progress)
        if len(seen) == commits:
            raise KeyboardInterrupt
    return callback


@pytest.fixture
def tmp_copy(tmp_path):
    """Copy test data into tmp_path so tests may change it."""
    def copy(src: Path, name: str | None = None) -> Path:
        dest = tmp_path / (name or src.name)
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy(src, dest)
        return dest
    return copy


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A treebank of real sentences (12 copies) and the index an undisturbed ingest of it in
    small chunks builds: what interrupted runs must end up equal to."""
    tmp = tmp_path_factory.mktemp("corpus")
    src = repeat_treebank(tmp / "big.xml", 12)
    whole = tmp / "whole.db"
    subprocess.run([sys.executable, "-m", "treeindex", "ingest", "-q", "--db", str(whole),
                    "--chunk-mb", "0.05", str(src)], check=True)
    return src, whole


def serve(db: Path, log: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`treeindex serve DB` on a free port, once it answers: (process, base URL)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "treeindex", "serve", str(db), "--port",
                             str(port), *options], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return proc, base


class Call(NamedTuple):
    args: tuple
    kwargs: dict
    result: Any
    thread: str  # the name of the thread that called


def spy(monkeypatch, owner: Any, name: str) -> list[Call]:
    """Replace owner.name (for the test) by a wrapper that records each call in the list
    returned (before it is made, so a call that raises counts too; its result once made)."""
    real = getattr(owner, name)
    calls: list[Call] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(Call(args, kwargs, None, threading.current_thread().name))
        k = len(calls) - 1
        result = real(*args, **kwargs)
        calls[k] = calls[k]._replace(result=result)
        return result

    monkeypatch.setattr(owner, name, wrapper)
    return calls


ROOT = Path(__file__).resolve().parent.parent


class Commands(NamedTuple):
    """The `treeindex` command three ways, each in its own directory: `c`, the C front end
    (treeindex/bin/client.c, compiled here as setup.py does) with the Python command beside
    it as `treeindex-python`; `python`, the Python command alone, named `treeindex`; and
    `c_alone`, the C front end with a `treeindex-python` that only says it was run (exit
    status 99), to tell what the front end answers itself."""

    c: Path
    python: Path
    c_alone: Path


@pytest.fixture(scope="session")
def commands(tmp_path_factory) -> Commands:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:  # pragma: no cover - (CI has one: the C scanner needs it)
        pytest.skip("no C compiler")
    work = tmp_path_factory.mktemp("commands")
    script = (ROOT / "treeindex" / "bin" / "treeindex-python").read_text()
    script = f"#!{sys.executable}\n" + script.split("\n", 1)[1]
    made = {}
    for name in Commands._fields:
        (work / name).mkdir()
        made[name] = work / name / "treeindex"
    scripts = {work / "c" / "treeindex-python": script, work / "python" / "treeindex": script,
               work / "c_alone" / "treeindex-python": "#!/bin/sh\necho python; exit 99\n"}
    for path, text in scripts.items():
        path.write_text(text)
        path.chmod(0o755)
    subprocess.run([compiler, "-O2", "-Wall", "-Werror", "-o", str(made["c"]),
                    str(ROOT / "treeindex" / "bin" / "client.c")], check=True)
    shutil.copy2(made["c"], made["c_alone"])
    return Commands(**made)
