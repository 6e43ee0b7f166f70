"""The one door to DuckDB: databases, settings, ``run(sql, params)`` and identifier quoting.

No other module imports duckdb. Values always travel as bound parameters; identifiers go through
:func:`quote_ident` and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb

from .lazy import pandas as pd

DEFAULT_THREADS = max(1, os.cpu_count() or 1)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (column or table name) for DuckDB.

    >>> quote_ident('o"brien')
    '"o""brien"'
    """
    if not isinstance(name, str) or name == "":
        raise ValueError(f"An identifier must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise ValueError("An identifier cannot contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


def trim_sql(text_sql: str) -> str:
    """SQL for DuckDB's ``trim`` of a text expression, skipping the copy ``trim`` makes when it would change
    nothing: an ASCII value (as many bytes as characters) that neither starts nor ends with a space.

    DuckDB's ``trim`` removes Unicode space separators (U+0020, U+00A0, U+3000, …), of which the space is
    the only ASCII one, so the result is always ``trim(text)``. It is several times faster on clean
    columns (trim copies every value longer than 12 bytes).
    """
    x = text_sql
    return (f"(CASE WHEN strlen({x}) = length({x}) AND NOT prefix({x}, ' ') AND NOT suffix({x}, ' ') "
            f"THEN {x} ELSE trim({x}) END)")


def text_or_null_sql(text_sql: str) -> str:
    """SQL for ``nullif(trim(text), '')``, which :func:`trim_sql` would compute twice (``nullif`` repeats its
    argument), skipping both for an ASCII value that starts with a printable character other than the space
    and does not end with a space: ``trim`` leaves it as it is, and it is not empty.
    """
    x = text_sql
    return (f"(CASE WHEN strlen({x}) = length({x}) AND {x} >= '!' AND NOT suffix({x}, ' ') "
            f"THEN {x} ELSE nullif(trim({x}), '') END)")


def present_sql(text_sql: str) -> str:
    """SQL true when ``nullif(trim(text), '')`` is not NULL (the text has more than spaces), without trimming
    a value that starts with a printable ASCII character other than the space: ``trim`` keeps that
    character, so the result is not empty.

    A filter on a trimmed column is pushed into the file's scan, where DuckDB computes the trim again: for
    the 6.8M step events of a 10M-event log read in place, ``user_id IS NOT NULL`` on the trimmed user
    took 0.14 s of a 0.74 s query.
    """
    x = text_sql
    return f"({x} IS NOT NULL AND (({x} >= '!' AND {x} < chr(127)) OR trim({x}) <> ''))"


def quote_literal(text: str) -> str:
    """Quote a string as an SQL literal, for the few statements that take no parameters (ATTACH).

    >>> quote_literal("it's.duckdb")
    "'it''s.duckdb'"
    """
    if not isinstance(text, str) or "\x00" in text:
        raise ValueError(f"A literal must be a string without NUL characters, got {text!r}")
    return "'" + text.replace("'", "''") + "'"


# every Database not yet closed or collected (see close_all)
_OPEN: weakref.WeakSet = weakref.WeakSet()
# connections left open by a process about to end (see end_without_closing); None: every one is closed
_LEFT_OPEN: list | None = None


def close_all() -> None:
    """Close every Database of this process, for a process that ends without tearing the interpreter
    down (``python -m journey``), which would skip the finalizers that close them."""
    for db in list(_OPEN):
        db.close()


def end_without_closing() -> None:
    """For a process that ends with ``os._exit`` once its work is done (``python -m journey``): from now
    on, closing a Database removes its private folder but leaves its connection to the process's end.
    DuckDB's close (a checkpoint, and its memory handed back page by page) took 0.03 s at the end of a
    10M-event funnel, for memory the process's end frees at once."""
    global _LEFT_OPEN
    if _LEFT_OPEN is None:
        _LEFT_OPEN = []


def _cleanup(con: duckdb.DuckDBPyConnection, directory: str | None) -> None:
    if _LEFT_OPEN is not None:
        _LEFT_OPEN.append(con)  # referenced, so not closed by its destructor either
    else:
        try:
            con.close()
        except Exception:  # pragma: no cover - closing twice is harmless
            pass
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def _set_threads(con: duckdb.DuckDBPyConnection, n: int) -> None:
    cur = con.cursor()
    try:
        cur.execute(f"SET threads = {int(n)}")
    finally:
        cur.close()


def _used(sql: str, params: Sequence[Any] | Mapping[str, Any] | None):
    """Named parameters that the statement refers to (DuckDB refuses unused ones)."""
    if not params:
        return None
    if isinstance(params, Mapping):
        used = {k: v for k, v in params.items() if re.search(r"\$" + re.escape(k) + r"\b", sql)}
        return used or None
    return params


# a quoted text or identifier (skipped), or a named parameter
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_]\w*)")


def _as_variables(sql: str, names: set[str]) -> str:
    """``sql`` with each named parameter ``$name`` in ``names`` read as the session variable ``name``."""
    def swap(m: re.Match) -> str:
        return f"getvariable({quote_literal(m.group(1))})" if m.group(1) in names else m.group(0)
    return _TOKEN.sub(swap, sql)


class Database:
    """One DuckDB database file with its own connection.

    Each dataset (and each browser session's upload) gets its own Database, so nothing one holds is
    visible to another. By default the file lives in a private temporary directory that is removed
    when the Database is closed or garbage-collected.

    Parameters
    ----------
    path : str, optional
        A DuckDB database file to open. Default: a new file in a private temporary directory.
    memory_limit : str, optional
        DuckDB ``memory_limit`` (e.g. ``"4GB"``); above it DuckDB spills to ``temp_directory``.
    temp_limit : str, optional
        DuckDB ``max_temp_directory_size``: the most this database may spill to disk (e.g. ``"8GB"``).
    threads : int, optional
        Worker threads for DuckDB. Default: every core.
    read_only : bool
        Open an existing file read-only.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        memory_limit: str | None = None,
        temp_limit: str | None = None,
        threads: int | None = None,
        read_only: bool = False,
    ):
        self._owned_dir = None
        if path is None:
            self._owned_dir = tempfile.mkdtemp(prefix="journey-db-")
            path = os.path.join(self._owned_dir, "journey.duckdb")
        self.path = path
        self.temp_directory = os.path.join(self._owned_dir or tempfile.gettempdir(), "spill")
        # no FSST string compression: the events table is stored by user, so its users, sessions and orders
        # repeat within a block and the dictionary compresses them as well (10M events: 242 MB against
        # 238 MB), while FSST's encoding cost the load 0.5-0.7 s of 11.7 s and its decoding slowed scans of
        # those columns (the load report's distinct users, sessions and orders: 0.31 s -> 0.21 s)
        self._threads = threads or DEFAULT_THREADS
        self._resting = self._locked = False
        config: dict[str, Any] = {"threads": self._threads, "temp_directory": self.temp_directory,
                                  "disabled_compression_methods": "fsst"}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_limit:
            config["max_temp_directory_size"] = temp_limit
        self._con = duckdb.connect(path, read_only=read_only, config=config)
        self._lock = threading.Lock()
        self._frames: dict[str, Any] = {}
        self._kept: dict[Any, Any] = {}
        self._private_files: list[str] = []
        self._finalizer = weakref.finalize(self, _cleanup, self._con, self._owned_dir)
        _OPEN.add(self)

    def keep_file_copy(self, source: str, name: str) -> str | None:
        """Copy a file into this database's private folder and return the copy's path, which the database
        may read after :meth:`lock_down` and which is removed with the database; None for a database
        that has no private folder (one opened from a path), which must copy the data into a table.

        A Parquet source is read through a view over such a copy instead of being copied into a table:
        writing 10M rows into the database file took 6.9 s, copying the file under 0.1 s (ADR 0016).
        """
        target = self.private_file(name)
        if target is not None:
            shutil.copyfile(source, target)
        return target

    def private_file(self, name: str) -> str | None:
        """The path of a new file ``name`` in this database's private folder, for the caller to write, which
        the database may read after :meth:`lock_down` and which is removed with the database; None for a
        database that has no private folder (one opened from a path)."""
        if self._owned_dir is None:
            return None
        folder = os.path.join(self._owned_dir, "sources")
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, name)
        self._private_files.append(target)
        return target

    @property
    def file_copies(self) -> tuple[str, ...]:
        """The paths of the database's private files (:meth:`keep_file_copy`, :meth:`private_file`)."""
        return tuple(self._private_files)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on this database (one per call; safe across threads), with the kept frames visible."""
        if not self._finalizer.alive:
            raise RuntimeError("This database has been closed")
        if self._resting:
            self._wake_workers()
        cur = self._con.cursor()
        for name, frame in list(self._frames.items()):
            cur.register(name, frame)
        return cur

    def rest_workers(self) -> None:
        """Stop DuckDB's worker threads until the next query, which starts them again: for a caller about to
        work in numpy for a while. A worker idle for 0.5 s hands the process's freed memory back to the
        system (``malloc_trim``) while numpy is taking it again, and takes a core to do so: with the
        workers resting through the step events' numbering and evaluation, the 10M-event CLI funnel's
        system time went 0.69 s -> 0.59 s and its median 1.83 s -> 1.77 s (fifteen alternated runs).
        A locked database (:meth:`lock_down`) keeps its settings, and so its workers."""
        if self._threads > 1 and not self._locked:
            with self._lock:
                if not self._resting:
                    _set_threads(self._con, 1)
                    self._resting = True

    def _wake_workers(self) -> None:
        with self._lock:
            if self._resting:
                _set_threads(self._con, self._threads)
                self._resting = False

    def keep_frame(self, name: str, frame: Any, most: int = 8) -> None:
        """Make an Arrow table or DataFrame readable by name from every later query, without copying it.

        The ``most`` latest frames are kept; older ones are forgotten.
        """
        with self._lock:
            self._frames.pop(name, None)
            self._frames[name] = frame
            while len(self._frames) > most:
                self._frames.pop(next(iter(self._frames)))

    def frame(self, name: str) -> Any:
        """The frame kept as ``name`` (:meth:`keep_frame`), None when it is no longer kept."""
        return self._frames.get(name)

    def has_frame(self, name: str) -> bool:
        """True while a frame kept by :meth:`keep_frame` is still kept."""
        return name in self._frames

    def remember(self, key: Any, compute: Callable[[], Any], most: int = 4) -> Any:
        """``compute()``, kept for the next call with the same ``key`` (the ``most`` latest are kept).

        For results in numpy that later calls reuse (the steps of a Sankey, then the users of a node).
        """
        with self._lock:
            if key in self._kept:
                self._kept[key] = self._kept.pop(key)
                return self._kept[key]
        value = compute()
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > most:
                self._kept.pop(next(iter(self._kept)))
        return value

    def run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one statement with bound parameters and return the result as a DataFrame."""
        cur = self.cursor()
        try:
            return cur.execute(sql, _used(sql, params)).df()
        finally:
            cur.close()

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None, ordered: bool = True) -> Any:
        """Run one query and return its result as an Arrow table, converted on every thread.

        A prepared statement's result is converted to Arrow on one thread, which took longer than the
        query itself for millions of rows (2.8 s against 1.6 s for the 6.8M step events of a 10M-event
        funnel). A relation's is converted in parallel, but a relation takes no bound parameters (and
        binding them through ``sql(params=…)`` was 20 × slower), so each parameter is bound as a
        session variable of this call's own cursor and read with ``getvariable``: values still never
        enter the SQL text. The rows come in the same order as from :meth:`run`, unless not ``ordered``:
        then in the order DuckDB's threads finish them, as this cursor's own setting (DuckDB then does not
        hold every row a second time to put them back in order: 6.8M rows, 148k page faults -> 83k).
        """
        used = _used(sql, params) or {}
        cur = self.cursor()
        try:
            if not ordered and not self._locked:  # a locked database keeps its settings: rows in order
                cur.execute("SET SESSION preserve_insertion_order = false")
            for name, value in used.items():
                cur.execute(f"SET VARIABLE {quote_ident(name)} = $value", {"value": value})
            return cur.sql(_as_variables(sql, set(used))).fetch_arrow_table()
        finally:
            cur.close()

    def rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple]:
        """Run one statement and return its rows as tuples."""
        cur = self.cursor()
        try:
            return cur.execute(sql, _used(sql, params)).fetchall()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """Run one statement and return the first column of its first row (None when empty)."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        """Run one statement for its effect."""
        cur = self.cursor()
        try:
            cur.execute(sql, _used(sql, params))
        finally:
            cur.close()

    def register(self, name: str, df: pd.DataFrame) -> None:
        """Copy a pandas DataFrame into a table of this database."""
        cur = self.cursor()
        try:
            cur.register("__journey_frame", df)
            cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM __journey_frame")
            cur.unregister("__journey_frame")
        finally:
            cur.close()

    def columns(self, table: str, params: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
        """(name, type) of each column of a table, a table function call or a ``(SELECT …)``."""
        cur = self.cursor()
        try:
            cur.execute(f"DESCRIBE SELECT * FROM {table}", _used(table, params))
            return [(row[0], str(row[1])) for row in cur.fetchall()]
        finally:
            cur.close()

    def lock_down(self) -> None:
        """Forbid file and network access from SQL from now on, and freeze the settings (hosted mode).

        The database's own copies of its sources (:meth:`keep_file_copy`) stay readable.
        """
        if self._private_files:
            self.execute("SET allowed_paths = $paths", {"paths": list(self._private_files)})
        self.execute("SET enable_external_access = false")
        self.execute("SET lock_configuration = true")
        self._locked = True

    def close(self) -> None:
        """Close the connection and remove the temporary file, if this Database made one."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


def is_duckdb_error(exc: BaseException) -> bool:
    """True when an exception came from DuckDB (so callers need not import duckdb)."""
    return isinstance(exc, duckdb.Error)
