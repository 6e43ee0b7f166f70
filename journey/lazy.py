"""Modules imported on first use.

pandas is most of the time ``import journey`` takes (about 0.6 s of 0.8 s). The analyses need it only
to hand back their result, so the modules refer to it through :data:`pandas` below: a notebook that
imports journey pays for pandas only when it runs something. (A command still imports it early: DuckDB's
Python client does so at the first bound parameter; ADR 0013.)
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name``, imported at the first attribute read.

    >>> m = LazyModule("json")
    >>> m.dumps([1])
    '[1]'
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # later reads find it here, without this method
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


pandas: Any = LazyModule("pandas")
