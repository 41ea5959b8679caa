"""Every example query in docs/schema.md runs on the bundled sample and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ALPINO, TREEBANKS

from treeindex import ingest
from treeindex.cli import cli

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schema.md"
EXAMPLE = re.compile(r"### (.+?)\n\n```sql\n(.*?)```\n\n```text\n(.*?)```", re.S)
EXAMPLES = EXAMPLE.findall(DOCS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    db = tmp_path_factory.mktemp("docs") / "sample.db"
    ingest(db, [TREEBANKS, ALPINO])  # the README's and the docs' command
    return db


def test_there_are_ten_examples_or_more():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("title, sql, expected", EXAMPLES, ids=[e[0][:40] for e in EXAMPLES])
def test_example_query(sample, title, sql, expected):
    result = CliRunner().invoke(cli, ["query", "--db", str(sample), sql])
    assert result.exit_code == 0, result.output
    assert result.output == expected


def test_reading_the_xml_snippet(sample, tmp_path):
    code = re.search(r"## Reading the XML\n.*?```python\n(.*?)```", DOCS.read_text(), re.S)
    script = code.group(1).replace('"treeindex.db"', repr(str(sample)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith('<node begin="') and 'cat="np"' in out.split(">")[0]
    assert out.rstrip().endswith("</node>")
