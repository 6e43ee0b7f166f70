"""Any source (file path, uploaded bytes, pandas DataFrame) → the canonical events table.

Every load returns an :class:`~journey.log.EventLog` whose ``report`` accounts for each row:
``rows_read = rows_loaded + rows_rejected``. Rejected rows are kept, with their row number and reason,
in the ``rejects`` table.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import sources
from .engine import Database, is_duckdb_error, quote_ident
from .errors import InvalidParameterError, JourneyError, LoadError, MappingError
from .log import EventLog, LoadReport
from .schema import ORDERS_EVENT, ROLES, Mapping, check_required, detect_mapping
from .stages import normalised_event_sql, purchase_pattern
from .timeparse import DATE_ORDERS, detect_time_format, ts_sql

SESSION_GAP_MINUTES_DEFAULT = 30
RESERVED = {"row_no", *ROLES.values()}
PARSER_REASONS = {
    "UNQUOTED VALUE": "broken quoting",
    "TOO MANY COLUMNS": "wrong number of fields",
    "MISSING COLUMNS": "wrong number of fields",
    "INVALID ENCODING": "invalid encoding",
    "INVALID UNICODE": "invalid encoding",
    "LINE SIZE OVER MAXIMUM": "line too long",
    "CAST": "unreadable value",
}
MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass
class Staged:
    """A source read into its database (table ``raw``) but not yet mapped to the canonical events.

    A file whose columns cannot be detected stays staged, so the analyst can pick the columns and
    :func:`build` the events without reading the file again.
    """

    db: Database
    info: dict
    name: str

    @property
    def columns(self) -> list[str]:
        """The source's columns, as read."""
        return [c for c, _ in self.db.columns("raw") if c != "__row_no"]

    def preview(self, n: int = 5) -> pd.DataFrame:
        return self.db.run("SELECT * EXCLUDE (__row_no) FROM raw ORDER BY __row_no LIMIT $n", {"n": int(n)})


def load(
    source: Any,
    mapping: Mapping | dict[str, str | None] | None = None,
    *,
    date_order: str = "auto",
    session_gap_minutes: float = SESSION_GAP_MINUTES_DEFAULT,
    name: str | None = None,
    db: Database | None = None,
    memory_limit: str | None = None,
) -> EventLog:
    """Load an event export into a new DuckDB database and return the event log.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A CSV/TSV (also ``.gz``), Parquet, JSON lines or Excel ``.xlsx`` file, or a DataFrame.
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
    staged = stage(source, name=name, db=db, memory_limit=memory_limit)
    try:
        return build(staged, mapping, date_order=date_order, session_gap_minutes=session_gap_minutes)
    except MappingError as e:
        e.staged = staged
        raise


def stage(source: Any, *, name: str | None = None, db: Database | None = None, memory_limit: str | None = None) -> Staged:
    """Read a source into a new database as table ``raw`` (every row, with its row number)."""
    started = time.perf_counter()
    owned = db is None
    db = db or Database(memory_limit=memory_limit)
    workdir = tempfile.mkdtemp(prefix="journey-load-")
    try:
        if isinstance(source, pd.DataFrame):
            info = _stage_frame(db, source)
            name = name or "DataFrame"
        else:
            path = os.fspath(source)
            name = name or os.path.basename(path)
            info = _stage_file(db, path, workdir)
    except Exception as e:
        if owned:
            db.close()
        if isinstance(e, JourneyError):
            raise
        if is_duckdb_error(e) or isinstance(e, (UnicodeError, OSError, ValueError)):
            raise LoadError(f"Could not read {name or 'the source'}: {_first_line(e)}") from e
        raise  # a bug of ours: let it surface with its traceback
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["stage_seconds"] = time.perf_counter() - started
    return Staged(db=db, info=info, name=name)


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
    try:
        log = _build_events(staged, overrides, date_order, session_gap_minutes)
    except JourneyError:
        raise
    except Exception as e:
        if is_duckdb_error(e):
            raise LoadError(f"Could not build the events of {staged.name}: {_first_line(e)}") from e
        raise
    log.report.source = staged.name
    log.report.seconds = round(staged.info.get("stage_seconds", 0) + time.perf_counter() - started, 3)
    return log


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


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# --- staging: every source becomes a table `raw` with row_no, plus a table `parser_rejects` ---------


def _stage_frame(db: Database, df: pd.DataFrame) -> dict:
    frame = df.copy()
    frame.columns = sources.unique_names([str(c) for c in frame.columns])
    frame.insert(0, "__row_no", range(1, len(frame) + 1))
    db.register("__frame", frame)
    _create_raw(db, "SELECT * FROM __frame")
    db.execute("DROP TABLE __frame")
    _create_parser_rejects(db, [])
    return {"format": "dataframe", "encoding": None, "delimiter": None}


def _stage_file(db: Database, path: str, workdir: str) -> dict:
    if not os.path.exists(path):
        raise LoadError(f"No such file: {path}")
    if os.path.isdir(path):
        raise LoadError(f"{path} is a folder. Pick a file inside it.")
    if os.path.getsize(path) == 0:
        raise LoadError(f"{os.path.basename(path)} is empty (0 bytes). Export it again, with its rows.")
    fmt, gz = sources.detect_format(path)
    if fmt == "parquet":
        return _stage_parquet(db, path)
    if fmt == "xlsx":
        return _stage_xlsx(db, path)
    sample = sources.read_sample(path, gz)
    if not sample.strip():
        raise LoadError(f"{os.path.basename(path)} has no data, only blank space.")
    encoding = sources.detect_encoding(sample)
    readable, read_gz = path, gz
    if encoding not in ("utf-8", "utf-8-sig"):
        readable, read_gz = sources.transcode_to_utf8(path, gz, encoding, workdir), False
    if fmt == "json":
        return _stage_json(db, readable, encoding, workdir)
    return _stage_csv(db, readable, read_gz, encoding, workdir)


def _create_raw(db: Database, select_sql: str, params: dict | None = None) -> None:
    """Create table `raw` from a SELECT whose first column is __row_no (replacing any earlier `raw`)."""
    db.execute("DROP VIEW IF EXISTS raw")
    db.execute(f"CREATE OR REPLACE TABLE raw AS {select_sql}", params)
    db.execute("DROP TABLE IF EXISTS raw_rows")


def _create_parser_rejects(db: Database, rows: list[tuple[int, str, str]]) -> None:
    db.execute(
        "CREATE OR REPLACE TABLE parser_rejects (row_no BIGINT, reason VARCHAR, detail VARCHAR, raw_line VARCHAR)"
    )
    if rows:
        db.register("__pr", pd.DataFrame(rows, columns=["row_no", "reason", "raw_line"]))
        db.execute("INSERT INTO parser_rejects SELECT row_no, reason, NULL, raw_line FROM __pr")
        db.execute("DROP TABLE __pr")


def _stage_csv(db: Database, path: str, gz: bool, encoding: str, workdir: str) -> dict:
    text = sources.read_sample(path, gz).decode("utf-8", errors="replace")
    dialect = sources.detect_dialect(text)
    reader = (
        "read_csv($path, auto_detect=false, header=true, columns=$columns, delim=$delim, quote='\"', "
        f"escape='\"', compression=$compression, max_line_size={MAX_LINE_BYTES}, "
        "store_rejects=true, rejects_table='csv_rejects', rejects_scan='csv_scans')"
    )
    cur = db.cursor()  # DuckDB's reject tables are temporary: read and inspect them on one cursor
    try:
        cur.execute("DROP VIEW IF EXISTS raw")
        cur.execute(
            f"CREATE OR REPLACE TABLE raw_rows AS SELECT * FROM {reader}",
            {"path": path, "columns": _varchar_columns(dialect.header), "delim": dialect.delimiter,
             "compression": "gzip" if gz else "none"},
        )
        # Insertion order is file order, so rowid + 1 is the record number (no window function needed).
        cur.execute("CREATE VIEW raw AS SELECT rowid + 1 AS __row_no, * FROM raw_rows")
        errors = cur.execute(
            "SELECT line, any_value(error_type ORDER BY column_idx), any_value(csv_line) "
            "FROM csv_rejects GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        cur.close()
    if any("\n" in (raw or "").strip("\r\n") for _, _, raw in errors):
        # A runaway quote swallowed later lines: read line by line instead, so each counts on its own.
        repaired, rejects = sources.repair_csv_linewise(path, "utf-8", gz, dialect, workdir)
        _create_raw(
            db,
            "SELECT CAST(__row_no AS BIGINT) AS __row_no, * EXCLUDE (__row_no) FROM read_csv($path, "
            "auto_detect=false, header=true, columns=$columns, delim=',', quote='\"', escape='\"')",
            {"path": repaired, "columns": _varchar_columns(["__row_no", *dialect.header])},
        )
        _create_parser_rejects(db, rejects)
    else:
        header_lines = 1
        rejects = [
            (int(line) - header_lines, PARSER_REASONS.get(str(kind).upper(), str(kind).lower()), (raw or "").strip("\r\n"))
            for line, kind, raw in errors
        ]
        _create_parser_rejects(db, rejects)
        if rejects:
            _renumber_around_rejects(db)
    return {"format": "csv", "encoding": encoding, "delimiter": dialect.delimiter}


def _varchar_columns(names: list[str]) -> dict[str, str]:
    """A read_csv ``columns`` argument reading every column as text (IDs keep their leading zeros)."""
    return {c: "VARCHAR" for c in names}


def _renumber_around_rejects(db: Database) -> None:
    """Give loaded rows their record number in the source, skipping the numbers of rejected records.

    The i-th kept record is record ``i + #{rejected r_j : r_j - j < i}`` (r_j sorted, j from 1).
    """
    _create_raw(
        db,
        """
        WITH r AS (
            SELECT row_no - row_number() OVER (ORDER BY row_no) AS below, row_number() OVER (ORDER BY row_no) AS j
            FROM parser_rejects
        ), thresholds AS (SELECT below, max(j) AS j FROM r GROUP BY below),
        kept AS (SELECT rowid + 1 AS __row_no, * FROM raw_rows)
        SELECT kept.* REPLACE (kept.__row_no + coalesce(t.j, 0) AS __row_no)
        FROM kept ASOF LEFT JOIN thresholds t ON kept.__row_no > t.below
        ORDER BY kept.__row_no
        """,
    )


def _stage_parquet(db: Database, path: str) -> dict:
    cols = [c for c, _ in db.columns("read_parquet($path)", {"path": path})]
    if not cols:
        raise LoadError(f"{os.path.basename(path)} has no columns.")
    renamed = sources.unique_names(cols)
    select = ", ".join(f"{quote_ident(c)} AS {quote_ident(r)}" for c, r in zip(cols, renamed))
    _create_raw(
        db,
        f"SELECT file_row_number + 1 AS __row_no, {select} FROM read_parquet($path, file_row_number=true)",
        {"path": path},
    )
    _create_parser_rejects(db, [])
    return {"format": "parquet", "encoding": None, "delimiter": None}


def _stage_json(db: Database, path: str, encoding: str, workdir: str) -> dict:
    """JSON lines: DuckDB reads it when every line is valid; otherwise valid lines are kept line by line."""
    try:
        cols = [c for c, _ in db.columns("read_json($path, format='newline_delimited')", {"path": path})]
        _create_raw(
            db,
            "SELECT row_number() OVER () AS __row_no, * FROM read_json($path, format='newline_delimited')",
            {"path": path},
        )
        if not cols:
            raise LoadError("The JSON lines file has no fields.")
        _create_parser_rejects(db, [])
    except Exception as e:
        if not is_duckdb_error(e):
            raise
        records, rejects, keys = [], [], {}
        with open(path, encoding="utf-8", errors="replace") as f:
            row_no = 0
            for line in f:
                if not line.strip():
                    continue
                row_no += 1
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("not an object")
                except ValueError:
                    rejects.append((row_no, "invalid JSON", line.rstrip("\r\n")))
                    continue
                for k in obj:
                    keys.setdefault(k, None)
                records.append({"__row_no": row_no, **{k: _json_text(v) for k, v in obj.items()}})
        frame = pd.DataFrame(records, columns=["__row_no", *keys]).astype({k: "string" for k in keys})
        db.register("__json", frame)
        _create_raw(db, "SELECT * FROM __json")
        db.execute("DROP TABLE __json")
        _create_parser_rejects(db, rejects)
    return {"format": "json", "encoding": encoding, "delimiter": None}


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _stage_xlsx(db: Database, path: str) -> dict:
    try:
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        while header is not None and all(v in (None, "") for v in header):
            header = next(rows, None)
        if header is None:
            raise LoadError(f"{os.path.basename(path)}: the first sheet is empty.")
        names = sources.unique_names(["" if v is None else str(v) for v in header])
        data = []
        for i, row in enumerate(rows, start=1):
            if all(v in (None, "") for v in row):
                continue
            values = [_cell_text(v) for v in row[: len(names)]]
            data.append([i, *values, *[None] * (len(names) - len(values))])
        book.close()
    except LoadError:
        raise
    except Exception as e:
        raise LoadError(f"Could not read the Excel file {os.path.basename(path)}: {_first_line(e)}") from e
    frame = pd.DataFrame(data, columns=["__row_no", *names]).astype({n: "string" for n in names})
    db.register("__xlsx", frame)
    _create_raw(db, "SELECT * FROM __xlsx")
    db.execute("DROP TABLE __xlsx")
    _create_parser_rejects(db, [])
    return {"format": "xlsx", "encoding": None, "delimiter": None}


def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --- building the canonical table ----------------------------------------------------------------------


def _text(col_sql: str) -> str:
    return f"nullif(trim(CAST({col_sql} AS VARCHAR)), '')"


def _number(col_sql: str, col_type: str) -> str:
    if col_type.upper() in ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "REAL") or col_type.upper().startswith("DECIMAL"):
        return f"CAST({col_sql} AS DOUBLE)"
    cleaned = f"regexp_replace(trim(CAST({col_sql} AS VARCHAR)), '[^0-9.eE+-]', '', 'g')"
    return f"try_cast(nullif({cleaned}, '') AS DOUBLE)"


def _build_events(staged: Staged, overrides: dict, date_order: str, gap_minutes: float) -> EventLog:
    db, info = staged.db, staged.info
    typed = [(c, t) for c, t in db.columns("raw") if c != "__row_no"]
    columns = [c for c, _ in typed]
    types = dict(typed)
    if not columns:
        raise LoadError("The file has a header but no columns Journey can use.")
    if db.scalar("SELECT count(*) FROM raw") == 0 and db.scalar("SELECT count(*) FROM parser_rejects") == 0:
        raise LoadError("The file has a header but no data rows. Export it again with its rows.")
    detected = detect_mapping(columns)
    mapping = detected.with_overrides(overrides, columns) if overrides else detected
    check_required(mapping, columns)

    q = quote_ident
    roles = mapping.roles()
    time_col = roles["time"]
    fmt = detect_time_format(db, "raw", q(time_col), types[time_col], date_order)
    ts_expr = ts_sql(q(time_col), fmt, types[time_col])
    event_expr = _text(q(roles["event"])) if "event" in roles else f"'{ORDERS_EVENT}'"

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
        SELECT
            __row_no AS row_no,
            {_text(q(roles['user']))} AS user_id,
            {ts_expr} AS ts,
            {event_expr} AS event,
            {session_src} AS source_session,
            {', '.join(optional)},
            {revenue_expr} AS revenue,
            {score_expr} AS score,
            {_text(q(time_col))} AS raw_time
            {extra_sql}
            {src_sql}
        FROM raw
        """
    )
    reason = (
        "CASE WHEN user_id IS NULL THEN 'missing user' WHEN event IS NULL THEN 'missing event' "
        "WHEN raw_time IS NULL THEN 'missing time' WHEN ts IS NULL THEN 'unreadable time' END"
    )
    db.execute(f"CREATE OR REPLACE VIEW checked AS SELECT *, {reason} AS reject_reason FROM parsed")

    gap_seconds = float(gap_minutes) * 60
    extra_out = "".join(f", {q(n)}" for n in extra_names)
    db.execute(
        f"""
        CREATE OR REPLACE TABLE events AS
        WITH ok AS (
            SELECT * FROM checked WHERE reject_reason IS NULL
        ), gaps AS (
            SELECT *,
                CASE WHEN lag(ts) OVER w IS NULL
                       OR epoch(ts) - epoch(lag(ts) OVER w) > $gap THEN 1 ELSE 0 END AS new_session
            FROM ok WINDOW w AS (PARTITION BY user_id ORDER BY ts, row_no)
        ), numbered AS (
            SELECT *, sum(new_session) OVER (PARTITION BY user_id ORDER BY ts, row_no
                                             ROWS UNBOUNDED PRECEDING) AS session_no
            FROM gaps
        )
        SELECT row_no, user_id, ts, event,
               coalesce(source_session, user_id || '#' || session_no::VARCHAR) AS session_id,
               channel, device, revenue, order_id, product_id, category, page, score
               {extra_out}
        FROM numbered
        ORDER BY user_id, ts, row_no
        """,
        {"gap": gap_seconds},
    )
    src_cols = "".join(f", {q(f'__src_{i}')} AS {q(c)}" for i, c in enumerate(columns))
    db.execute(
        f"""
        CREATE OR REPLACE TABLE rejects AS
        SELECT row_no, reason, detail, raw_line {''.join(f', CAST(NULL AS VARCHAR) AS {q(c)}' for c in columns)}
        FROM parser_rejects
        UNION ALL
        SELECT row_no, reject_reason AS reason,
               CASE WHEN reject_reason = 'unreadable time' THEN raw_time END AS detail,
               CAST(NULL AS VARCHAR) AS raw_line {src_cols}
        FROM checked
        WHERE reject_reason IS NOT NULL
        ORDER BY row_no
        """
    )
    report = _report(db, info, mapping, fmt, roles, columns)
    db.execute("DROP VIEW IF EXISTS checked")
    db.execute("DROP VIEW IF EXISTS parsed")
    return EventLog(db=db, report=report, mapping=mapping, source_info=info)



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


def _report(db: Database, info: dict, mapping: Mapping, fmt, roles: dict, columns: list[str]) -> LoadReport:
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
    duplicate_rows = db.scalar(f"SELECT count(*) - count(DISTINCT {distinct}) FROM raw")
    warnings = []
    if fmt.ambiguous:
        warnings.append(
            "Dates like 01/02/2024 could be read day-first or month-first and nothing in the data tells; "
            "they were read day-first (1 February). Choose month-first if that is wrong."
        )
    if "revenue" in roles:
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
