"""Any source (file path, uploaded bytes, pandas DataFrame) → the canonical events table.

Every load returns an :class:`~journey.log.EventLog` whose ``report`` accounts for each row:
``rows_read = rows_loaded + rows_rejected``. Rejected rows are kept, with their row number and reason,
in the ``rejects`` table.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .engine import Database, is_duckdb_error, present_sql, quote_ident, text_or_null_sql, trim_sql
from .errors import InvalidParameterError, JourneyError, LoadError, MappingError
from .log import EVENTS_NO_SESSIONS, EVENTS_UNCHECKED, EventLog, LoadReport
from .resident import HELD_UP_TO, hold
from .schema import ORDERS_EVENT, ROLES, Mapping, check_required, detect_mapping
from .sessions import gap_microseconds, number_stored, numbered_sql
from .staging import Staged, first_line, stage
from .stages import normalised_event_sql, purchase_pattern
from .timeparse import DATE_ORDERS, LAMBDA_NAMES, detect_time_format, quick_ts_sql, ts_sql

SESSION_GAP_MINUTES_DEFAULT = 30
RESERVED = {"row_no", "__time", "__quick", *LAMBDA_NAMES, *ROLES.values()}


def load(
    source: Any,
    mapping: Mapping | dict[str, str | None] | None = None,
    *,
    date_order: str = "auto",
    session_gap_minutes: float = SESSION_GAP_MINUTES_DEFAULT,
    name: str | None = None,
    db: Database | None = None,
    memory_limit: str | None = None,
    table: str | None = None,
    in_place: bool = False,
) -> EventLog:
    """Load an event export into a new DuckDB database and return the event log.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A CSV/TSV (also ``.gz``), Parquet, JSON lines or Excel ``.xlsx`` file, a folder of Parquet files
        (read in file-name order), a DuckDB database file, or a DataFrame.
    mapping : Mapping or dict, optional
        Role → column overrides (``{"user": "Customer", "time": "Paid at"}``); the rest is detected.
    date_order : {"auto", "dmy", "mdy"}
        How to read ``01/02/2024``; ``auto`` decides from the data (day-first when nothing tells).
    session_gap_minutes : float
        Inactivity that starts a new session, when the source has no session column.
    name : str, optional
        The dataset's display name (default: the file name).
    db : Database, optional
        Where to build the tables (default: a new private database file).
    memory_limit : str, optional
        DuckDB's memory limit for a new database (``"2GB"``); it spills to disk beyond it.
    table : str, optional
        For a DuckDB database file: the table to read (default ``events``, or its only table).
    in_place : bool
        For a Parquet file or folder: do not copy it; every query reads the file (ADR 0013). Loading takes
        no time, each analysis reads the columns it needs, and the load report is counted when first
        asked for. For one-shot scripts and the CLI; the file must stay unchanged while the log is used.
        Other formats are loaded as usual.

    Returns
    -------
    EventLog
        ``log.report`` is the :class:`LoadReport`; ``log.rejects()`` the rejected rows.

    Raises
    ------
    LoadError
        The file cannot be read (empty, binary, one column…); the message says what to do.
    MappingError
        The user or time column cannot be found; ``error.staged`` holds the read rows for :func:`build`.

    Example
    -------
    >>> log = journey.load("data/sample_shop.csv")
    >>> log.report.rows_read == log.report.rows_loaded + log.report.rows_rejected
    True
    """
    staged = stage(source, name=name, db=db, memory_limit=memory_limit, table=table, in_place=in_place)
    try:
        return build(staged, mapping, date_order=date_order, session_gap_minutes=session_gap_minutes)
    except MappingError as e:
        e.staged = staged
        raise

def build(
    staged: Staged,
    mapping: Mapping | dict[str, str | None] | None = None,
    *,
    date_order: str = "auto",
    session_gap_minutes: float = SESSION_GAP_MINUTES_DEFAULT,
) -> EventLog:
    """Map a staged source's columns to the canonical events table and return the event log."""
    if date_order not in DATE_ORDERS:
        raise InvalidParameterError("date_order", date_order, DATE_ORDERS)
    started = time.perf_counter()
    overrides = mapping.roles() if isinstance(mapping, Mapping) else (mapping or {})
    in_place = bool(staged.info.get("in_place"))
    try:
        mapping, count_report = _build_events(staged, overrides, date_order, session_gap_minutes)
        counted = None if in_place else count_report()

        def elapsed() -> float:
            return round(staged.info.get("stage_seconds", 0) + time.perf_counter() - started, 3)

        seconds = elapsed()

        def report() -> LoadReport:
            done = counted or count_report()
            done.source, done.seconds = staged.name, seconds
            return done

        # read in place, the report is a full pass: counted when first asked for (ADR 0013)
        log = EventLog(staged.db, report if in_place else report(), mapping, source_info=staged.info)
        if not in_place and hold(log) is not None:  # the events in memory for the analyses (ADR 0018)
            log.report.seconds = elapsed()  # the load's time includes reading them
        return log
    except JourneyError:
        raise
    except Exception as e:
        if is_duckdb_error(e):
            raise LoadError(f"Could not build the events of {staged.name}: {first_line(e)}") from e
        raise


def remap(
    log: EventLog,
    mapping: Mapping | dict[str, str | None],
    *,
    date_order: str = "auto",
    session_gap_minutes: float = SESSION_GAP_MINUTES_DEFAULT,
) -> EventLog:
    """Rebuild a loaded log's events with another column mapping, without reading the file again.

    Returns a new EventLog on the same database; the old one should no longer be used.
    """
    staged = Staged(db=log.db, info={**log.source_info, "stage_seconds": 0}, name=log.report.source)
    return build(staged, mapping, date_order=date_order, session_gap_minutes=session_gap_minutes)

def _text(col_sql: str) -> str:
    return text_or_null_sql(f"CAST({col_sql} AS VARCHAR)")


def _is_numeric(col_type: str) -> bool:
    """Whether a column of this DuckDB type casts to DOUBLE without fail."""
    upper = col_type.upper()
    return upper in ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "REAL",
                     "UINTEGER", "UBIGINT", "USMALLINT", "UTINYINT", "UHUGEINT") or upper.startswith("DECIMAL")


def _read_as_numbers(roles: dict, types: dict[str, str]) -> bool:
    """Whether every revenue value is a number in the source (so none can fail to be read: looking for
    them took 0.3 s at 10M events): the revenue column and, when it is a unit price, the quantity."""
    used = [roles["revenue"]] + ([roles["quantity"]] if "quantity" in roles and _is_unit_price(roles["revenue"]) else [])
    return all(_is_numeric(types[c]) for c in used)


def _number(col_sql: str, col_type: str) -> str:
    if _is_numeric(col_type):
        return f"CAST({col_sql} AS DOUBLE)"
    cleaned = f"regexp_replace(trim(CAST({col_sql} AS VARCHAR)), '[^0-9.eE+-]', '', 'g')"
    return f"try_cast(nullif({cleaned}, '') AS DOUBLE)"


def _build_events(staged: Staged, overrides: dict, date_order: str, gap_minutes: float
                  ) -> tuple[Mapping, Callable[[], LoadReport]]:
    """Create the events and rejects (tables, or views over the file when read in place); return the
    mapping and the function counting the load report."""
    db, info = staged.db, staged.info
    typed = [(c, t) for c, t in db.columns("raw") if c != "__row_no"]
    columns = [c for c, _ in typed]
    types = dict(typed)
    if not columns:
        raise LoadError("The file has a header but no columns Journey can use.")
    raw_rows = db.scalar("SELECT count(*) FROM raw")
    if raw_rows == 0 and db.scalar("SELECT count(*) FROM parser_rejects") == 0:
        raise LoadError("The file has a header but no data rows. Export it again with its rows.")
    detected = detect_mapping(columns)
    mapping = detected.with_overrides(overrides, columns) if overrides else detected
    check_required(mapping, columns)

    q = quote_ident
    roles = mapping.roles()
    time_col = roles["time"]
    fmt = detect_time_format(db, "raw", q(time_col), types[time_col], date_order)
    # the time as text is computed once, in an inner projection: the parser refers to it many times
    as_text = fmt.kind not in ("native", "epoch")
    time_pre = trim_sql(f"CAST({q(time_col)} AS VARCHAR)") if as_text else q(time_col)
    ts_expr = ts_sql("__time", fmt, "VARCHAR" if as_text else types[time_col], trimmed=as_text, quick="__quick")
    quick = quick_ts_sql("__time") if as_text else "NULL"
    raw_time = "nullif(__time, '')" if as_text else _text("__time")
    event_expr = _text(q(roles["event"])) if "event" in roles else f"'{ORDERS_EVENT}'"
    # whether the user and the event are given, tested on the source text (see present_sql)
    has_user = present_sql(f"CAST({q(roles['user'])} AS VARCHAR)")
    has_event = present_sql(f"CAST({q(roles['event'])} AS VARCHAR)") if "event" in roles else "true"

    revenue_expr = "CAST(NULL AS DOUBLE)"
    if "revenue" in roles:
        revenue_expr = _number(q(roles["revenue"]), types[roles["revenue"]])
        if "quantity" in roles and _is_unit_price(roles["revenue"]):
            revenue_expr = f"({revenue_expr} * {_number(q(roles['quantity']), types[roles['quantity']])})"

    optional = []
    for role in ("channel", "device", "order", "product", "category", "page"):
        expr = _text(q(roles[role])) if role in roles else "CAST(NULL AS VARCHAR)"
        optional.append(f"{expr} AS {ROLES[role]}")
    score_expr = _number(q(roles["score"]), types[roles["score"]]) if "score" in roles else "CAST(NULL AS DOUBLE)"
    session_src = _text(q(roles["session"])) if "session" in roles else "CAST(NULL AS VARCHAR)"

    extras = [c for c in columns if c not in roles.values()]
    extra_names = _extra_names(extras)
    extra_sql = "".join(f", {q(c)} AS {q(n)}" for c, n in zip(extras, extra_names))
    # the source values as text, for the rejects table (unused columns are pruned from the events pass)
    src_sql = "".join(f", CAST({q(c)} AS VARCHAR) AS {q(f'__src_{i}')}" for i, c in enumerate(columns))

    db.execute(
        f"""
        CREATE OR REPLACE VIEW parsed AS
        SELECT row_no, user_id, {ts_expr} AS ts, * EXCLUDE (row_no, user_id, __time, __quick), {raw_time} AS raw_time
        FROM (SELECT *, {quick} AS __quick FROM (
            SELECT
                __row_no AS row_no,
                {_text(q(roles['user']))} AS user_id,
                {time_pre} AS __time,
                {event_expr} AS event,
                {has_user} AS __has_user,
                {has_event} AS __has_event,
                {session_src} AS source_session,
                {', '.join(optional)},
                {revenue_expr} AS revenue,
                {score_expr} AS score
                {extra_sql}
                {src_sql}
            FROM raw
        ))
        """
    )
    reason = (
        "CASE WHEN NOT __has_user THEN 'missing user' WHEN NOT __has_event THEN 'missing event' "
        "WHEN raw_time IS NULL THEN 'missing time' WHEN ts IS NULL THEN 'unreadable time' END"
    )
    db.execute(f"CREATE OR REPLACE VIEW checked AS SELECT *, {reason} AS reject_reason FROM parsed")

    gap_us = gap_microseconds(gap_minutes)
    extra_out = "".join(f", {q(n)}" for n in extra_names)
    columns_out = ("row_no, user_id, ts, event, {session} channel, device, revenue, order_id, product_id, "
                   f"category, page, score {extra_out}")
    db.execute("CREATE OR REPLACE VIEW ok AS SELECT * FROM checked WHERE reject_reason IS NULL")
    if info.get("in_place"):
        # read in place (ADR 0013): views over the file; sessions only for queries that ask for them
        db.execute(f"CREATE OR REPLACE VIEW events AS {numbered_sql('ok', columns_out, gap_us)}")
        plain = columns_out.replace("{session}", "", 1)
        db.execute(f"CREATE OR REPLACE VIEW {EVENTS_NO_SESSIONS} AS SELECT {plain} FROM ok")
        db.execute(f"CREATE OR REPLACE VIEW {EVENTS_UNCHECKED} AS SELECT {plain} FROM parsed "
                   "WHERE __has_user AND __has_event")
    elif raw_rows > HELD_UP_TO:  # sessions by window functions, which DuckDB can spill to disk
        db.execute(f"CREATE OR REPLACE TABLE events AS {numbered_sql('ok', columns_out, gap_us)} "
                   "ORDER BY user_id, ts, row_no")
        db.execute("DROP VIEW ok")
    else:  # stored once with the source's sessions, the others numbered in numpy (ADR 0019)
        stored = columns_out.replace("{session}", "source_session AS session_id,", 1)
        db.execute(f"CREATE OR REPLACE TABLE events AS SELECT {stored} FROM ok ORDER BY user_id, ts, row_no")
        db.execute("DROP VIEW ok")
        number_stored(db, gap_us)
    src_cols = "".join(f", {q(f'__src_{i}')} AS {q(c)}" for i, c in enumerate(columns))
    # the rows not read (the parser's) and the rows read but not loaded
    rejected = "reject_reason IS NOT NULL"
    if not info.get("in_place") and db.scalar("SELECT count(*) FROM events") == raw_rows:
        rejected = "false"  # every row read was loaded: not parsing every time again to find none (1.4 s at 10M)
    rejects_sql = f"""
        SELECT row_no, reason, detail, raw_line {''.join(f', CAST(NULL AS VARCHAR) AS {q(c)}' for c in columns)}
        FROM parser_rejects
        UNION ALL
        SELECT row_no, reject_reason AS reason,
               CASE WHEN reject_reason = 'unreadable time' THEN raw_time END AS detail,
               CAST(NULL AS VARCHAR) AS raw_line {src_cols}
        FROM checked
        WHERE {rejected}
        ORDER BY row_no
    """
    if info.get("in_place"):
        db.execute("CREATE OR REPLACE VIEW rejects AS " + rejects_sql)
    else:
        db.execute("CREATE OR REPLACE TABLE rejects AS " + rejects_sql)
        db.execute("DROP VIEW IF EXISTS checked")
        db.execute("DROP VIEW IF EXISTS parsed")
    return mapping, lambda: _report(db, info, mapping, fmt, roles, types)


def _is_unit_price(column: str) -> bool:
    from .schema import normalise

    return normalise(column) in ("price", "unitprice", "itemprice")


def _extra_names(extras: list[str]) -> list[str]:
    out = []
    for c in extras:
        n = c if c not in RESERVED and c != "raw_line" else f"src_{c}"
        while n in out:
            n += "_"
        out.append(n)
    return out


def _report(db: Database, info: dict, mapping: Mapping, fmt, roles: dict, types: dict[str, str]) -> LoadReport:
    columns = list(types)
    rows_loaded, users, sessions, first_ts, last_ts, content = db.rows(
        """
        SELECT count(*), count(DISTINCT user_id), count(DISTINCT (user_id, session_id)), min(ts), max(ts),
               coalesce(sum(hash(e)::HUGEINT), 0)::VARCHAR
        FROM events e
        """
    )[0]
    reasons = dict(db.rows("SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY count(*) DESC"))
    rows_rejected = int(sum(reasons.values()))
    q = quote_ident
    dup_cols = ", ".join(q(c) for c in columns)
    distinct = f"({dup_cols})" if len(columns) > 1 else dup_cols
    # exact copies share their hash: only rows whose hash repeats are compared column by column
    # (comparing every row's columns took 3.7 s for 10M rows)
    duplicate_rows = db.scalar(
        f"""SELECT count(*) - count(DISTINCT {distinct}) FROM raw
            WHERE hash({dup_cols}) IN (SELECT hash({dup_cols}) AS h FROM raw GROUP BY h HAVING count(*) > 1)""")
    warnings = []
    if fmt.ambiguous:
        warnings.append(
            "Dates like 01/02/2024 could be read day-first or month-first and nothing in the data tells; "
            "they were read day-first (1 February). Choose month-first if that is wrong."
        )
    if "revenue" in roles and not _read_as_numbers(roles, types):
        bad = db.scalar(
            f"SELECT count(*) FROM raw WHERE nullif(trim(CAST({q(roles['revenue'])} AS VARCHAR)), '') IS NOT NULL "
            f"AND __row_no IN (SELECT row_no FROM events WHERE revenue IS NULL)"
        )
        if bad:
            warnings.append(f"{bad:,} revenue values could not be read as numbers and count as no revenue.")
    if duplicate_rows:
        warnings.append(
            f"{duplicate_rows:,} rows are exact copies of an earlier row. They were loaded, not removed; "
            "check whether the export repeated them."
        )
    if "event" not in roles:
        warnings.append("No event column: every row was loaded as a purchase event (an orders export).")
    purchases = db.rows(
        f"SELECT count(*), count(DISTINCT coalesce(order_id, row_no::VARCHAR)), sum(revenue) FROM events "
        f"WHERE regexp_matches({normalised_event_sql('event')}, $p)",
        {"p": purchase_pattern()},
    )[0]
    return LoadReport(
        source="",
        format=info["format"],
        encoding=info.get("encoding"),
        delimiter=info.get("delimiter"),
        rows_read=int(rows_loaded) + rows_rejected,
        rows_loaded=int(rows_loaded),
        rows_rejected=rows_rejected,
        reject_reasons={k: int(v) for k, v in reasons.items()},
        mapping=mapping.to_dict(),
        extra_columns=list(mapping.extras),
        users=int(users),
        events=int(rows_loaded),
        sessions=int(sessions),
        orders=int(purchases[1]),
        revenue=round(float(purchases[2] or 0.0), 2),
        first_ts=first_ts.isoformat() if first_ts is not None else None,
        last_ts=last_ts.isoformat() if last_ts is not None else None,
        duplicate_rows=int(duplicate_rows or 0),
        time_format=fmt.describe(),
        date_order=fmt.date_order if fmt.kind == "text" else None,
        date_order_ambiguous=fmt.ambiguous,
        warnings=warnings,
        content_hash=f"{content}-{rows_loaded}-{rows_rejected}",
    )
