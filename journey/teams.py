"""Team datasets declared in ``journey.toml`` (its path in ``JOURNEY_CONFIG``), shared read-only (ADR 0012).

```toml
[[dataset]]
name = "Shop, last 90 days"
source = "exports/shop.parquet"   # a file, a folder of Parquet files, or a DuckDB database file
table = "events"                  # DuckDB files only (default: events, or the only table)
map = { user = "customer_id", time = "created_at" }   # optional, as --map on the command line
date_order = "auto"               # optional: auto, dmy or mdy
stages = "stages.toml"            # optional: a stage map saved from the app
```

Relative paths are read from the folder of ``journey.toml``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

from .errors import JourneyError
from .schema import ROLES

KEYS = {"name", "source", "table", "map", "date_order", "stages"}


@dataclass(frozen=True)
class TeamDataset:
    """One dataset of ``journey.toml``: its name, where its rows are, and how to read them."""

    name: str
    source: str
    table: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    date_order: str = "auto"
    stages: str | None = None


def config_path() -> str | None:
    """The path in ``JOURNEY_CONFIG``, or None when it is not set."""
    return os.environ.get("JOURNEY_CONFIG") or None


def read_config(path: str) -> list[TeamDataset]:
    """The datasets declared in a ``journey.toml``.

    Returns
    -------
    list of TeamDataset, in file order.

    Raises
    ------
    JourneyError
        The file cannot be read or parsed, or a dataset is incomplete; the message names the entry.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise JourneyError(f"Could not read {path}: {e.strerror}. Check JOURNEY_CONFIG.") from e
    except tomllib.TOMLDecodeError as e:
        raise JourneyError(f"{path} is not valid TOML: {e}.") from e
    base = os.path.dirname(os.path.abspath(path))
    entries = data.get("dataset", [])
    if not isinstance(entries, list) or not entries:
        raise JourneyError(f"{path} declares no datasets. Add one [[dataset]] table per dataset.")
    out, names = [], set()
    for i, entry in enumerate(entries, start=1):
        where = f"{path}, dataset {i}"
        if not isinstance(entry, dict):
            raise JourneyError(f"{where}: expected a [[dataset]] table.")
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise JourneyError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(KEYS))}.")
        name, source = entry.get("name"), entry.get("source")
        if not isinstance(name, str) or not name.strip():
            raise JourneyError(f"{where}: give it a name.")
        if name in names:
            raise JourneyError(f"{where}: the name {name!r} is used twice.")
        if not isinstance(source, str) or not source.strip():
            raise JourneyError(f"{where} ({name}): give it a source (a file, a folder of Parquet, a .duckdb file).")
        mapping = entry.get("map", {})
        if not isinstance(mapping, dict) or any(k not in ROLES for k in mapping):
            bad = next((k for k in mapping if k not in ROLES), mapping) if isinstance(mapping, dict) else mapping
            raise JourneyError(f"{where} ({name}): unknown role {bad!r} in map; roles: {', '.join(ROLES)}.")
        date_order = entry.get("date_order", "auto")
        if date_order not in ("auto", "dmy", "mdy"):
            raise JourneyError(f"{where} ({name}): date_order is auto, dmy or mdy, not {date_order!r}.")
        stages = entry.get("stages")
        names.add(name)
        out.append(TeamDataset(
            name=name.strip(),
            source=os.path.join(base, os.path.expanduser(source)),
            table=entry.get("table"),
            mapping={str(k): str(v) for k, v in mapping.items()},
            date_order=date_order,
            stages=os.path.join(base, stages) if stages else None,
        ))
    return out


def load_team_dataset(spec: TeamDataset, *, memory_limit: str | None = None):
    """Load one declared dataset (and its stage map, when it names one).

    Returns
    -------
    (EventLog, StageMap or None)
    """
    from .load import load
    from .stages import StageMap

    log = load(spec.source, spec.mapping or None, date_order=spec.date_order, name=spec.name,
               memory_limit=memory_limit, table=spec.table)
    return log, (StageMap.load(spec.stages) if spec.stages else None)
