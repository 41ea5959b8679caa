#!/usr/bin/env python3
"""Probe `treeindex serve` as a hostile visitor would, and say how it held:

- a catastrophic regular expression (on a sentence with a long word of a's) as a search and
  as a highlight, while /-/versions.json and a plain search are timed beside it;
- queries that try to read files (doc, unparsed-text, collection, ...) on paths that exist
  and do not: the answers must not differ by path;
- 100-deep nesting, a 600 KB query (in a POST body), a 1.3 MB one in the address;
- compressed bombs handed to the SQL functions (the server's peak memory is reported);
- pages read while an ingest writes, and after rm and rename.

    python3 scripts/probe_web.py [--limit 5] [--out /tmp/treeindex-probe-web]

Exit 1 if any check fails. The next hardening round adds its probes here.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import CDB, repeat_treebank, serve  # noqa: E402
from test_web_server import CATASTROPHIC, LONG_AS  # noqa: E402

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


def get(base: str, path: str, data: bytes | None = None, opener=None, **args: str
        ) -> tuple[float, int, str]:
    url = base + path + ("?" + urllib.parse.urlencode(args) if args else "")
    started = time.perf_counter()
    try:
        with (opener or urllib.request.build_opener()).open(url, data=data, timeout=120) as r:
            return time.perf_counter() - started, r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        try:
            body = e.read().decode(errors="replace")
        except OSError:
            body = ""
        return time.perf_counter() - started, e.code, body
    except OSError as e:
        return time.perf_counter() - started, 0, repr(e)


def message(body: str) -> str:
    m = re.search(r'class="message-error">([^<]*)<', body)
    return m.group(1) if m else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=5.0, help="serve --time-limit")
    ap.add_argument("--out", type=Path, default=Path("/tmp/treeindex-probe-web"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    (args.out / "as.xml").write_bytes(LONG_AS)
    db = args.out / "t.db"
    subprocess.run([sys.executable, "-m", "treeindex", "ingest", "-q", "--db", str(db),
                    str(CDB), str(args.out / "as.xml")], check=True)
    proc, base = serve(db, args.out / "serve.log", "--time-limit", str(args.limit))
    try:
        get(base, "/-/treeindex/search", q='//node[@cat="np"]', mode="count")
        for page, extra in (("/-/treeindex/search", {"q": CATASTROPHIC, "mode": "count"}),
                            ("/-/treeindex/tree", {"sentid": "as/1", "corpus": "as",
                                                   "highlight": CATASTROPHIC})):
            slow: dict = {}
            t = threading.Thread(target=lambda p=page, e=extra, into=slow: into.update(
                r=get(base, p, **e)))
            t.start()
            time.sleep(0.5)
            took, status, _ = get(base, "/-/versions.json")
            check(status == 200 and took < 1, f"{page} catastrophic: versions.json in "
                                              f"{took:.3f} s")
            took, status, body = get(base, "/-/treeindex/search", q='//node[@cat="np"]',
                                     mode="count")
            check(status == 200 and took < 1 and "(all)" in body,
                  f"{page} catastrophic: a plain search in {took:.3f} s")
            t.join()
            took, status, body = slow["r"]
            check("time limit" in message(body), f"{page} catastrophic: stopped after "
                                                 f"{took:.1f} s: {message(body)[:60]!r}")
        secret = args.out / "secret.xml"
        secret.write_text("<secret><node>s3cr3t</node></secret>")
        answers = set()
        for path in (secret, "/etc", "/etc/passwd", "/nonexistent", args.out):
            for fn in ("doc", "doc-available", "unparsed-text", "collection"):
                _, status, body = get(base, "/-/treeindex/search", q=f'//node[{fn}("{path}")]')
                answers.add((fn, message(body)))
                check(status == 200 and "s3cr3t" not in body and "reads outside" in
                      message(body), f"{fn}({path}) refused")
        check(len(answers) == 4, "the refusals do not depend on the path")
        deep = "//node[" + "node[" * 100 + "@a" + "]" * 101
        _, status, body = get(base, "/-/treeindex/search", q=deep)
        check(status == 200 and "nests brackets" in message(body), "100-deep nesting")
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        _, _, form = get(base, "/-/treeindex/search", opener=opener)
        token = re.search(r'name="csrftoken" disabled value="([^"]*)"', form)
        long = "//node[" + " or ".join(f'@word="w{i}"' for i in range(30000)) + "]"
        data = urllib.parse.urlencode({"q": long, "csrftoken": token.group(1) if token
                                       else ""}).encode()
        took, status, body = get(base, "/-/treeindex/search", data=data, opener=opener)
        check(status == 200 and "limit of a query" in message(body),
              f"{len(data):,}-byte query in a POST body: {took:.2f} s")
        took, status, body = get(base, "/-/treeindex/search", q="x" * 1_300_000)
        print(f"     a 1.3 MB query in the address: HTTP {status or 'connection reset'} in "
              f"{took:.2f} s (the server refuses it before treeindex sees it)")
        import zstandard

        before = peak(proc.pid)
        for bomb in (zstandard.ZstdCompressor(level=19).compress(b"a" * (256 << 20)),
                     b"\x28\xb5\x2f\xfd\xe0" + (4 << 30).to_bytes(8, "little") + b"\1\0\0"):
            sql = f"SELECT length(treeindex_xml(CAST(x'{bomb.hex()}' AS BLOB)))"
            get(base, "/t.json", sql=sql)
        check(peak(proc.pid) < 300, f"compressed bombs: server peak {before:.0f} -> "
                                    f"{peak(proc.pid):.0f} MB")
        big = repeat_treebank(args.out / "big.xml", 8)
        ingest = subprocess.Popen([sys.executable, "-m", "treeindex", "ingest", "-q", "--db",
                                   str(db), "--chunk-mb", "0.1", str(big)])
        bad = reads = 0
        while ingest.poll() is None:
            for path in ("/t/corpora.json?_shape=array", "/t/sentences?_size=3"):
                _, status, body = get(base, path)
                reads += 1
                bad += status != 200 or "malformed" in body
        check(bad == 0, f"{reads} pages read during an ingest: {bad} errors")
        for command in (["rename", "--db", str(db), "big", "renamed"],
                        ["rm", "--db", str(db), "renamed"]):
            subprocess.run([sys.executable, "-m", "treeindex", *command], check=True,
                           capture_output=True)
            _, status, body = get(base, "/t/corpora.json", _shape="array")
            check(status == 200 and '"big"' not in body and
                  ('"renamed"' in body) == (command[0] == "rename"),
                  f"after {command[0]}: the page shows what is committed")
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


def peak(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) / 1024


if __name__ == "__main__":
    sys.exit(main())
