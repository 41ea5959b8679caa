"""ingest() on real sentences, checked against the independent grinder in reference.py."""

from __future__ import annotations

import gzip
import shutil
import sqlite3

import pytest
from conftest import (
    ALPINO,
    CDB,
    SUITES,
    TREEBANKS,
    WRPEE,
    dump,
    interrupt_after,
    repeat_treebank,
    spy,
)
from lxml import etree
from reference import category_counts, same_element, subtrees

from treeindex import DatabaseError, InputError, Interrupted, ingest
from treeindex.store.codec import Decoder, read_xml


def db_subtrees(db, corpus):
    conn = sqlite3.connect(db)
    decode = Decoder(conn)
    rows = conn.execute(
        "SELECT s.sentid, t.node, t.cat, t.n, t.rel, t.children, t.nodes, t.parent_cat, "
        "p.pattern, s.xml, t.xml_start, t.xml_end FROM subtrees t "
        "JOIN patterns p ON p.id = t.pattern_id "
        "JOIN sentences s ON s.id = t.sentence_id JOIN corpora c ON c.id = t.corpus_id "
        "WHERE c.name = ? ORDER BY s.seq, t.node", (corpus,)).fetchall()
    rows = [r[:9] + (decode(r[9]),) + r[10:] for r in rows]
    conn.close()
    return rows


@pytest.mark.parametrize("source, corpus", [
    (CDB, "cdb-sample"), (SUITES, "suites-sample"), (WRPEE, "WRPEE-dummy"),
    (ALPINO / "Titaantjes", "Titaantjes"), (ALPINO / "cdb", "cdb"),
])
def test_subtrees_equal_sequential_grinder(tmp_path, source, corpus):
    db = tmp_path / "t.db"
    report = ingest(db, [source], workers=2, chunk_bytes=8192)
    assert report.exit_code == 0
    expected = subtrees(source)
    got = db_subtrees(db, corpus)
    assert len(got) == len(expected) > 0
    for row, ref in zip(got, expected):
        sentid, node, cat, n, rel, kids, nodes, parent_cat, pattern, zxml, a, b = row
        assert (sentid, node, cat, n, rel, kids, nodes, parent_cat, pattern) == (
            ref["sentid"], ref["node"], ref["cat"], ref["n"], ref["rel"], ref["children"],
            ref["nodes"], ref["parent_cat"], ref["pattern"])
        # the stored span is exactly the subtree's element
        cut = etree.fromstring(zxml[a:b])  # (db_subtrees decodes the stored xml)
        assert same_element(cut, ref["element"])


def test_category_counts_equal_sequential_grinder(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=2)
    conn = sqlite3.connect(db)
    for corpus, source in (("cdb-sample", CDB), ("suites-sample", SUITES)):
        got = {cat: (s, n) for cat, s, n in conn.execute(
            "SELECT cat, subtrees, sentences FROM category_counts WHERE corpus = ?", (corpus,))}
        assert got == category_counts(source)
    total = conn.execute("SELECT sentences, subtrees FROM corpus_totals WHERE corpus='cdb-sample'")
    assert total.fetchone() == (150, sum(s for s, _ in category_counts(CDB).values()))


def test_settings_change_what_is_kept(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [CDB], max_children=2, max_nodes=10, workers=1)
    got = db_subtrees(db, "cdb-sample")
    expected = subtrees(CDB, max_children=2, max_nodes=10)
    assert [(r[0], r[1], r[3]) for r in got] == [(e["sentid"], e["node"], e["n"]) for e in expected]
    with pytest.raises(DatabaseError) as e:
        ingest(db, [SUITES])
    assert "was built with --max-children 2 --max-nodes 10" in str(e.value)
    assert "not --max-children 7 --max-nodes 1000" in str(e.value)


def test_workers_and_chunking_do_not_change_the_index(tmp_path):
    big = repeat_treebank(tmp_path / "big.xml", 3)
    dumps = []
    for i, (workers, chunk) in enumerate([(0, 1 << 20), (1, 1 << 20), (2, 4096), (3, 50_000)]):
        db = tmp_path / f"{i}.db"
        ingest(db, [big, ALPINO], workers=workers, chunk_bytes=chunk)
        d = dump(db)
        d["corpora"] = [r[:3] + r[4:] for r in d["corpora"]]  # source paths are equal anyway
        dumps.append(d)
    assert all(d == dumps[0] for d in dumps[1:])
    assert len(dumps[0]["sentences"]) == 3 * 400 + 112


@pytest.mark.parametrize("cores, chunk, rate, workers, sources", [
    (64, 1 << 20, None, 0, [CDB]),  # 700 KB: worth no worker process, whatever the cores
    (64, 256 << 10, 1e4, 3, [CDB]),  # worth workers: as many as it has chunks, not 64
    (2, 256 << 10, 1e4, 2, [CDB]),  # (and no more than the cores)
    (64, 1 << 20, 1e4, 2, [CDB, SUITES]),  # a chunk each: two tasks
])
def test_the_default_workers_are_what_the_input_is_worth(tmp_path, monkeypatch, cores, chunk,
                                                         rate, workers, sources):
    import treeindex.indexer as indexer
    from treeindex import cores as cores_module

    monkeypatch.setattr(cores_module, "available_cores", lambda: cores)
    if rate is not None:  # (as if parsing were slow: the work then pays for workers)
        monkeypatch.setattr(indexer, "INLINE_BYTES_PER_SECOND", rate)
    started = spy(monkeypatch, indexer, "owned_executor")
    ingest(tmp_path / "t.db", sources, chunk_bytes=chunk)
    ingest(tmp_path / "t.db", sources, chunk_bytes=chunk)  # complete: nothing to do
    assert [c.args[0] for c in started] == [workers, 0]
    ingest(tmp_path / "inline.db", sources, workers=0)
    assert dump(tmp_path / "t.db") == dump(tmp_path / "inline.db")


def test_a_given_executor_is_kept_as_busy_as_before(tmp_path, monkeypatch):
    """With an executor of the caller's (workers=None), tasks in flight follow the cores,
    not the rule for starting workers (which would allow 3 for a small input)."""
    from concurrent.futures import ThreadPoolExecutor

    import treeindex.export as exporting
    import treeindex.indexer as indexer
    from treeindex import cores

    monkeypatch.setattr(cores, "available_cores", lambda: 5)
    started = spy(monkeypatch, indexer, "owned_executor")
    exported = spy(monkeypatch, exporting, "owned_executor")
    with ThreadPoolExecutor(2) as pool:
        ingest(tmp_path / "t.db", [CDB], executor=pool)
        exporting.export(tmp_path / "t.db", tmp_path / "out", executor=pool)
    assert [c.args[:2] for c in started] == [(5, pool)]
    assert [c.args[:2] for c in exported] == [(5, pool)]
    ingest(tmp_path / "inline.db", [CDB], workers=0)
    assert dump(tmp_path / "t.db") == dump(tmp_path / "inline.db")


def test_tasks_run_in_threads_of_one_process_make_the_same_index(tmp_path):
    """An executor of the caller's may run tasks in threads (dask's threaded workers): the
    compressors a worker keeps are then one per thread; shared, two tasks' sentences went
    through one zstd compressor at once and failed ("Src size is incorrect")."""
    from concurrent.futures import ThreadPoolExecutor

    big = repeat_treebank(tmp_path / "big.xml", 2)
    with ThreadPoolExecutor(4) as pool:
        ingest(tmp_path / "threads.db", [big], executor=pool, chunk_bytes=20_000)
    ingest(tmp_path / "inline.db", [big], workers=0, chunk_bytes=20_000)
    assert dump(tmp_path / "threads.db") == dump(tmp_path / "inline.db")


def test_interrupted_ingest_resumes_to_the_same_index(tmp_path):
    big = repeat_treebank(tmp_path / "big.xml", 3)
    whole = tmp_path / "whole.db"
    ingest(whole, [big, ALPINO / "Titaantjes"], workers=2, chunk_bytes=20_000)

    db = tmp_path / "resumed.db"
    for stop_after in (3, 7, 30):  # commits before each interruption
        with pytest.raises(Interrupted):
            ingest(db, [big, ALPINO / "Titaantjes"], workers=2, chunk_bytes=20_000,
                   progress_callback=interrupt_after(stop_after))
    conn = sqlite3.connect(db)
    partial = conn.execute("SELECT sum(sentences), min(complete) FROM corpora").fetchone()
    conn.close()
    assert 0 < partial[0] < 1260 and partial[1] == 0
    report = ingest(db, [big, ALPINO / "Titaantjes"], workers=2, chunk_bytes=20_000)
    assert [c.status for c in report.corpora] == ["resumed", "indexed"] or \
        [c.status for c in report.corpora][0] == "resumed"
    assert dump(db) == dump(whole)


def test_complete_input_is_skipped_and_changed_input_refused(tmp_path, tmp_copy):
    src = tmp_copy(CDB)
    db = tmp_path / "t.db"
    ingest(db, [src])
    again = ingest(db, [src])
    assert [(c.name, c.status, c.sentences) for c in again.corpora] == [
        ("cdb-sample", "complete", 0)]
    src.write_bytes(src.read_bytes().replace(b"</treebank>", b"\n</treebank>"))
    with pytest.raises(InputError) as e:
        ingest(db, [src])
    assert str(e.value) == (
        f"{src}: differs from the input that was indexed as corpus 'cdb-sample' (from {src}); "
        "run again with --replace to index it from scratch")
    before = dump(db)
    replaced = ingest(db, [src], replace=True)
    assert replaced.corpora[0].status == "replaced"
    after = dump(db)
    assert len(after["sentences"]) == len(before["sentences"]) == 150
    # the same rows (ids keep growing: the replaced rows' ids are not reused)
    assert [r[3:] for r in after["subtrees"]] == [r[3:] for r in before["subtrees"]]
    assert [r[1:6] + r[7:] for r in after["sentences"]] == [
        r[1:6] + r[7:] for r in before["sentences"]]


def test_malformed_sentences_are_recorded_and_skipped(tmp_path):
    data = CDB.read_bytes()
    # break sentence cdb/2 (an unclosed tag) and cdb/5 (an undefined entity)
    s2 = data.index(b'<alpino_ds id="cdb/2"')
    s2_node = data.index(b"<node", s2)
    data = data[:s2_node] + b"<node <broken " + data[s2_node:]
    s5 = data.index(b'<alpino_ds id="cdb/5"')
    s5_word = data.index(b'word="', s5)
    data = data[:s5_word] + b'extra="&nope;" ' + data[s5_word:]
    bad = tmp_path / "bad.xml"
    bad.write_bytes(data)
    db = tmp_path / "t.db"
    report = ingest(db, [bad], workers=2, chunk_bytes=10_000)
    assert report.exit_code == 3
    assert report.corpora[0].errors == 2 and report.corpora[0].sentences == 148
    conn = sqlite3.connect(db)
    errors = conn.execute("SELECT file, offset, line, sentid, message FROM errors ORDER BY id")
    (f1, off1, line1, id1, msg1), (f2, off2, line2, id2, msg2) = errors.fetchall()
    assert (f1, off1, id1) == ("bad.xml", s2, "cdb/2")
    assert data.count(b"\n", 0, s2_node) + 1 == line1
    assert msg1.startswith("not well-formed XML:")
    assert (f2, off2, id2) == ("bad.xml", s5, "cdb/5")
    assert data.count(b"\n", 0, s5_word) + 1 == line2
    assert "nope" in msg2
    sentids = [r[0] for r in conn.execute("SELECT sentid FROM sentences ORDER BY seq")]
    assert "cdb/2" not in sentids and "cdb/5" not in sentids and len(sentids) == 148


def test_truncated_file_keeps_its_complete_sentences(tmp_path):
    data = CDB.read_bytes()
    cut = data.index(b'<alpino_ds id="cdb/101"') + 500
    bad = tmp_path / "cut.xml"
    bad.write_bytes(data[:cut])
    db = tmp_path / "t.db"
    report = ingest(db, [bad])
    complete = data[:cut].count(b"<alpino_ds ") - 1
    assert complete > 90 and report.corpora[0].sentences == complete
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT sentid, message FROM errors").fetchall() == [
        ("cdb/101", "truncated: no </alpino_ds> before the end of the input")]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty; give a <treebank> file or a one-sentence <alpino_ds> file"),
    (b"   \n", "is empty; give a <treebank> file or a one-sentence <alpino_ds> file"),
    (b'<?xml version="1.0"?>\n<project><x/></project>',
     "is not an Alpino treebank: its root element is <project>; treeindex reads <treebank> "
     "files of <alpino_ds> sentences and one-sentence <alpino_ds> files"),
    (b"hello, world", "does not start with XML markup (byte 0); treeindex reads Alpino "
     "treebanks (<treebank> or <alpino_ds> XML)"),
    (b"<treebank>\n</treebank>\n", "holds no <alpino_ds> sentences; is it the right file?"),
])
def test_not_a_treebank_leaves_the_database_untouched(tmp_path, content, message):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    db = tmp_path / "t.db"
    with pytest.raises(InputError) as e:
        ingest(db, [bad])
    assert str(e.value) == f"{bad}: {message}"
    assert not db.exists()
    ingest(db, [WRPEE])
    before = dump(db)
    with pytest.raises(InputError):
        ingest(db, [CDB, bad])  # a good input next to a bad one: nothing is written
    assert dump(db) == before


def test_entities_are_never_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = CDB.read_bytes().replace(
        b"<treebank>",
        f'<!DOCTYPE treebank [<!ENTITY l0 "lol">{laughs}'
        f'<!ENTITY xxe SYSTEM "file://{secret}">]>\n<treebank>'.encode(), 1)
    first = data.index(b'word="')
    data = data[:first] + b'x="&xxe;" y="&l9;" ' + data[first:]
    evil = tmp_path / "evil.xml"
    evil.write_bytes(data)
    db = tmp_path / "t.db"
    report = ingest(db, [evil])
    assert report.corpora[0].errors == 1 and report.corpora[0].sentences == 149
    conn = sqlite3.connect(db)
    (message,) = conn.execute("SELECT message FROM errors").fetchone()
    assert "xxe" in message
    blobs = b"".join(read_xml(conn, x) for (x,) in conn.execute("SELECT xml FROM sentences"))
    assert b"TOP-SECRET" not in blobs and b"lollol" not in blobs


def test_declared_encoding_and_byte_order_mark(tmp_path):
    text = (ALPINO / "cdb" / "1.xml").read_text(encoding="utf-8")
    latin = tmp_path / "latin"
    latin.mkdir()
    body = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace(
        'word="De"', 'word="Déjà"')
    (latin / "1.xml").write_bytes(body.encode("latin-1"))
    (latin / "2.xml").write_bytes(b"\xef\xbb\xbf" + text.replace('word="De"', 'word="Ça"').encode())
    tb = tmp_path / "latin-treebank.xml"
    tb.write_bytes(CDB.read_text(encoding="utf-8")
                   .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
                   .replace('word="De"', 'word="Dé"').encode("latin-1"))
    db = tmp_path / "t.db"
    report = ingest(db, [latin, tb])
    assert report.exit_code == 0
    conn = sqlite3.connect(db)
    xml = b"".join(read_xml(conn, x) for (x,) in conn.execute(
        "SELECT xml FROM sentences JOIN corpora c ON c.id = corpus_id WHERE c.name = 'latin'"))
    assert 'word="Déjà"'.encode() in xml and 'word="Ça"'.encode() in xml
    tb_xml = b"".join(read_xml(conn, x) for (x,) in conn.execute(
        "SELECT xml FROM sentences WHERE file IS NULL"))
    assert 'word="Dé"'.encode() in tb_xml


def test_gzip_input_gives_the_same_rows(tmp_path):
    gz = tmp_path / "cdb-sample.xml.gz"
    gz.write_bytes(gzip.compress(CDB.read_bytes()))
    plain, packed = tmp_path / "plain.db", tmp_path / "packed.db"
    ingest(plain, [CDB], chunk_bytes=30_000)
    ingest(packed, [gz], chunk_bytes=30_000)
    a, b = dump(plain), dump(packed)
    for table in ("sentences", "subtrees", "corpus_categories", "categories"):
        assert a[table] == b[table]


def test_gzip_resume(tmp_path):
    big = repeat_treebank(tmp_path / "big.xml", 2)
    gz = tmp_path / "big.xml.gz"
    gz.write_bytes(gzip.compress(big.read_bytes()))
    whole, db = tmp_path / "whole.db", tmp_path / "t.db"
    ingest(whole, [gz], chunk_bytes=20_000)
    with pytest.raises(Interrupted):
        ingest(db, [gz], chunk_bytes=20_000, progress_callback=interrupt_after(5))
    ingest(db, [gz], chunk_bytes=20_000)
    assert dump(db) == dump(whole)


def test_directories_natural_order_and_nesting(tmp_path):
    db = tmp_path / "t.db"
    report = ingest(db, [TREEBANKS.parent])  # tests/data: treebanks/ and alpino/<suite>/
    names = [c.name for c in report.corpora]
    assert names == ["Titaantjes", "cdb", "ovis", "WRPEE-dummy", "cdb-sample", "suites-sample"]
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute(
        "SELECT sentid FROM sentences s JOIN corpora c ON c.id = s.corpus_id "
        "WHERE c.name = 'Titaantjes' ORDER BY seq LIMIT 16")]
    assert ids[:4] == ["2-1", "3-1", "4-1", "4-2"]
    assert ids.index("4-9") < ids.index("4-10")
    files = [r[0] for r in conn.execute(
        "SELECT file FROM sentences s JOIN corpora c ON c.id = s.corpus_id "
        "WHERE c.name = 'cdb' ORDER BY seq")]
    assert files == ["1.xml", "2.xml", "3.xml", "9.xml", "10.xml", "11.xml", "99.xml",
                     "100.xml", "101.xml", "1028.xml", "1086.xml", "1092.xml"]


def test_sentences_without_id_get_positional_ids(tmp_path):
    data = CDB.read_bytes()
    data = data.replace(b'<alpino_ds id="cdb/3" ', b"<alpino_ds ").replace(
        b'<alpino_ds id="cdb/7" ', b"<alpino_ds ")
    src = tmp_path / "noid.xml"
    src.write_bytes(data)
    db = tmp_path / "t.db"
    ingest(db, [src])
    conn = sqlite3.connect(db)
    # the sample starts at cdb/0, so cdb/3 and cdb/7 are the 4th and 8th sentences
    rows = conn.execute("SELECT seq, sentid FROM sentences WHERE sentid LIKE '#%'").fetchall()
    assert rows == [(4, "#4"), (8, "#8")]
    assert conn.execute("SELECT positional_ids FROM corpora").fetchone() == (2,)


def test_same_corpus_name_twice_is_refused(tmp_path, tmp_copy):
    other = tmp_path / "other"
    other.mkdir()
    (other / "cdb-sample.xml").write_bytes(CDB.read_bytes())
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [CDB, other / "cdb-sample.xml"])
    assert "two inputs would both be corpus 'cdb-sample'" in str(e.value)


def test_directory_skips_non_treebank_files_and_reads_gzip(tmp_path):
    d = tmp_path / "suite"
    d.mkdir()
    for name in ("1.xml", "2.xml", "10.xml"):
        (d / name).write_bytes((ALPINO / "cdb" / name).read_bytes())
    (d / "3.xml.gz").write_bytes(gzip.compress((ALPINO / "cdb" / "3.xml").read_bytes()))
    (d / "notes.xml").write_bytes(b"<notes>not a treebank</notes>")
    (d / "readme.txt").write_text("ignored: not .xml")
    db = tmp_path / "t.db"
    report = ingest(db, [d])
    assert report.exit_code == 3
    assert [(p.name, reason) for p, reason in report.skipped] == [
        ("notes.xml", f"{d / 'notes.xml'}: is not an Alpino treebank: its root element is "
         "<notes>; treeindex reads <treebank> files of <alpino_ds> sentences and one-sentence "
         "<alpino_ds> files")]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT sentid, file FROM sentences ORDER BY seq").fetchall() == [
        ("1", "1.xml"), ("2", "2.xml"), ("3", "3.xml.gz"), ("10", "10.xml")]


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    packed = gzip.compress(CDB.read_bytes())
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])  # a download that stopped early
    db = tmp_path / "t.db"
    report = ingest(db, [cut], chunk_bytes=30_000)
    assert report.exit_code == 3
    conn = sqlite3.connect(db)
    (sentences,) = conn.execute("SELECT count(*) FROM sentences").fetchone()
    assert 60 < sentences < 150
    (message,) = conn.execute("SELECT message FROM errors").fetchone()
    assert message == "truncated: no </alpino_ds> before the end of the input"
    # two gzip members in a row read as one stream
    two = tmp_path / "two.xml.gz"
    data = CDB.read_bytes()
    half = data.index(b'<alpino_ds id="cdb/75"')
    two.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    ingest(tmp_path / "two.db", [two])
    ingest(tmp_path / "plain.db", [CDB])
    assert dump(tmp_path / "two.db")["subtrees"] == dump(tmp_path / "plain.db")["subtrees"]


def test_error_rows_do_not_depend_on_the_number_of_workers(tmp_path):
    """A directory's skipped files are recorded with its first batch: after every row of the
    corpus before it, even when that corpus's last (malformed) sentences are still in flight
    when the directory is planned."""
    text = CDB.read_text(encoding="utf-8")
    parts = text.split("</alpino_ds>")
    parts[-2] = parts[-2].replace("</node>", "</nod>", 1)  # the very last sentence
    tb = tmp_path / "tb.xml"
    tb.write_text("</alpino_ds>".join(parts), encoding="utf-8")
    folder = tmp_path / "dirc"
    shutil.copytree(ALPINO / "cdb", folder)
    (folder / "broken.xml").write_text("garbage")
    dumps = []
    for workers in (0, 1, 4):
        db = tmp_path / f"w{workers}.db"
        ingest(db, [tb, folder], workers=workers, chunk_bytes=20_000)
        dumps.append(dump(db))
    assert dumps[0] == dumps[1] == dumps[2]
    errors = dumps[0]["errors"]
    assert [e[1] for e in errors] == [1, 2]  # the treebank's error, then the folder's file
