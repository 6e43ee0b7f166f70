"""Journey: customer-journey analytics over raw e-commerce event logs.

>>> import journey
>>> log = journey.load("data/sample_shop.csv")        # doctest: +SKIP
>>> journey.overview(log)                              # doctest: +SKIP
"""

from .engine import Database, quote_ident
from .errors import InvalidParameterError, JourneyError, LoadError, MappingError
from .load import load, remap
from .log import EventLog, Filters, LoadReport
from .overview import events_per_day, overview, top_events
from .schema import Mapping, detect_mapping

__version__ = "0.1.0"

__all__ = [
    "Database",
    "EventLog",
    "Filters",
    "InvalidParameterError",
    "JourneyError",
    "LoadError",
    "LoadReport",
    "Mapping",
    "MappingError",
    "detect_mapping",
    "events_per_day",
    "load",
    "overview",
    "quote_ident",
    "remap",
    "top_events",
]
