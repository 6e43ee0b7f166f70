"""Reading timestamps: detect the form a time column is written in, and the SQL that parses it.

Forms understood (DESIGN.md): ISO 8601 with or without zone (zoned values are converted to UTC),
epoch seconds / milliseconds / microseconds / nanoseconds, compact ``YYYYMMDD`` (and
``YYYYMMDDHHMMSS``), day-first and month-first dates (``01/03/2024 10:15``, ``3/1/2024 10:15 PM``),
month names (``1 Mar 2024``, ``Mar 1, 2024``), and Buddhist-era years (2567 → 2024). The result is a
naive ``TIMESTAMP`` in UTC (or in the source's local time when the source gives no zone).
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Database, quote_literal, trim_sql

# Year-first: 2024-03-01, 2024/3/1 10:15, 2567-03-01T10:15:07.123+07:00
YMD_RE = (
    r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
# Day- or month-first: 01/03/2024, 1.3.2024 10:15, 3/1/24 10:15 PM
DMY_RE = (
    r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})"
    r"(?:[T ,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*([AaPp][Mm])?)?\s*$"
)
SIMPLE_ISO_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$"
NUMBER_RE = r"^\s*-?\d+(?:\.\d+)?\s*$"
MONTH_NAME_FORMATS = [
    "%d %b %Y %H:%M:%S", "%d %b %Y %H:%M", "%d %b %Y", "%d %B %Y %H:%M:%S", "%d %B %Y %H:%M", "%d %B %Y",
    "%b %d, %Y %H:%M:%S", "%b %d, %Y %I:%M %p", "%b %d, %Y %H:%M", "%b %d, %Y", "%B %d, %Y %H:%M:%S",
    "%B %d, %Y %I:%M %p", "%B %d, %Y", "%d-%b-%Y %H:%M:%S", "%d-%b-%Y", "%a, %d %b %Y %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
]
BUDDHIST_ERA_OFFSET_YEARS = 543
BUDDHIST_ERA_FIRST_YEAR = 2400  # a year this large is read as Buddhist era (2567 → 2024)

DATE_ORDERS = ("auto", "dmy", "mdy")


def _lit(text: str) -> str:
    """A constant of this module as an SQL string literal (never user text)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TimeFormat:
    """How a time column is written.

    kind: ``native`` (already a timestamp type), ``epoch``, ``compact`` or ``text``.
    unit: for epoch, one of s, ms, us, ns. date_order: for text, ``dmy`` or ``mdy``.
    ambiguous: True when no value told day-first from month-first (``dmy`` was assumed).
    """

    kind: str
    unit: str | None = None
    date_order: str = "dmy"
    ambiguous: bool = False
    zoned: bool = False
    day_month_seen: bool = False

    def describe(self) -> str:
        if self.kind == "epoch":
            return f"epoch {self.unit}"
        if self.kind == "compact":
            return "compact YYYYMMDD"
        if self.kind == "native":
            return "timestamp"
        if not self.day_month_seen:
            return "text (year first)"
        order = {"dmy": "day-first", "mdy": "month-first"}[self.date_order]
        return f"text ({order}{', assumed' if self.ambiguous else ''})"


def _year(expr: str) -> str:
    """Year from text, with Buddhist-era years moved to the common era."""
    return (
        f"(CASE WHEN {expr}::INT >= {BUDDHIST_ERA_FIRST_YEAR} "
        f"THEN {expr}::INT - {BUDDHIST_ERA_OFFSET_YEARS} ELSE {expr}::INT END)"
    )


def _assemble(y: str, mo: str, d: str, h: str, mi: str, s: str, frac: str) -> str:
    """SQL building a TIMESTAMP from text parts (empty parts count as 0); NULL when invalid."""
    def num(part: str) -> str:
        return f"coalesce(nullif({part}, '')::INT, 0)"

    base = (
        f"try_cast(printf('%04d-%02d-%02d %02d:%02d:%02d', {y}, {mo}::INT, {d}::INT, "
        f"{num(h)}, {num(mi)}, {num(s)}) AS TIMESTAMP)"
    )
    micros = f"coalesce(round(('0.' || nullif({frac}, ''))::DOUBLE * 1000000)::BIGINT, 0)"
    return f"({base} + to_microseconds({micros}))"


def _zone_minutes(tz: str) -> str:
    """Minutes east of UTC for a zone suffix (Z, UTC, +07, +0700, -05:30); 0 when absent."""
    digits = f"replace(substr({tz}, 2), ':', '')"
    return (
        f"(CASE WHEN {tz} IN ('', 'Z', 'UTC') THEN 0 ELSE "
        f"(CASE WHEN substr({tz}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(substr({digits}, 1, 2)::INT * 60 + coalesce(nullif(substr({digits}, 3, 2), '')::INT, 0)) END)"
    )


# the parameters of the parser's lambdas: no column of the table being parsed may have these names
LAMBDA_NAMES = ("__ymd", "__dmy", "__era", "__plain")


def _general_text_ts_sql(x: str, date_order: str) -> str:
    """SQL parsing any text form this module knows by regular expression (the slow, thorough path).

    Each regular expression runs once per row: its groups are bound to ``r``/``q`` through a one-element
    list lambda, which DuckDB evaluates vectorised, instead of a correlated subquery.
    """
    ymd = f"regexp_extract({x}, {_lit(YMD_RE)}, ['y','mo','d','h','mi','s','f','tz'])"
    dmy = f"regexp_extract({x}, {_lit(DMY_RE)}, ['a','b','y','h','mi','s','f','ap'])"
    first, second = ("b", "a") if date_order == "dmy" else ("a", "b")
    ymd_ts = (
        _assemble(_year("__ymd.y"), "__ymd.mo", "__ymd.d", "__ymd.h", "__ymd.mi", "__ymd.s", "__ymd.f")
        + f" - to_minutes({_zone_minutes('__ymd.tz')})"
    )
    two_digit_year = ("(CASE WHEN length(__dmy.y) = 2 THEN (CASE WHEN __dmy.y::INT < 69 THEN 2000 ELSE 1900 END) "
                      "+ __dmy.y::INT")
    dmy_year = f"{two_digit_year} ELSE {_year('__dmy.y')} END)"
    hour = (
        "(CASE WHEN lower(__dmy.ap) = 'pm' AND __dmy.h::INT < 12 THEN (__dmy.h::INT + 12)::VARCHAR "
        "WHEN lower(__dmy.ap) = 'am' AND __dmy.h::INT = 12 THEN '0' ELSE __dmy.h END)"
    )
    dmy_ts = _assemble(dmy_year, f"__dmy.{first}", f"__dmy.{second}", hour, "__dmy.mi", "__dmy.s", "__dmy.f")
    names = "[" + ", ".join(_lit(f) for f in MONTH_NAME_FORMATS) + "]"
    by_dmy = f"list_transform([{dmy}], lambda __dmy: CASE WHEN __dmy.y <> '' THEN {dmy_ts} END)[1]"
    by_ymd = f"list_transform([{ymd}], lambda __ymd: CASE WHEN __ymd.y <> '' THEN {ymd_ts} END)[1]"
    return f"coalesce({by_ymd}, {by_dmy}, try_strptime({x}, {names}))"


def _quick_formats(date_order: str) -> list[str]:
    """strptime formats for the common day/month-first forms, tried before the regular expressions."""
    d, m = ("%d", "%m") if date_order == "dmy" else ("%m", "%d")
    out = []
    for sep in ("/", "-", "."):
        for time_part in (" %H:%M:%S", " %H:%M", ""):
            out.append(f"{d}{sep}{m}{sep}%Y{time_part}")
    return out


def _common_era(ts: str) -> str:
    """Move a Buddhist-era timestamp (year 2400 or later) to the common era."""
    return (
        f"list_transform([{ts}], lambda __era: CASE WHEN year(__era) >= {BUDDHIST_ERA_FIRST_YEAR} "
        f"THEN __era - INTERVAL {BUDDHIST_ERA_OFFSET_YEARS} YEAR ELSE __era END)[1]"
    )


def quick_ts_sql(x: str) -> str:
    """SQL casting a value of the plain export form's length (19 bytes, year before 2400) with DuckDB's own
    cast; NULL otherwise. :func:`text_ts_sql` keeps the result only when it prints back as ``x``."""
    return f"CASE WHEN strlen({x}) = 19 AND {x} < '2400' THEN try_cast({x} AS TIMESTAMP) END"


def text_ts_sql(x: str, date_order: str = "dmy", quick: str | None = None) -> str:
    """SQL parsing the text expression ``x`` in any text form this module knows.

    The usual export form, ``2024-01-31 08:15:00``, is read first without a regular expression: a value
    of 19 bytes is cast by DuckDB and counts only when the timestamp prints back as exactly the same text.
    DuckDB prints a timestamp as ``YYYY-MM-DD HH:MM:SS`` and longer forms for fractions, years past 9999
    and BC, so this takes exactly the all-digit plain form (a space or a sign in place of a digit, which
    the cast alone would take, does not print back). Years from 2400 (Buddhist era) and every other form
    go to :func:`thorough_text_ts_sql`, which gives the same answer for the plain form (property-tested),
    only slower. COALESCE evaluates each later path only for rows still NULL.

    ``quick``: a column holding :func:`quick_ts_sql` of ``x``, computed in a projection below (faster
    than binding the cast here through a one-element list lambda, which is what happens without it).
    """
    if quick:
        plainest = f"CASE WHEN CAST({quick} AS VARCHAR) = {x} THEN {quick} END"
    else:
        plainest = (f"list_transform([{quick_ts_sql(x)}], "
                    f"lambda __plain: CASE WHEN CAST(__plain AS VARCHAR) = {x} THEN __plain END)[1]")
    return f"coalesce({plainest}, {thorough_text_ts_sql(x, date_order)})"


def thorough_text_ts_sql(x: str, date_order: str = "dmy") -> str:
    """SQL parsing the text expression ``x`` in any text form this module knows, without shortcuts.

    Fast paths first (DuckDB's own cast for plain ISO without zone, strptime for the usual day/month
    forms); COALESCE evaluates the later, slower paths only for rows the earlier ones left NULL.
    """
    quick = "[" + ", ".join(_lit(f) for f in _quick_formats(date_order)) + "]"
    iso = f"CASE WHEN regexp_full_match({x}, {_lit(SIMPLE_ISO_RE)}) THEN try_cast({x} AS TIMESTAMP) END"
    fast = _common_era(f"coalesce({iso}, try_strptime({x}, {quick}))")
    return f"coalesce({fast}, {_general_text_ts_sql(x, date_order)})"


def ts_sql(x: str, fmt: TimeFormat, source_type: str = "VARCHAR", trimmed: bool = False,
           quick: str | None = None) -> str:
    """SQL turning the column expression ``x`` (of ``source_type``) into a TIMESTAMP, NULL when unreadable.

    ``trimmed``: ``x`` is already ``trim(CAST(… AS VARCHAR))`` (computed once, in a projection below).
    ``quick``: with ``trimmed``, a column holding :func:`quick_ts_sql` of ``x`` (see :func:`text_ts_sql`).
    """
    st = source_type.upper()
    if fmt.kind == "native":
        if "WITH TIME ZONE" in st or st == "TIMESTAMPTZ":
            return f"timezone('UTC', {x})"
        return f"CAST({x} AS TIMESTAMP)"
    if fmt.kind == "epoch":
        if st.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({x} AS TIMESTAMP)"
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[fmt.unit or "s"]
        exact = f"(CASE WHEN NOT contains(trim({x}::VARCHAR), '.') THEN try_cast(trim({x}::VARCHAR) AS HUGEINT) END)"
        if per_second >= 1_000_000:
            micros = f"{exact} // {per_second // 1_000_000}"
        else:
            micros = f"{exact} * {1_000_000 // per_second}"
        fractional = f"round(try_cast(trim({x}::VARCHAR) AS DOUBLE) * {1_000_000 / per_second})"
        return f"try(make_timestamp(CAST(coalesce({micros}, {fractional}) AS BIGINT)))"
    text = x if trimmed else trim_sql(f"CAST({x} AS VARCHAR)")
    quick = quick if trimmed else None
    if fmt.kind == "compact":
        y = f"substr({text}, 1, 4)"
        compact = _assemble(
            _year(y), f"substr({text}, 5, 2)", f"substr({text}, 7, 2)",
            f"substr({text}, 9, 2)", f"substr({text}, 11, 2)", f"substr({text}, 13, 2)", "''",
        )
        return f"(CASE WHEN regexp_full_match({text}, '\\d{{8}}(\\d{{6}})?') THEN {compact} ELSE {text_ts_sql(text, fmt.date_order, quick)} END)"
    return text_ts_sql(text, fmt.date_order, quick)


def detect_time_format(
    db: Database, source: str, column_sql: str, source_type: str, date_order: str = "auto", sample: int = 20_000
) -> TimeFormat:
    """Decide how the column ``column_sql`` of ``source`` is written, from a sample of its values."""
    st = source_type.upper()
    if st.startswith("TIMESTAMP") or st == "DATE":
        return TimeFormat("native", zoned="TIME ZONE" in st or st == "TIMESTAMPTZ")
    text = f"trim(CAST({column_sql} AS VARCHAR))"
    # the patterns are this module's constants, written as literals: no bound parameter (see _stage_parquet)
    number = quote_literal(NUMBER_RE.replace(r"^\s*", "").replace(r"\s*$", ""))
    compact, dmy = quote_literal(r"\d{8}(?:\d{6})?"), quote_literal(DMY_RE)
    stats = db.rows(
        f"""
        WITH v AS (
            SELECT {text} AS x FROM {source}
            WHERE {column_sql} IS NOT NULL AND {text} <> '' LIMIT {int(sample)}
        )
        SELECT
            count(*) AS n,
            count(*) FILTER (WHERE regexp_full_match(x, {number})) AS numeric,
            count(*) FILTER (WHERE regexp_full_match(x, {compact})) AS compact,
            median(try_cast(x AS DOUBLE)) FILTER (WHERE regexp_full_match(x, {number})) AS magnitude,
            count(*) FILTER (WHERE regexp_extract(x, {dmy}, 1)::VARCHAR <> ''
                             AND try_cast(regexp_extract(x, {dmy}, 1) AS INT) > 12) AS first_over_12,
            count(*) FILTER (WHERE regexp_extract(x, {dmy}, 2)::VARCHAR <> ''
                             AND try_cast(regexp_extract(x, {dmy}, 2) AS INT) > 12) AS second_over_12,
            count(*) FILTER (WHERE regexp_extract(x, {dmy}, 1) <> '') AS dmy_like
        FROM v
        """
    )[0]
    n, numeric, compact, magnitude, first_over, second_over, dmy_like = stats
    if n and numeric == n:
        if compact == n and _plausible_compact(db, source, text):
            return TimeFormat("compact")
        magnitude = abs(magnitude or 0)
        unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
        return TimeFormat("epoch", unit=unit)
    seen = bool(dmy_like)
    if date_order in ("dmy", "mdy"):
        return TimeFormat("text", date_order=date_order, day_month_seen=seen)
    if first_over and not second_over:
        return TimeFormat("text", date_order="dmy", day_month_seen=seen)
    if second_over and not first_over:
        return TimeFormat("text", date_order="mdy", day_month_seen=seen)
    return TimeFormat("text", date_order="dmy", ambiguous=seen and not (first_over and second_over), day_month_seen=seen)


def _plausible_compact(db: Database, source: str, text: str) -> bool:
    """True when 8/14-digit numbers read as dates (year 1900–2700, valid month and day)."""
    bad = db.scalar(
        f"""
        SELECT count(*) FROM (SELECT {text} AS x FROM {source} WHERE {text} <> '' LIMIT 2000)
        WHERE NOT (substr(x, 1, 4)::INT BETWEEN 1900 AND 2700
                   AND substr(x, 5, 2)::INT BETWEEN 1 AND 12 AND substr(x, 7, 2)::INT BETWEEN 1 AND 31)
        """
    )
    return bad == 0
