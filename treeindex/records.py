"""Immutable records for the syntax trees of queries, without the start-up cost of
`dataclasses`, which writes and compiles each class's methods when the module is imported
(about 1 ms a frozen class here, and a search imports a few dozen). A `record` has the
dataclass's constructor (positional or keyword, defaults from the class body), equality and
hash by type and fields, a repr, and no assignment after construction.
"""

from __future__ import annotations

from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(eq_default=True, frozen_default=True)
def record(cls: type[T]) -> type[T]:
    fields = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {f: cls.__dict__[f] for f in fields if f in cls.__dict__}
    body = {k: v for k, v in cls.__dict__.items()
            if k not in fields and k not in ("__dict__", "__weakref__")}

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__} takes {len(fields)} arguments")
        for name, value in zip(fields, args):
            object.__setattr__(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in defaults:
                value = defaults[name]
            else:
                raise TypeError(f"{cls.__name__} needs {name}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__} has no field {next(iter(kwargs))}")

    def _key(self: Any) -> tuple:
        return tuple(getattr(self, f) for f in fields)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(_key(self) == _key(other))

    def __hash__(self: Any) -> int:
        return hash((cls.__name__, _key(self)))

    def __repr__(self: Any) -> str:
        return f"{cls.__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in fields)})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a {cls.__name__}")

    def __reduce__(self: Any) -> tuple:
        return self.__class__, _key(self)

    body.update(__slots__=fields, __init__=__init__, __eq__=__eq__, __hash__=__hash__,
                __repr__=__repr__, __setattr__=__setattr__, __reduce__=__reduce__,
                __match_args__=fields)
    for name in fields:
        body.pop(name, None)
    return type(cls.__name__, cls.__bases__, body)
