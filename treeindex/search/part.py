"""What the parts of the node-table engine share (`engine.Engine` is made of `engine`'s
paths and expressions, `compare.Comparisons` and `functions.Functions`): the block being
evaluated and the query's settings, which `Engine` sets, and the methods one part calls in
another, declared here for the type checker."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .block import Block
    from .values import Nodes, Space, Str
    from .xast import Step


class EnginePart:
    b: Block  # the block being evaluated (Engine.select)
    cache: dict[Any, Any]  # per block: paths already evaluated
    top: Space  # the block's own space: one row per element
    xpath2: bool  # XPath 2.0 semantics (elementpath's), else XPath 1.0 (libxml2's)
    number: Callable[[str], float]  # number() of a string, in those semantics
    numbers: dict[str, Any]  # across blocks: the numbers of attribute values
    regexes: dict[tuple[str, str], re.Pattern[str]]  # matches()'s compiled patterns
    ds_reachable: bool  # can a comparison see an <alpino_ds>'s attributes?

    if TYPE_CHECKING:  # (engine.py)
        def _eval(self, e: object, space: Space, env: tuple | None) -> Any: ...
        def _exists(self, ns: Nodes, space: Space, target: np.ndarray | None = None
                    ) -> np.ndarray: ...
        def _pairs(self, ns: Nodes, space: Space) -> tuple[np.ndarray, np.ndarray]: ...
        def _take(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray: ...
        def _anchor_rows(self, ns: Nodes, space: Space) -> np.ndarray: ...
        def _step_mask(self, step: Step) -> np.ndarray: ...

        # (compare.py)
        def _bool(self, v: Any, space: Space | None = None) -> np.ndarray: ...
        def _num(self, v: Any, space: Space) -> np.ndarray: ...
        def _str(self, v: Any, space: Space) -> Str: ...
