"""`treeindex search` through the CLI: formats, counts, statistics, macros, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from conftest import CDB, WRPEE, dump
from lxml import etree

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import search

NP_DE = '//node[@cat="np" and node[@rel="det" and @lemma="de"]]'


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("search-cli") / "t.db"
    ingest(db, [CDB, WRPEE], workers=0)
    return db


def test_text_brackets_the_hit(index):
    result = run("search", "--db", index, "--workers", 0, "--limit", 2, NP_DE)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    hits = list(search(index, NP_DE, limit=2, workers=0))
    for line, hit in zip(lines, hits):
        corpus, sentid, text = line.split("\t")
        assert (corpus, sentid) == (hit.corpus, hit.sentid)
        assert text.replace("[", "").replace("]", "") == hit.sentence
        inside = " ".join(w for part in text.split("[")[1:] for w in [part.split("]")[0]])
        assert inside.split() == hit.words


def _bracketed_word_by_word(hit):
    """The obvious reading of `formats.bracketed`: every word of the sentence in turn."""
    marked = set(hit.positions)
    out = []
    for i, word in enumerate(hit.sentence.split()):
        opens = i in marked and i - 1 not in marked
        closes = i in marked and i + 1 not in marked
        out.append(("[" if opens else "") + word + ("]" if closes else ""))
    if not hit.words:
        out.append(f"[∅ {hit.rel or hit.cat or 'node'}]")
    return " ".join(out)


def test_brackets_are_those_of_the_word_by_word_reading(index):
    """On every hit of the bundled sentences and on 20,000 made-up ones (runs, gaps,
    repeated, negative and out-of-range positions, empty sentences)."""
    import random

    from treeindex.search.formats import bracketed

    hits = list(search(index, "//node", workers=0))
    rng = random.Random(34)
    for _ in range(20_000):
        words = [rng.choice(["de", "fiets", "[", "]", "x"]) for _ in range(rng.randint(0, 12))]
        positions = [rng.randint(-2, len(words) + 2) for _ in range(rng.randint(0, 6))]
        hits.append(hits[0]._replace(sentence=" ".join(words), positions=positions,
                                     words=["w"] * rng.randint(0, 1)))
    assert len(hits) > 20_000
    for hit in hits:
        assert bracketed(hit) == _bracketed_word_by_word(hit), hit


def test_records_in_csv_json_and_nl(index):
    hits = list(search(index, NP_DE, workers=0))
    nl = run("search", "--db", index, "--format", "nl", NP_DE).output.splitlines()
    records = [json.loads(line) for line in nl]
    assert len(records) == len(hits)
    assert set(records[0]) >= {"corpus", "sentid", "id", "cat", "pt", "rel", "begin", "end",
                               "words", "sentence", "label"}
    assert records[0]["label"].startswith("np-") and records[0]["cat"] == "np"
    assert json.loads(run("search", "--db", index, "--format", "json", NP_DE).output) == records
    rows = list(csv.DictReader(io.StringIO(
        run("search", "--db", index, "--format", "csv", NP_DE).output)))
    assert [r["words"] for r in rows] == [" ".join(r["words"]) for r in records]


def test_count_and_stats_in_every_format(index):
    text = run("search", "--db", index, "--count", NP_DE).output.splitlines()
    assert text[0].split() == ["corpus", "hits", "sentences"]
    total = len(list(search(index, NP_DE, workers=0)))
    assert text[-1].split()[:2] == ["(all)", f"{total:,}"]
    counted = json.loads(run("search", "--db", index, "--count", "--format", "json",
                             NP_DE).output)
    assert counted[-1]["hits"] == total
    st = run("search", "--db", index, "--stats", "lemma,pt", "--format", "csv",
             '//node[@rel="hd" and ../@cat="np"]').output
    rows = list(csv.DictReader(io.StringIO(st)))
    assert list(rows[0]) == ["lemma", "pt", "count", "percent"]
    assert [int(r["count"]) for r in rows] == sorted((int(r["count"]) for r in rows),
                                                     reverse=True)
    assert any(r["lemma"] == "[missing]" for r in rows)  # phrasal heads have no lemma
    assert abs(sum(float(r["percent"]) for r in rows) - 100) < 0.5


def test_xml_is_a_treebank_treeindex_reads_again(index, tmp_path):
    out = tmp_path / "np-de.xml"
    result = run("search", "--db", index, "--format", "xml", "-o", out, NP_DE)
    assert result.exit_code == 0 and result.output == ""
    root = etree.parse(str(out)).getroot()
    matching = {(h.corpus, h.sentid) for h in search(index, NP_DE, workers=0)}
    assert root.tag == "treebank" and len(root) == len(matching)
    again = tmp_path / "again.db"
    ingest(again, [out], workers=0)
    assert len(dump(again)["sentences"]) == len(matching)
    assert len(list(search(again, NP_DE, workers=0))) == len(list(search(index, NP_DE,
                                                                          workers=0)))


def test_macros_from_a_file_or_the_environment(index, tmp_path):
    macros = tmp_path / "macros.txt"
    macros.write_text('# Dact-style macros\nnp = """node[@cat="np"]"""\n\n'
                      'de = """%np%[node[@rel="det" and @lemma="de"]]"""\n')
    by_file = run("search", "--db", index, "--macros", macros, "--count", "//%de%")
    by_env = run("search", "--db", index, "--count", "//%de%",
                 env={"TREEINDEX_MACROS": str(macros)})
    plain = run("search", "--db", index, "--count", NP_DE.replace(
        'node[@cat="np" and node[@rel="det" and @lemma="de"]]',
        'node[@cat="np"][node[@rel="det" and @lemma="de"]]'))
    assert by_file.exit_code == 0, by_file.output
    assert by_file.output == by_env.output == plain.output


@pytest.mark.parametrize("args, message", [
    (['//node[@cat="np" and ]'],
     "Error: the query is not valid XPath: "),
    (["//node/@word"],
     "Error: the query '//node/@word' selects attribute values (@word), not <node> elements: "),
    (["count(//node)"], "Error: the query 'count(//node)' selects numbers, not <node>"),
    (["%nosuch%"], "Error: unknown macro %nosuch%; known macros: none are defined"),
    (["--corpus", "cdb", "//node"],
     "Error: unknown corpus 'cdb'; the corpora in this index are (closest first): cdb-sample"),
])
def test_bad_queries_are_one_clear_message(index, args, message):
    result = run("search", "--db", index, *args)
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert "Traceback" not in result.output


def test_the_caret_points_at_the_error(index):
    result = run("search", "--db", index, '//node[@cat="np" and ]')
    lines = result.output.splitlines()
    assert lines[-2] == '  //node[@cat="np" and ]'
    assert lines[-1].index("^") == lines[-2].index("]")


def test_a_bad_macros_file_names_the_file_and_line(index, tmp_path):
    macros = tmp_path / "macros.txt"
    macros.write_text('# fine\nnp = """node[@cat="np"]"""\n\nbroken = "no triple quotes"\n')
    result = run("search", "--db", index, "--macros", macros, "//%np%")
    assert result.exit_code == 1
    assert result.output == (f'Error: {macros}, line 4: expected = """ after the macro name '
                             "'broken'\n")
    cycle = tmp_path / "cycle.txt"
    cycle.write_text('a = """%b%"""\nb = """//%a%"""\n')
    result = run("search", "--db", index, "--macros", cycle, "%a%")
    assert result.output == "Error: the macros refer to each other in a cycle: a -> b -> a\n"


def test_search_o_removes_what_a_killed_run_left_and_writes_whole(index, tmp_path):
    out = tmp_path / "hits.tsv"
    stale = tmp_path / "hits.tsv.tmp-999999999"  # a pid no process has
    stale.write_text("half")
    result = run("search", "--db", index, "-o", out, NP_DE)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["hits.tsv"]
    missing = run("search", "--db", index, "-o", tmp_path / "nodir" / "x.csv", NP_DE)
    assert missing.output == (f"Error: {tmp_path / 'nodir' / 'x.csv'}: cannot be written (No "
                              f"such file or directory); the folder {tmp_path / 'nodir'} does "
                              "not exist: create it, or write elsewhere\n")


def test_the_format_comes_from_the_output_file_s_extension(index, tmp_path):
    for name, first in (("h.csv", "corpus,sentid,id"), ("h.json", "["), ("h.jsonl", '{"corpus"'),
                        ("h.xml", "<?xml"), ("h.tsv", "cdb-sample\t")):
        result = run("search", "--db", index, "--limit", 2, "-o", tmp_path / name, NP_DE)
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_text().startswith(first), name
    clash = run("search", "--db", index, "--format", "json", "-o", tmp_path / "h.csv", NP_DE)
    assert clash.exit_code == 2
    assert clash.output.endswith("Error: -o h.csv is csv, --format says json: give one of "
                                 "them, or another extension\n")


def test_xml_of_one_sentence_files_keeps_their_ids_when_ingested_again(tmp_path):
    import sqlite3

    from conftest import ALPINO

    first, again = tmp_path / "a.db", tmp_path / "b.db"
    ingest(first, sorted(p for p in ALPINO.iterdir() if p.is_dir()), workers=0)
    out = tmp_path / "all.xml"
    assert run("search", "--db", first, "-o", out, '//node[@rel="top"]').exit_code == 0
    ingest(again, [out], workers=0)

    def ids(db):
        return [r[0] for r in sqlite3.connect(db).execute(
            "SELECT sentid FROM sentences ORDER BY id")]

    assert ids(again) == ids(first) and not any(i.startswith("#") for i in ids(again))


def test_words_come_from_the_leaves_without_a_sentence_and_empty_hits_are_shown(index):
    # WRPEE-dummy's sentences have no <sentence> element
    for engine in ("nodes", "lxml"):
        result = run("search", "--db", index, "--engine", engine, "--corpus", "WRPEE-dummy",
                     "--limit", 1, '//node[@rel="su" and @index and not(@cat or @word)]')
        assert result.output == ("WRPEE-dummy\t18.p.1.s.1\tComputers hoeven geen Nederlands "
                                 "te kunnen verstaan [∅ su]\n"), engine
        words = run("search", "--db", index, "--engine", engine, "--corpus", "WRPEE-dummy",
                    "--limit", 1, '//node[@word="Computers"]')
        assert words.output == ("WRPEE-dummy\t18.p.1.s.1\t[Computers] hoeven geen Nederlands "
                                "te kunnen verstaan\n"), engine


def test_xml_to_a_folder_keeps_each_sentence_s_corpus_and_id(tmp_path):
    import sqlite3

    from conftest import ALPINO

    first, again = tmp_path / "a.db", tmp_path / "b.db"
    ingest(first, sorted(p for p in ALPINO.iterdir() if p.is_dir()), workers=0)
    out = tmp_path / "out"
    result = run("search", "--db", first, "-o", f"{out}/", '//node[@rel="top"]')
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.xml"))
    assert [f.stem for f in files] == ["Titaantjes", "cdb", "ovis"]
    ingest(again, files, workers=0)

    def rows(db):
        return sqlite3.connect(db).execute(
            "SELECT c.name, s.sentid FROM sentences s JOIN corpora c ON c.id = s.corpus_id "
            "ORDER BY c.name, s.seq").fetchall()

    assert rows(again) == rows(first)
    text = run("search", "--db", first, "--format", "text", "-o", f"{out}/", "//node")
    assert text.exit_code == 2 and "only --format xml writes to a folder" in text.output


@pytest.mark.parametrize("how", [["--count"], ["--stats", "lemma"]])
def test_limit_with_count_or_stats_is_a_usage_error(index, how):
    # (it once stopped a count after N hits where lxml evaluated the query, and was ignored
    # where the node table did)
    result = run("search", "--db", index, *how, "--limit", 3, NP_DE)
    assert result.exit_code == 2
    assert result.output.endswith("Error: --limit stops the list of hits; --count and --stats "
                                  "count every hit: leave --limit out\n")


@pytest.mark.parametrize("engine", ["lxml", "auto", "nodes"])
def test_count_and_stats_give_the_same_answer_whatever_the_engine(index, engine):
    from collections import Counter

    from treeindex.search import count, stats

    hits = list(search(index, NP_DE, engine="lxml", workers=0, attrs=("lemma",)))
    c = count(index, NP_DE, engine=engine, workers=0)
    assert (c.hits, c.sentences) == (len(hits), len({(h.corpus, h.seq) for h in hits}))
    assert dict(stats(index, NP_DE, ("lemma",), engine=engine, workers=0)) == \
        dict(Counter(h.values for h in hits))


def test_a_search_checks_its_index_once_and_keeps_nothing_after(index, monkeypatch):
    """A command opens its index four times: the schema is checked at the first open only,
    and when the command ends the process remembers nothing (no kept connection, no state
    that passed), so a process that goes on never reuses either."""
    import os

    from treeindex.store import connect, validate
    from treeindex.store import index as index_module

    checked = []
    real = validate.check
    monkeypatch.setattr(validate, "check", lambda *a: checked.append(1) or real(*a))
    for _ in range(2):
        checked.clear()
        result = run("search", "--db", index, "--workers", 0, "--count", NP_DE)
        assert result.exit_code == 0, result.output
        assert len(checked) == 1
        assert connect.remember_checks is False
        assert not connect._checked
        assert not [k for k in index_module._idle if k[0] == os.getpid()]


_MODULES_PROBE = """
import sys
from treeindex.__main__ import main
sys.argv = ["treeindex", "search", "--count", "--db", sys.argv[1], *sys.argv[2:]]
try:
    main()
except SystemExit:
    pass
print(sorted(m for m in ("treeindex.pool", "concurrent.futures", "multiprocessing")
             if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("how", [["--engine", "lxml"], ["--engine", "nodes"]])
def test_a_search_that_starts_no_worker_loads_no_pool(index, how):
    # (the pool's imports are most of what starting workers costs a search: 0.06-0.1 s)
    import os
    import subprocess
    import sys

    env = {**os.environ, "TREEINDEX_SERVER": "off"}
    out = subprocess.run([sys.executable, "-c", _MODULES_PROBE, str(index), *how,
                          '//node[@cat="np"]'], env=env, capture_output=True, text=True,
                         check=True)
    assert "(all)" in out.stdout
    assert out.stderr.strip().splitlines()[-1] == "[]"
