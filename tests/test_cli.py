"""The click layer: messages, exit codes, help."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from conftest import ALPINO, CDB, WRPEE

from treeindex.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_ingest_reports_and_skips_what_is_complete(tmp_path):
    db = tmp_path / "t.db"
    first = run("ingest", "--db", db, "--workers", 2, CDB, ALPINO / "ovis")
    assert first.exit_code == 0, first.output
    assert "cdb-sample: indexed, 150 sentences and 1,655 subtrees added (150 sentences in all)" \
        in first.output
    assert "ovis: indexed, 40 sentences" in first.output
    second = run("ingest", "--db", db, CDB)
    assert second.exit_code == 0
    assert "cdb-sample: already complete (150 sentences), nothing to do" in second.output


def test_quiet_prints_nothing(tmp_path):
    result = run("ingest", "-q", "--db", tmp_path / "t.db", WRPEE)
    assert result.exit_code == 0 and result.output == ""


def test_bad_sentences_exit_3_and_name_the_errors_command(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(CDB.read_bytes().replace(b"<sentence>", b"<sentence><b>", 1))
    db = tmp_path / "t.db"
    result = run("ingest", "--db", db, bad)
    assert result.exit_code == 3
    assert "bad: indexed, 149 sentences" in result.output
    assert "1 malformed sentence skipped" in result.output
    assert "1 malformed sentence was skipped" in result.output
    assert f"`treeindex errors --db {db}` lists them" in result.output


def test_input_error_is_a_clear_message(tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    result = run("ingest", "--db", tmp_path / "t.db", empty)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {empty}: is empty; give a <treebank> file or a one-sentence <alpino_ds> file\n")
    assert not (tmp_path / "t.db").exists()


def test_not_a_treeindex_database(tmp_path):
    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("CREATE TABLE x (y)").connection.commit()
    result = run("ingest", "--db", db, WRPEE)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {db}: is an SQLite database but not a treeindex index; give another --db\n")


def test_help_has_a_sentence_and_an_example():
    from treeindex.cli import COMMANDS

    for command in COMMANDS:
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Example:" in result.output, command


def test_index_of_another_schema_version_is_refused(tmp_path):
    db = tmp_path / "t.db"
    assert run("ingest", "-q", "--db", db, WRPEE).exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE settings SET value = '0' WHERE key = 'schema_version'")
    conn.commit()
    message = (f"Error: {db}: was built by a treeindex with schema version 0, this one reads "
               "versions 1, 2, 3, 4 and 5; ingest again into a new --db\n")
    assert run("ingest", "--db", db, CDB).output == message
    assert run("query", "--db", db, "SELECT 1").output == message


def test_control_characters_in_names_are_escaped_on_output(tmp_path):
    """A newline or tab in a file name cannot break a line or a table; an ESC never reaches
    the terminal raw."""
    import shutil

    from conftest import WRPEE

    src = tmp_path / "we\tird\nna\x1b[31mme.xml"
    shutil.copy(WRPEE, src)
    db = tmp_path / "t.db"
    runner = CliRunner()
    out = runner.invoke(cli, ["ingest", "--db", str(db), str(src)]).output
    assert out.splitlines()[0] == r"we\tird\nna\x1b[31mme: indexed, 11 sentences and 30 " \
                                  "subtrees added (11 sentences in all)"
    corpora = runner.invoke(cli, ["corpora", "--db", str(db)]).output
    assert r"we\tird\nna\x1b[31mme" in corpora and "\x1b" not in corpora
    assert len(corpora.splitlines()) == 3
    hits = runner.invoke(cli, ["search", "--db", str(db), "--limit", "3",
                               '//node[@cat="np"]']).output
    assert len(hits.splitlines()) == 3 and "\x1b" not in hits
    assert all(line.startswith("we\\tird\\nna\\x1b[31mme\t") for line in hits.splitlines())


_BLAS_PROBE = """
import os, sys
sys.argv = ["treeindex", "--help"]
from treeindex.__main__ import main
try:
    main()
except SystemExit:
    pass
import numpy  # (as a search that reads the node table does, after the command started)
print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")))
"""


def test_the_command_starts_numpy_without_blas_threads():
    # OpenBLAS starts a thread per core when numpy is imported, and waits for them (on 2
    # busy cores 0.1 s of a search); treeindex never calls BLAS. The command's process has
    # none; a user's own setting stands.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for given, wanted in ((None, "1"), ("3", "3")):
        if given is not None:
            env["OPENBLAS_NUM_THREADS"] = given
        out = subprocess.run([sys.executable, "-c", _BLAS_PROBE], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        assert out[-2] == wanted
        if given is None:
            assert out[-1] == "1"  # the main thread alone
