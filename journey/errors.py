"""Errors that carry a message a person can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class JourneyError(ValueError):
    """Base class: anything the user can fix by changing the input or a parameter."""


class LoadError(JourneyError):
    """A source could not be read into an event log."""


class MappingError(JourneyError):
    """A column mapping names a column that does not exist or leaves a required role empty."""


class InvalidParameterError(JourneyError):
    """A parameter has a value outside the allowed set."""

    def __init__(self, parameter: str, value: object, allowed: Iterable[object]):
        allowed = [str(a) for a in allowed]
        message = f"Invalid value {value!r} for parameter {parameter!r}."
        close = difflib.get_close_matches(str(value), allowed, n=3)
        if close:
            message += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif len(allowed) <= 30:
            message += f" Allowed values: {allowed}."
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.allowed = allowed
