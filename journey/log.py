"""The event log: a loaded dataset (its DuckDB database, mapping and load report) plus active filters."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from .engine import Database, quote_ident
from .lazy import pandas as pd
from .schema import Mapping

EVENTS_TABLE = "events"
EVENTS_NO_SESSIONS = "events_no_sessions"  # a log read in place: its events without the session windows
EVENTS_UNCHECKED = "events_unchecked"  # … and with rows whose time is unreadable (ts NULL)
REJECTS_TABLE = "rejects"
# an order's key: its order_id, or the event's own row when the export has no order id
ORDER_KEY = "coalesce(order_id, '#' || row_no::VARCHAR)"


@dataclass
class LoadReport:
    """What a load did with every row. ``rows_read == rows_loaded + rows_rejected`` always.

    Attributes
    ----------
    rows_read, rows_loaded, rows_rejected : int
        Data rows found in the source, kept as events, and rejected.
    reject_reasons : dict
        reason → rows (``missing user``, ``missing event``, ``missing time``, ``unreadable time``,
        ``broken quoting``, ``wrong number of fields``, ``invalid encoding``, ``invalid JSON``).
    mapping : dict
        role → source column (None when absent).
    users, events, sessions, orders : int
        Distinct users, loaded events, distinct (user, session) pairs, distinct purchase orders.
    revenue : float
        Sum of revenue on purchase events.
    first_ts, last_ts : str
        ISO 8601 first and last event time.
    duplicate_rows : int
        Loaded rows that exactly repeat an earlier row (reported, never removed).
    """

    source: str
    format: str
    encoding: str | None
    delimiter: str | None
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    reject_reasons: dict[str, int]
    mapping: dict[str, str | None]
    extra_columns: list[str]
    users: int
    events: int
    sessions: int
    orders: int
    revenue: float
    first_ts: str | None
    last_ts: str | None
    duplicate_rows: int
    time_format: str
    date_order: str | None
    date_order_ambiguous: bool
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    content_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few readable lines for a terminal."""
        lines = [
            f"{self.source}: {self.format}" + (f", {self.encoding}" if self.encoding else ""),
            f"rows read {self.rows_read:,} = loaded {self.rows_loaded:,} + rejected {self.rows_rejected:,}",
        ]
        for reason, n in self.reject_reasons.items():
            lines.append(f"  rejected, {reason}: {n:,}")
        roles = ", ".join(f"{k}={v}" for k, v in self.mapping.items() if v)
        lines.append(f"mapping: {roles}")
        lines.append(f"time read as {self.time_format}")
        lines.append(
            f"users {self.users:,}, events {self.events:,}, sessions {self.sessions:,}, orders {self.orders:,}, "
            f"revenue {self.revenue:,.2f}"
        )
        lines.append(f"from {self.first_ts} to {self.last_ts}")
        lines.extend(f"note: {w}" for w in self.warnings)
        return "\n".join(lines)


@dataclass(frozen=True)
class Filters:
    """Global filters every analysis respects. Dates are inclusive calendar days."""

    start: dt.date | None = None
    end: dt.date | None = None
    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    before: dt.datetime | None = None  # events strictly before this moment (a model's cut-off)

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        if self.start is not None:
            clauses.append("ts >= $f_start")
            params["f_start"] = dt.datetime.combine(self.start, dt.time())
        if self.end is not None:
            clauses.append("ts < $f_end")
            params["f_end"] = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time())
        if self.channels:
            clauses.append("list_contains($f_channels, coalesce(channel, '(none)'))")
            params["f_channels"] = list(self.channels)
        if self.devices:
            clauses.append("list_contains($f_devices, coalesce(device, '(none)'))")
            params["f_devices"] = list(self.devices)
        if self.users:
            clauses.append("list_contains($f_users, user_id)")
            params["f_users"] = list(self.users)
        if self.before is not None:
            clauses.append("ts < $f_before")
            params["f_before"] = self.before
        return (" AND ".join(clauses) or "TRUE"), params

    def active(self) -> bool:
        return self != Filters()


class EventLog:
    """A loaded event log. Analyses take it as their first argument.

    ``log.report`` is the load report, ``log.rejects()`` the rejected rows, ``log.where(...)`` a
    filtered view of the same data, ``log.source()`` the SQL relation (and parameters) analyses read.
    """

    def __init__(
        self,
        db: Database,
        report: LoadReport | Callable[[], LoadReport],
        mapping: Mapping,
        filters: Filters | None = None,
        source_info: dict | None = None,
        memo: dict | None = None,
    ):
        self.db = db
        # answers about the unfiltered data (distinct values), shared by the log's filtered views
        self._memo = {} if memo is None else memo
        # a log read in place computes its report when first asked (one holder shared by its filtered views)
        self._report = report if isinstance(report, _Deferred) else _Deferred(report)
        self.mapping = mapping
        self.filters = filters or Filters()
        self.source_info = source_info or {}

    @property
    def report(self) -> LoadReport:
        """The :class:`LoadReport` (for a log read in place, counted on first use: a full pass)."""
        return self._report.get()

    @property
    def in_place(self) -> bool:
        """True when the events are read from the source file at each query (``load(..., in_place=True)``)."""
        return bool(self.source_info.get("in_place"))

    def where(
        self,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        channels: list[str] | tuple[str, ...] = (),
        devices: list[str] | tuple[str, ...] = (),
        users: list[str] | tuple[str, ...] = (),
    ) -> "EventLog":
        """The same log seen through filters (dates inclusive; empty lists mean no filter)."""
        filters = replace(
            self.filters, start=start, end=end, channels=tuple(channels), devices=tuple(devices), users=tuple(users)
        )
        return EventLog(self.db, self._report, self.mapping, filters, self.source_info, self._memo)

    def refine(self, **changes: Any) -> "EventLog":
        """The same log with some filters changed and the others kept (``log.refine(devices=("mobile",))``)."""
        return EventLog(self.db, self._report, self.mapping, replace(self.filters, **changes), self.source_info,
                        self._memo)

    def source(self, sessions: bool = True, checked: bool = True) -> tuple[str, dict[str, Any]]:
        """``(relation_sql, params)``: the filtered events as a parenthesised subquery.

        A loaded log is the same whatever the options. For a log read in place:
        ``sessions=False`` promises the query does not use ``session_id``, which is then not computed
        (a window over every event); ``checked=False`` (with ``sessions=False``) also passes the rows
        whose time could not be read, with ``ts`` NULL, for a caller that drops them itself: each time
        is then parsed once instead of twice.
        """
        where, params = self.filters.where()
        return f"(SELECT * FROM {quote_ident(self._table(sessions, checked))} WHERE {where})", params

    def shared_cte(self) -> str:
        """How a query names a CTE over :meth:`source` that it reads several times: ``AS NOT MATERIALIZED``
        for a loaded log (reading the table again beat DuckDB's copy of every event: 10M events, five-stage
        funnel 1.2-1.3 s -> 1.0-1.1 s), plain ``AS`` (DuckDB then copies it once) for a file read in place,
        whose times would be parsed again at each read."""
        return "AS" if self.in_place else "AS NOT MATERIALIZED"

    def _table(self, sessions: bool, checked: bool = True) -> str:
        if not self.in_place or sessions:
            return EVENTS_TABLE
        return EVENTS_NO_SESSIONS if checked else EVENTS_UNCHECKED

    def run(self, sql: str, params: dict[str, Any] | None = None, sessions: bool = True) -> pd.DataFrame:
        """Run SQL in which ``{events}`` stands for the filtered events relation (``sessions`` as in
        :meth:`source`)."""
        rel, fparams = self.source(sessions=sessions)
        return self.db.run(sql.replace("{events}", rel), {**fparams, **(params or {})})

    def rejects(self) -> pd.DataFrame:
        """The rejected rows: row_no, reason, detail, raw_line, then the source columns as text."""
        return self.db.run(f"SELECT * FROM {quote_ident(REJECTS_TABLE)} ORDER BY row_no")

    def head(self, n: int = 20) -> pd.DataFrame:
        """The first ``n`` events in (user, time) order, after filters."""
        return self.run("SELECT * FROM {events} ORDER BY user_id, ts, row_no LIMIT $n", {"n": int(n)})

    def to_pandas(self, limit: int | None = None) -> pd.DataFrame:
        """The filtered events as a DataFrame (for small logs; analyses never need this)."""
        sql = "SELECT * FROM {events} ORDER BY user_id, ts, row_no"
        return self.run(sql + (" LIMIT $n" if limit else ""), {"n": int(limit)} if limit else None)

    def distinct_values(self, column: str, limit: int = 200) -> list[str]:
        """The most frequent values of a column (``(none)`` for missing), most frequent first.

        They do not depend on the filters, and are counted once per loaded log (widgets ask on every rerun).
        """
        key = ("distinct_values", column, int(limit))
        if key not in self._memo:
            self._memo[key] = self._distinct_values(column, limit)
        return list(self._memo[key])

    def count_events(self) -> int:
        """How many events the filters keep, counted once per filters. Read in place, rows whose time is
        unreadable are counted too (no time is parsed): a bound for callers that size their memory by it."""
        key = ("count_events", repr(self.filters))
        if key not in self._memo:
            rel, params = self.source(sessions=False, checked=False)
            self._memo[key] = int(self.db.scalar(f"SELECT count(*) FROM {rel} e", params))
        return self._memo[key]

    def _distinct_values(self, column: str, limit: int) -> list[str]:
        df = self.db.run(
            f"SELECT coalesce(CAST({quote_ident(column)} AS VARCHAR), '(none)') AS v, count(*) AS n "
            f"FROM {quote_ident(self._table(sessions=column == 'session_id'))} "
            "GROUP BY 1 ORDER BY n DESC, v LIMIT $limit",
            {"limit": int(limit)},
        )
        return df["v"].tolist()

    def source_columns(self) -> list[str]:
        """The columns of the source file, as read (before mapping)."""
        return [c for c, _ in self.db.columns("raw") if c != "__row_no"]

    @property
    def columns(self) -> list[str]:
        return [c for c, _ in self.db.columns(quote_ident(EVENTS_TABLE))]

    def fingerprint(self) -> str:
        """A cache key from the content: a hash of every loaded row, the mapping, and the filters.

        Two sessions get the same key only when they hold the same rows, so a shared cache never
        serves one session's results to another that holds different data.
        """
        # a log read in place is named by its files' paths, sizes and modification times (and its mapping)
        content = self.source_info.get("identity") or self.report.content_hash
        blob = json.dumps(
            {"content": content, "mapping": self.mapping.to_dict(), "filters": repr(self.filters)},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def __repr__(self) -> str:
        if self.in_place and not self._report.ready:
            return f"<EventLog {self.source_info.get('identity', '')[:60]!r}…: read in place>"
        r = self.report
        return f"<EventLog {r.source!r}: {r.events:,} events, {r.users:,} users, {r.rows_rejected:,} rejected>"


class _Deferred:
    """A value, or a function computing it once on first use."""

    def __init__(self, value: Any):
        self._value, self._make = (None, value) if callable(value) else (value, None)

    @property
    def ready(self) -> bool:
        return self._make is None

    def get(self) -> Any:
        if self._make is not None:
            self._value, self._make = self._make(), None
        return self._value
