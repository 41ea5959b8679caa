"""Read the prologue of an XML file: byte-order mark, declared encoding, root element.

Used by the coordinator to classify inputs (without parsing them) and by workers to know
how a one-sentence file is encoded.
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .split import START, Unterminated, skip_markup

HEAD_BYTES = 64 * 1024
_DECL = re.compile(rb"<\?xml\s[^?]*?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']")
_NAME = re.compile(rb"<([A-Za-z_][-A-Za-z0-9._:]*)")
_WS = frozenset(b" \t\r\n")
_NON_ASCII_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


@dataclass(frozen=True)
class Prologue:
    kind: str  # 'treebank' (many sentences) or 'sentence' (root <alpino_ds>)
    encoding: str  # Python codec name; 'utf-8' unless declared otherwise
    root: str  # the root element's name


def shown(name: str | Path) -> str:
    """A file name as text that can be stored and printed: bytes that are not UTF-8 (kept by
    Python as surrogates) become \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a file, decompressed if it is gzipped."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as f:
                return f.read(size)
        with open(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{shown(path)}: cannot be read: {getattr(e, 'strerror', None) or e}"
                         ) from e


def utf8_codec(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def convert_command(where: str, encoding: str) -> str:
    """A shell command that writes a UTF-8 copy of a UTF-16/32 file, its declaration
    changed to match (iconv alone keeps `encoding="UTF-16"`, which would be refused again)."""
    family = "32" if "32" in encoding else "16"
    name = where[:-4] if where.endswith(".xml") else where
    return (f"iconv -f {encoding} -t UTF-8 {shlex.quote(where)} | sed -E "
            f"'1s/[Uu][Tt][Ff]-?{family}([LlBb][Ee])?/UTF-8/' > "
            f"{shlex.quote(name + '.utf8.xml')}")


def read_prologue(head: bytes, where: str) -> Prologue:
    """Classify a file from its first bytes; raise InputError naming `where` if no treebank."""
    if not head.strip():
        raise InputError(
            f"{where}: is empty; give a <treebank> file or a one-sentence <alpino_ds> file"
        )
    for bom, name in _NON_ASCII_BOMS:
        if head.startswith(bom):
            raise InputError(f"{where}: is {name}-encoded, which treeindex cannot split; "
                             f"convert it to UTF-8 first: {convert_command(where, name)}")
    pos = 3 if head.startswith(codecs.BOM_UTF8) else 0
    encoding = "utf-8"
    m = _DECL.match(head, pos)
    if m:
        declared = m.group(1).decode("ascii")
        try:
            info = codecs.lookup(declared)
        except LookupError:
            raise InputError(
                f"{where}: declares encoding {declared!r}, which Python does not know; "
                "convert the file to UTF-8"
            ) from None
        if info.name.startswith(("utf-16", "utf-32")):
            raise InputError(f"{where}: declares {declared}, which treeindex cannot split; "
                             f"convert it to UTF-8 first: {convert_command(where, declared)}")
        encoding = info.name
    limit = len(head)
    while True:
        while pos < limit and head[pos] in _WS:
            pos += 1
        if pos >= limit:
            raise InputError(f"{where}: no root element in the first {limit} bytes; is it XML?")
        if head.startswith((b"<?", b"<!"), pos):
            try:
                pos = skip_markup(head, pos, limit)
            except Unterminated:
                raise InputError(f"{where}: the prologue does not end; is it XML?") from None
            continue
        break
    m = _NAME.match(head, pos)
    if not m:
        raise InputError(
            f"{where}: does not start with XML markup (byte {pos}); "
            "treeindex reads Alpino treebanks (<treebank> or <alpino_ds> XML)"
        )
    root = m.group(1).decode("ascii")
    if root == "alpino_ds":
        return Prologue("sentence", encoding, root)
    if root == "treebank" or head.find(START, m.end()) >= 0:
        return Prologue("treebank", encoding, root)
    raise InputError(
        f"{where}: is not an Alpino treebank: its root element is <{root}>; treeindex reads "
        "<treebank> files of <alpino_ds> sentences and one-sentence <alpino_ds> files"
    )
