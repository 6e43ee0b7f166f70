"""Reading any source into a DuckDB table ``raw`` (every row, with its record number), before mapping.

Files: CSV/TSV (also gzip), Parquet, JSON lines, Excel; or a pandas DataFrame. Malformed CSV and JSON
lines are kept in ``parser_rejects`` with their record number and reason (ADR 0002).
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from . import sources
from .engine import Database, is_duckdb_error, quote_ident, quote_literal
from .errors import JourneyError, LoadError
from .lazy import pandas as pd

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



def stage(source: Any, *, name: str | None = None, db: Database | None = None, memory_limit: str | None = None,
          table: str | None = None, in_place: bool = False) -> Staged:
    """Read a source into a new database as table ``raw`` (every row, with its row number).

    ``source`` is a DataFrame, a file, a folder of Parquet files, or a DuckDB database file (``table``
    names the table to read; default ``events``, or its only table). With ``in_place``, a Parquet file or
    folder is not copied: ``raw`` is a view reading it at each query (``info["in_place"]`` says so).
    """
    started = time.perf_counter()
    owned = db is None
    db = db or Database(memory_limit=memory_limit)
    workdir = tempfile.mkdtemp(prefix="journey-load-")
    try:
        if _is_frame(source):
            info = _stage_frame(db, source)
            name = name or "DataFrame"
        else:
            path = os.fspath(source)
            name = name or os.path.basename(path)
            info = _stage_file(db, path, workdir, table, in_place)
    except Exception as e:
        if owned:
            db.close()
        if isinstance(e, JourneyError):
            raise
        if is_duckdb_error(e) or isinstance(e, (UnicodeError, OSError, ValueError)):
            raise LoadError(f"Could not read {name or 'the source'}: {first_line(e)}") from e
        raise  # a bug of ours: let it surface with its traceback
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["stage_seconds"] = time.perf_counter() - started
    return Staged(db=db, info=info, name=name)


def first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# --- staging: every source becomes a table `raw` with row_no, plus a table `parser_rejects` ---------


def _is_frame(source: Any) -> bool:
    """Whether ``source`` is a pandas DataFrame, without importing pandas for a path: a command's load
    then runs while pandas is imported on another thread (ADR 0013)."""
    return not isinstance(source, (str, bytes, os.PathLike)) and isinstance(source, pd.DataFrame)


def _stage_frame(db: Database, df: pd.DataFrame) -> dict:
    frame = df.copy()
    frame.columns = sources.unique_names([str(c) for c in frame.columns])
    frame.insert(0, "__row_no", range(1, len(frame) + 1))
    db.register("__frame", frame)
    _create_raw(db, "SELECT * FROM __frame")
    db.execute("DROP TABLE __frame")
    _create_parser_rejects(db, [])
    return {"format": "dataframe", "encoding": None, "delimiter": None}


def _stage_file(db: Database, path: str, workdir: str, table: str | None = None, in_place: bool = False) -> dict:
    if not os.path.exists(path):
        raise LoadError(f"No such file: {path}")
    if os.path.isdir(path):
        return _stage_parquet_folder(db, path, in_place)
    if os.path.getsize(path) == 0:
        raise LoadError(f"{os.path.basename(path)} is empty (0 bytes). Export it again, with its rows.")
    fmt, gz = sources.detect_format(path)
    if fmt == "parquet":
        return _stage_parquet(db, path, in_place)
    if fmt == "duckdb":
        return _stage_duckdb(db, path, table)
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


def _raw_in_place(db: Database, select_sql: str, files: list[str]) -> dict:
    """Make `raw` a view over Parquet files (a view takes no parameters: paths are quoted literals).

    Returns the info entries of a source read in place: its identity (each file's path, size and
    modification time), which names the data in cache keys instead of a hash of every row.
    """
    db.execute(f"CREATE OR REPLACE VIEW raw AS {select_sql}")
    identity = [(os.path.abspath(f), os.path.getsize(f), os.stat(f).st_mtime_ns) for f in files]
    return {"in_place": True, "identity": json.dumps(identity)}


def _private_copies(db: Database, files: list[str]) -> list[str] | None:
    """The database's private copies of Parquet files, in the files' order (ADR 0016), for `raw` to be a
    view over them: removed with the database, they stay readable (to map the columns again, and after
    :meth:`Database.lock_down`) whatever becomes of the files. None when the database has no private
    folder (then the rows are copied into a table)."""
    copies = []
    for i, f in enumerate(files):
        copy = db.keep_file_copy(f, f"source-{i:06d}.parquet")
        if copy is None:
            return None
        copies.append(copy)
    return copies


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join(quote_literal(f) for f in files) + "]"


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
    params = {"path": path, "columns": _varchar_columns(dialect.header), "delim": dialect.delimiter,
              "compression": "gzip" if gz else "none"}
    # The parsed rows are written once, as a Parquet file in the database's private folder, and `raw` is a
    # view over it, as for a Parquet source (ADR 0016, ADR 0021): 10M rows took 3.3 s to write this way and
    # 6.9 s into the database file. The file's columns are c0, c1, … (the header's names come back in the
    # view), and its row order is the file's, so its row number + 1 is the record number.
    copy = db.private_file("source-csv.parquet")
    if copy is not None:
        names = ", ".join(f"{quote_ident(c)} AS c{i}" for i, c in enumerate(dialect.header))
        numbered = (f"SELECT file_row_number + 1 AS __row_no, "
                    + ", ".join(f"c{i} AS {quote_ident(c)}" for i, c in enumerate(dialect.header))
                    + f" FROM read_parquet({quote_literal(copy)}, file_row_number=true)")
    else:  # a database opened from a path: into a table, whose insertion order is the file's
        numbered = "SELECT rowid + 1 AS __row_no, * FROM raw_rows"
    cur = db.cursor()  # DuckDB's reject tables are temporary: read and inspect them on one cursor
    try:
        cur.execute("DROP VIEW IF EXISTS raw")
        if copy is not None:
            cur.execute(f"COPY (SELECT {names} FROM {reader}) TO {quote_literal(copy)} (FORMAT parquet)", params)
        else:
            cur.execute(f"CREATE OR REPLACE TABLE raw_rows AS SELECT * FROM {reader}", params)
        cur.execute(f"CREATE VIEW raw AS {numbered}")
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
            _renumber_around_rejects(db, numbered)
    return {"format": "csv", "encoding": encoding, "delimiter": dialect.delimiter}


def _varchar_columns(names: list[str]) -> dict[str, str]:
    """A read_csv ``columns`` argument reading every column as text (IDs keep their leading zeros)."""
    return {c: "VARCHAR" for c in names}


def _renumber_around_rejects(db: Database, numbered: str) -> None:
    """Give loaded rows their record number in the source, skipping the numbers of rejected records
    (``numbered``: SQL of the kept records, ``__row_no`` their number among them, from 1).

    The i-th kept record is record ``i + #{rejected r_j : r_j - j < i}`` (r_j sorted, j from 1).
    """
    _create_raw(
        db,
        f"""
        WITH r AS (
            SELECT row_no - row_number() OVER (ORDER BY row_no) AS below, row_number() OVER (ORDER BY row_no) AS j
            FROM parser_rejects
        ), thresholds AS (SELECT below, max(j) AS j FROM r GROUP BY below),
        kept AS ({numbered})
        SELECT kept.* REPLACE (kept.__row_no + coalesce(t.j, 0) AS __row_no)
        FROM kept ASOF LEFT JOIN thresholds t ON kept.__row_no > t.below
        ORDER BY kept.__row_no
        """,
    )


def _stage_parquet_folder(db: Database, folder: str, in_place: bool = False) -> dict:
    """Every .parquet file under a folder, in path order; row numbers run on from file to file."""
    files = sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))
    if not files:
        raise LoadError(f"{folder} is a folder with no .parquet files. Pick a file, or a folder of Parquet files.")
    rows = dict(db.rows("SELECT file_name, num_rows FROM parquet_file_metadata($files)", {"files": files}))
    starts = [0, *itertools.accumulate(int(rows.get(f, 0)) for f in files[:-1])]
    cols = [c for c, _ in db.columns("read_parquet($files, union_by_name=true)", {"files": files})]
    renamed = sources.unique_names(cols)
    select = ", ".join(f"p.{quote_ident(c)} AS {quote_ident(r)}" for c, r in zip(cols, renamed))

    def reading(names: str, offsets: str) -> str:
        return f"""SELECT o.start + p.file_row_number + 1 AS __row_no, {select}
            FROM read_parquet({names}, union_by_name=true, filename=true, file_row_number=true) p
            JOIN (SELECT unnest({names}) AS filename, unnest({offsets}) AS start) o USING (filename)"""

    # a view takes no parameters: the paths and offsets of a view are literals
    offsets = "[" + ", ".join(map(str, starts)) + "]::BIGINT[]"
    info = {"format": "parquet folder", "encoding": None, "delimiter": None, "files": len(files)}
    if in_place:
        info.update(_raw_in_place(db, reading(_sql_list(files), offsets), files))
    elif (copies := _private_copies(db, files)) is not None:
        db.execute(f"CREATE OR REPLACE VIEW raw AS {reading(_sql_list(copies), offsets)}")
    else:
        _create_raw(db, reading("$files", "$starts") + " ORDER BY __row_no", {"files": files, "starts": starts})
    _create_parser_rejects(db, [])
    return info


def _stage_duckdb(db: Database, path: str, table: str | None) -> dict:
    """A table of another DuckDB database file, opened read-only; rows numbered in stored order."""
    db.execute(f"ATTACH {quote_literal(path)} AS journey_source (READ_ONLY)")  # ATTACH takes no parameters
    try:
        tables = [r[0] for r in db.rows(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'journey_source' ORDER BY 1")]
        if table is None:
            table = "events" if "events" in tables or len(tables) != 1 else tables[0]
        if table not in tables:
            listed = ", ".join(tables) if tables else "none"
            raise LoadError(f"{os.path.basename(path)} has no table {table!r} (its tables: {listed}). "
                            "Name the table to read.")
        source = f"journey_source.{quote_ident(table)}"
        _create_raw(db, f"SELECT row_number() OVER () AS __row_no, * FROM {source}")
    finally:
        db.execute("DETACH journey_source")
    _create_parser_rejects(db, [])
    return {"format": "duckdb", "encoding": None, "delimiter": None, "table": table}


def _stage_parquet(db: Database, path: str, in_place: bool = False) -> dict:
    # the path as a quoted literal, as in the view below: the load's first queries bind no parameter, so a
    # command line's load does not wait for pandas, which DuckDB's client imports at the first one (ADR 0013)
    cols = [c for c, _ in db.columns(f"read_parquet({quote_literal(path)})")]
    if not cols:
        raise LoadError(f"{os.path.basename(path)} has no columns.")
    renamed = sources.unique_names(cols)
    select = ", ".join(f"{quote_ident(c)} AS {quote_ident(r)}" for c, r in zip(cols, renamed))

    def reading(src: str) -> str:
        return f"SELECT file_row_number + 1 AS __row_no, {select} FROM read_parquet({src}, file_row_number=true)"

    # a view takes no parameters: the path of a view is a quoted literal
    info = {"format": "parquet", "encoding": None, "delimiter": None}
    if in_place:
        info.update(_raw_in_place(db, reading(quote_literal(path)), [path]))
    elif (copies := _private_copies(db, [path])) is not None:
        db.execute(f"CREATE OR REPLACE VIEW raw AS {reading(quote_literal(copies[0]))}")
    else:
        _create_raw(db, reading("$path"), {"path": path})
    _create_parser_rejects(db, [])
    return info


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
        raise LoadError(f"Could not read the Excel file {os.path.basename(path)}: {first_line(e)}") from e
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
