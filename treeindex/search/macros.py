'''Macros in the syntax of Dact's and PaQu's macro files:

    # a comment line
    np = """ node[@cat="np"] """
    det_np = """ //%np%[node[@rel="det"]] """

A definition is a name, `=`, and the text between triple quotes (it may span lines).
`%name%` in a definition or in a query is replaced by that definition's text, again and again
until none is left; forward references work, a cycle is an error, and so is an unknown name.
'''

from __future__ import annotations

import re
from pathlib import Path

from ..errors import QueryError

ENVIRONMENT = "TREEINDEX_MACROS"  # a macros file used when --macros is not given
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_REFERENCE = re.compile(r"%([A-Za-z_][A-Za-z0-9_.-]*)%")


def parse(text: str, where: str) -> dict[str, str]:
    """The definitions in a macros file's text; QueryError naming `where` and the line."""
    macros: dict[str, str] = {}
    pos, n = 0, len(text)
    while True:
        while pos < n:  # blank lines and comments
            if text[pos].isspace():
                pos += 1
            elif text[pos] == "#":
                end = text.find("\n", pos)
                pos = n if end < 0 else end + 1
            else:
                break
        if pos >= n:
            return macros
        line = text.count("\n", 0, pos) + 1
        m = _NAME.match(text, pos)
        if m is None:
            found = text[pos:pos + 20].splitlines()[0]
            raise QueryError(f"{where}, line {line}: expected a macro name, found {found!r}; "
                             'write name = """...""" ')
        name = m.group()
        eq = re.compile(r'\s*=\s*"""').match(text, m.end())
        if eq is None:
            raise QueryError(f"{where}, line {line}: expected = \"\"\" after the macro name "
                             f"{name!r}")
        close = text.find('"""', eq.end())
        if close < 0:
            raise QueryError(f"{where}, line {line}: the definition of {name!r} has no "
                             "closing \"\"\"")
        if name in macros:
            raise QueryError(f"{where}, line {line}: macro {name!r} is defined twice")
        macros[name] = text[eq.end():close].strip()
        pos = close + 3


def load(path: Path | str) -> dict[str, str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QueryError(f"{path}: the macros file cannot be read ({e})") from None
    return parse(text, str(path))


def expand(query: str, macros: dict[str, str]) -> str:
    """`query` with every %name% replaced, recursively; QueryError for unknown names, cycles
    and expansions longer than a query may be (limits.MAX_CHARS: macros that double each
    other 30 times would otherwise fill the memory)."""
    from .limits import MAX_CHARS

    done: dict[str, str] = {}

    def too_long(name: str | None) -> QueryError:
        if name is None:
            return QueryError(f"the query, its macros expanded, is longer than {MAX_CHARS:,} "
                              "characters, the limit of a query: split it into several "
                              "searches")
        return QueryError(f"the macro %{name}% expands to more than {MAX_CHARS:,} characters, "
                          "the limit of a query: check the macros file for definitions that "
                          "repeat each other")

    def substitute(text: str, stack: tuple[str, ...], name: str | None) -> str:
        parts: list[str] = []
        last = size = 0
        for m in _REFERENCE.finditer(text):
            piece = definition(m.group(1), stack)
            parts += (text[last:m.start()], piece)
            size += m.start() - last + len(piece)
            last = m.end()
            if size > MAX_CHARS:
                raise too_long(name)
        parts.append(text[last:])
        if size + len(text) - last > MAX_CHARS:
            raise too_long(name)
        return "".join(parts)

    def definition(name: str, stack: tuple[str, ...]) -> str:
        if name in done:
            return done[name]
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            raise QueryError(f"the macros refer to each other in a cycle: {cycle}")
        if name not in macros:
            known = ", ".join(sorted(macros)) or "none are defined"
            raise QueryError(f"unknown macro %{name}%; known macros: {known}")
        text = substitute(macros[name], (*stack, name), name)
        done[name] = text
        return text

    return substitute(query, (), None)
