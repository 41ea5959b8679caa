"""Archives (.zip, .tar, .tar.gz): each folder inside is a corpus exactly as the same folder
on disk; nothing is unpacked; hostile archives are refused before anything is written."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile

import pytest
from conftest import ALPINO, TREEBANKS, dump, interrupt_after, spy

from treeindex import InputError, Interrupted, ingest

KINDS = ["zip", "tar", "tar.gz"]


def tree(tmp_path):
    """An unpacked tree: data/ with treebanks/ and alpino/<suite>/ (the bundled sample)."""
    root = tmp_path / "data"
    shutil.copytree(TREEBANKS, root / "treebanks")
    shutil.copytree(ALPINO, root / "alpino")
    return root


def pack(root, kind, dest):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if kind == "zip":
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, f"{root.name}/{p.relative_to(root)}")
    else:
        with tarfile.open(dest, "w:gz" if kind == "tar.gz" else "w") as t:
            for p in files:
                t.add(p, f"{root.name}/{p.relative_to(root)}")
    return dest


def without_corpora(d):
    return {t: rows for t, rows in d.items() if t != "corpora"}


@pytest.mark.parametrize("kind", KINDS)
def test_an_archive_gives_the_index_of_its_unpacked_tree(tmp_path, kind):
    root = tree(tmp_path)
    archive = pack(root, kind, tmp_path / f"data.{kind}")
    dbs = tmp_path / "dbs"
    dbs.mkdir()
    unpacked, packed = dbs / "u.db", dbs / "p.db"
    ingest(unpacked, [root], workers=0)
    before = sorted(p.name for p in tmp_path.iterdir())
    report = ingest(packed, [archive], workers=2, chunk_bytes=100_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing unpacked
    a, b = dump(unpacked), dump(packed)
    assert without_corpora(a) == without_corpora(b)
    assert [r[1] for r in a["corpora"]] == [r[1] for r in b["corpora"]]
    assert len(report.corpora) == 6


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_resume_by_members(tmp_path, kind):
    root = tree(tmp_path)
    archive = pack(root, kind, tmp_path / f"data.{kind}")
    whole, db = tmp_path / "w.db", tmp_path / "t.db"
    ingest(whole, [archive], workers=0, chunk_bytes=20_000)
    with pytest.raises(Interrupted):
        ingest(db, [archive], workers=2, chunk_bytes=20_000,
               progress_callback=interrupt_after(5))
    ingest(db, [archive], workers=2, chunk_bytes=20_000)
    assert dump(db) == dump(whole)


def zip_with(tmp_path, name, data=b"<alpino_ds/>", link=False):
    dest = tmp_path / "evil.zip"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if link:
            info.external_attr = 0o120777 << 16
        z.writestr(info, data)
    return dest


def tar_with(tmp_path, name, link=False):
    dest = tmp_path / "evil.tar"
    with tarfile.open(dest, "w") as t:
        info = tarfile.TarInfo(name)
        if link:
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            t.addfile(info)
        else:
            data = (ALPINO / "cdb" / "1.xml").read_bytes()
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return dest


@pytest.mark.parametrize("make, message", [
    (lambda t: zip_with(t, "../escape.xml"), "member '../escape.xml' climbs out of the archive"),
    (lambda t: zip_with(t, "a/../../x.xml"), "member 'a/../../x.xml' climbs out of the archive"),
    (lambda t: zip_with(t, "link.xml", link=True), "member 'link.xml' is a link"),
    (lambda t: zip_with(t, "bomb.xml", b"<alpino_ds>" + b"\0" * (64 << 20)),
     "member 'bomb.xml' would inflate to 67,108,875 bytes from"),
    (lambda t: tar_with(t, "/etc/evil.xml"), "member '/etc/evil.xml' has an absolute name"),
    (lambda t: tar_with(t, "../x.xml"), "member '../x.xml' climbs out of the archive"),
    (lambda t: tar_with(t, "link.xml", link=True), "member 'link.xml' is a link or device"),
])
def test_hostile_archives_are_refused_before_any_write(tmp_path, make, message):
    archive = make(tmp_path)
    db = tmp_path / "t.db"
    with pytest.raises(InputError) as e:
        ingest(db, [archive], workers=0)
    assert str(e.value).startswith(f"{archive}: {message}"), str(e.value)
    assert not db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_a_truncated_archive_is_one_clear_error(tmp_path):
    root = tree(tmp_path)
    archive = pack(root, "zip", tmp_path / "data.zip")
    archive.write_bytes(archive.read_bytes()[:5000])
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [archive], workers=0)
    assert str(e.value).startswith(f"{archive}: cannot be read as an archive (")


def test_members_that_are_not_treebanks_are_recorded(tmp_path):
    root = tree(tmp_path)
    (root / "alpino" / "ovis" / "notes.xml").write_bytes(b"<notes>not a treebank</notes>")
    archive = pack(root, "zip", tmp_path / "data.zip")
    db = tmp_path / "t.db"
    report = ingest(db, [archive], workers=0)
    assert report.exit_code == 3
    import sqlite3
    rows = sqlite3.connect(db).execute(
        "SELECT c.name, e.file, e.message FROM errors e JOIN corpora c ON c.id = e.corpus_id"
    ).fetchall()
    assert rows == [("ovis", "notes.xml", f"{archive}: member data/alpino/ovis/notes.xml: is "
                     "not an Alpino treebank: its root element is <notes>; treeindex reads "
                     "<treebank> files of <alpino_ds> sentences and one-sentence <alpino_ds> "
                     "files")]


def test_a_tar_far_from_name_order_is_refused_not_held(tmp_path, monkeypatch):
    from treeindex.sources import archive

    monkeypatch.setattr(archive, "MAX_HELD", 10_000)
    root = tree(tmp_path)
    dest = tmp_path / "reversed.tar"
    files = sorted((root / "alpino" / "cdb").glob("*.xml"),
                   key=lambda p: archive.natural_key(p.name), reverse=True)
    with tarfile.open(dest, "w") as t:
        for p in files:
            t.add(p, f"cdb/{p.name}")
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [dest], workers=0)
    assert str(e.value).startswith(f"{dest}: its members are far from name order, so more "
                                   "than 0 MB would have to be held")


def test_a_compressed_tar_is_read_in_one_pass_for_all_its_corpora(tmp_path, monkeypatch):
    """Listing it, and one pass for all its corpora (plus the start again that sampling the
    first sentences for the compression dictionary costs): not a pass per corpus."""
    root = tree(tmp_path)
    archive = pack(root, "tar.gz", tmp_path / "data.tar.gz")
    opened = spy(monkeypatch, tarfile, "open")
    report = ingest(tmp_path / "t.db", [archive], workers=0)
    assert len(report.corpora) == 6
    assert len(opened) <= 3, [c.args[0] for c in opened]
