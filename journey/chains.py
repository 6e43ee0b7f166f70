"""Ordered, strict and any-order funnels in one pass over each unit's events (ADR 0010).

DuckDB hands over the step and exclusion events (every event, for a strict funnel) of the filtered log
as Arrow columns, in the order the events table is stored (user, time, row), which is checked, not
assumed (a log read in place comes in file order and is sorted here, ADR 0015); numpy then follows every
chain at once, in one thread per core for larger logs. For each step-1 event the earliest next event of
each following step is found with a "next occurrence" array per step (a reversed running minimum), so a
4-step funnel over millions of events is a handful of vector operations instead of one ASOF join per step.
The result, one row per unit with the same columns as the SQL version, is kept in the log's database as an
Arrow table readable by name (``Database.keep_frame``, the latest 8 kept), so the funnel, people and
time-to-convert queries run on it unchanged.

Semantics are those of ``journey.funnel`` (DESIGN.md, "Step funnels"): a chain takes from its start the
earliest next event of each step in event order (time, then row); it reaches step k when its k-th event
is within the window of its start and no excluded event lies between its start and that event; a unit's
level is the best over its starts, and its times are those of the earliest chain reaching each step.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .engine import quote_ident
from .lazy import pandas as pd
from .log import EventLog
from .resident import Held, groups, held, mask

# the fetched events are followed in up to PARTS threads, one per core, once there are SPLIT_FROM of them
# (fewer are done before a thread would start)
PARTS = 2
SPLIT_FROM = 200_000
# a strict funnel holds every event of the log in memory, not only its steps: over this many events the
# window SQL follows it instead, which DuckDB spills to disk (see in_one_pass)
STRICT_AT_ONCE = 20_000_000


def _fetch(log: EventLog, names: list[str], unit: str, by: str | None, every: bool = False) -> pa.Table:
    """The events named in ``names``, with ``e`` their index in it, in the stored order (with ``every``, all
    the events, ``e`` -1 for the others: a strict funnel looks at the events next to each other).

    The events table is stored in (unit, time, row) order. A log read in place comes in file order, with
    ``h``, the unit's hash (computed by DuckDB on both cores), from which :func:`_in_order` numbers the
    units and sorts in numpy: about 0.6 s for 7M events, where DuckDB's sort took 1.3 s. DuckDB hands them
    over in the order its threads finish them, put back in file order by :func:`_in_row_order` (the order
    is checked where it is used). Its rows whose time could not be read come through with ``t`` NULL and
    are dropped here, so each time is parsed once.
    """
    rel, params = log.source(sessions=unit == "sessions", checked=False)
    key = "user_id" if unit == "users" else "user_id || chr(31) || session_id"
    grp = f", CAST({quote_ident(by)} AS VARCHAR) AS grp" if by else ""
    hashed = f", hash({key}) AS h" if log.in_place else ""
    if unit == "sessions" and not log.in_place:
        hashed = f", hash({key}) AS kh"  # see _one_run_per_unit
    sql = (f"SELECT {key} AS k, epoch_us(ts) AS t, row_no AS r{hashed}, "
           f"CAST(coalesce(list_position($names, event), 0) - 1 AS TINYINT) AS e {grp} "
           f"FROM {rel} e" + ("" if every else " WHERE list_contains($names, event)"))
    table = log.db.arrow(sql, {**params, "names": names}, ordered=not log.in_place)
    if log.in_place:
        table = _in_row_order(table)
    if table.column("t").null_count:
        table = table.filter(pc.is_valid(table.column("t")))
    return table


MOST_STRETCHES = 100_000


def _in_row_order(table: pa.Table) -> pa.Table:
    """The table's rows in the order of their row numbers ``r``, without copying any: as slices of its batches.

    DuckDB's threads each read stretches of the file (row groups) in file order and fill batches with
    them, so each batch's ``r`` increases and the batches interleave in long stretches (the 6.8M step
    events of a 10M-event file: 8 batches, 16 stretches). They are merged stretch by stretch: the batch with
    the lowest next row gives its rows up to the next row of any other batch. Batches that do not each
    increase, or that would need more than :data:`MOST_STRETCHES` slices, are returned as they came,
    and :func:`_in_order` sorts them by row."""
    batches = [b for b in table.to_batches() if b.num_rows]
    rows = [b.column("r").to_numpy() for b in batches]
    if any(r.dtype.kind not in "iu" or (r[1:] <= r[:-1]).any() for r in rows):
        return table
    at = [0] * len(batches)
    stretches = []
    while len(stretches) <= MOST_STRETCHES:
        live = [i for i in range(len(batches)) if at[i] < len(rows[i])]
        if not live:
            return pa.Table.from_batches(stretches, schema=table.schema)
        live.sort(key=lambda i: rows[i][at[i]])
        i = live[0]
        end = len(rows[i]) if len(live) == 1 else int(np.searchsorted(rows[i], rows[live[1]][at[live[1]]]))
        stretches.append(batches[i].slice(at[i], end - at[i]))
        at[i] = end
    return table


class _Events:
    """Fetched events in (unit, time, row) order: times and event numbers as arrays, other columns taken
    on demand (``full`` holds columns of the whole table already converted to numpy, shared by parts)."""

    def __init__(self, table: pa.Table, order: np.ndarray | None, unit_no: np.ndarray,
                 full: dict[str, np.ndarray] | None = None, ids_from_hashes: bool = False):
        self.table, self.order, self.unit_no = table, order, unit_no
        self._full = full if full is not None else {}
        self.t, self.e = self._numbers("t"), self._numbers("e")
        # the units were told apart by hash, length and tail (_one_id_per_code): their ids are read back
        self.ids_from_hashes = ids_from_hashes

    def _column(self, name: str) -> np.ndarray:
        return _as_numpy(self.table, self._full, name)

    def _numbers(self, name: str) -> np.ndarray:
        values = self._column(name)
        return values if self.order is None else values[self.order]

    @functools.cached_property
    def r(self) -> np.ndarray:
        """Every event's row number (gathered at first use: most callers want a few, see :meth:`rows`)."""
        return self._numbers("r")

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The row numbers of the events at the given positions."""
        if "r" in self.__dict__:
            return self.r[positions]
        if self.order is None and "r" not in self._full:  # rows of the stored table: only these converted
            return self.table.column("r").take(pa.array(positions)).to_numpy()
        return self._column("r")[positions if self.order is None else self.order[positions]]

    def text(self, name: str, positions: np.ndarray) -> pa.Array:
        """Column ``name`` at the given positions of the ordered events (user ids of up to 16 bytes are
        read back from their hashes, see :func:`short_texts_of_hashes`: Arrow's gather from the table's chunks
        took 56 ms for 675k ids)."""
        rows = positions if self.order is None else self.order[positions]
        if name == "k" and self.ids_from_hashes:
            lengths, tails = self._full["short_ids"]
            return short_texts_of_hashes(self._column("h")[rows], lengths[rows],
                                         None if tails is None else tails[rows])
        return self.table.column(name).take(pa.array(rows))

    def split(self, n: int) -> list[_Events]:
        """The events in at most ``n`` parts of about equal size, each unit's events in one part."""
        parts = []
        for a, b in unit_ranges(self.unit_no, n):
            part = copy.copy(self)
            part.t, part.e, part.unit_no = self.t[a:b], self.e[a:b], self.unit_no[a:b]
            part.__dict__.pop("r", None)
            self._narrow(part, a, b)
            parts.append(part)
        return parts

    def _narrow(self, part: _Events, a: int, b: int) -> None:
        """Point ``part``, a copy of these events cut to positions ``a`` … ``b - 1``, at its own rows."""
        if self.order is None:  # in stored order: the part's rows are a slice (no copy)
            part.table, part._full = self.table.slice(a, b - a), {}
        else:
            part.order = self.order[a:b]


class _HeldEvents(_Events):
    """Events picked from a loaded log's events held in memory (``journey.resident``), in their stored
    order: those at the positions ``at`` there (None: every one), ``e`` numbering every held event."""

    def __init__(self, held: Held, at: np.ndarray | None, e: np.ndarray,
                 grp: tuple[np.ndarray, pa.Array] | None = None, base: int = 0):
        self.held, self.at, self.grp, self.base, self.order = held, at, grp, base, None
        if at is None:
            self.t, self.e, self.unit_no = held.t, e, held.user
        else:
            self.t, self.e, self.unit_no = held.t[at], e[at], held.user[at]

    def _held_positions(self, positions: np.ndarray) -> np.ndarray:
        return positions + self.base if self.at is None else self.at[positions]

    @functools.cached_property
    def r(self) -> np.ndarray:
        return self.held.r[self._held_positions(np.arange(len(self.t)))]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        return self.held.r[self._held_positions(positions)]

    def text(self, name: str, positions: np.ndarray) -> pa.Array:
        if name == "grp" and self.grp is not None:
            codes, values = self.grp
            return values.take(pa.array(codes[self._held_positions(positions)]))
        if name != "k":
            raise ValueError(f"{name!r} is not held")
        return self.held.user_ids.take(pa.array(self.unit_no[positions]))

    def _narrow(self, part: _Events, a: int, b: int) -> None:
        if self.at is None:
            part.base = self.base + a
        else:
            part.at = self.at[a:b]


def _held_parts(log: EventLog, names: list[str], unit: str, by: str | None, every: bool) -> list[_Events] | None:
    """The events :func:`_fetch` would read, picked from the log's events held in memory, in parts as
    :func:`_parts` makes them; None when they are not held, or the funnel is by session, or its breakdown
    has too many values to be held (those are read from DuckDB)."""
    held_events = held(log)
    if held_events is None or unit != "users":
        return None
    grp = groups(log, held_events, by) if by else None
    if by and grp is None:
        return None
    e = held_events.codes(names)
    keep = mask(log, held_events)
    if not every:
        keep = e >= 0 if keep is None else keep & (e >= 0)
    at = None if keep is None else np.flatnonzero(keep).astype(_index_type(len(e)))
    events = _HeldEvents(held_events, at, e, grp)
    return events.split(part_count(len(events.t))) if len(events.t) else [events]


def _in_order(table: pa.Table, rows: np.ndarray | None = None, full: dict[str, np.ndarray] | None = None
              ) -> _Events:
    """The rows (or those of ``table`` at the positions ``rows``) in (unit, time, row) order and each
    row's unit number (0, 1, …), sorting only if needed.

    Rows that come with ``h``, their unit's hash (a log read in place, in file order), are always sorted;
    others (the events table, stored in that order) only when the check finds them out of order.
    ``full``: the table's columns already converted to numpy (by :func:`_parts`, once for every part).
    """
    full = full if full is not None else {}
    k = table.column("k")  # in chunks: combined only to sort (a copy of every text)
    n = len(k) if rows is None else len(rows)
    if not n:
        return _Events(table, np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int32), full)
    # rows that come in row order (a file read in place) need no row key: lexsort is stable; if their times
    # never decrease either (a file in time order, as exports come), a stable sort by unit alone is the
    # (unit, time, row) order, and counting the units' rows sorts in linear time (the checks are made
    # once on the whole table, true of every part of it)
    in_row_order = "h" in table.column_names and _increasing(table, full, "r", strictly=True)
    by_unit_alone = in_row_order and _increasing(table, full, "t", strictly=False)

    def at_rows(name: str) -> np.ndarray:
        values = _as_numpy(table, full, name)
        return values if rows is None else values[rows]

    if "h" not in table.column_names and rows is None:
        change = _starts_of_runs(pc.not_equal(k[1:], k[:-1]).to_numpy(zero_copy_only=False))
        if _later_within_runs(table, full, change) and _one_run_per_unit(table, k, np.flatnonzero(change)):
            return _Events(table, None, _run_numbers(change), full)

    def grouped(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions (in ``table``) in (unit, time, row) order, and each one's unit number."""
        if by_unit_alone:
            order, sizes = _grouped(codes)
            unit_no = np.repeat(np.arange(len(sizes), dtype=_index_type(n)), sizes)
        else:
            order = np.lexsort((at_rows("t"), codes) if in_row_order else (at_rows("r"), at_rows("t"), codes))
            codes = codes[order]
            unit_no = _run_numbers(_starts_of_runs(codes[1:] != codes[:-1]))
        return order if rows is None else rows[order], unit_no

    if "h" in table.column_names:
        # numbering the 64-bit hashes took 0.25 s for 7M events, Arrow's dictionary encoding of the text
        # 0.6 s; the hash numbers are kept only when each unit so formed has one text (two units sharing a
        # hash would otherwise be one), else the text is encoded: exact either way. Ids of at most 16 bytes
        # need only their lengths and bytes past the 8th compared (see _short_ids), not the whole ids.
        h = _as_numpy(table, full, "h")
        codes = pd.factorize(h if rows is None else h[rows])[0]
        order, unit_no = grouped(codes)
        if _one_id_per_code(table, full, rows, codes):
            return _Events(table, order, unit_no, full, ids_from_hashes=True)
        if _one_text_per_run(_one_chunk(k).take(pa.array(order)), unit_no):
            return _Events(table, order, unit_no, full)
    k = _one_chunk(k)
    codes = pc.dictionary_encode(k if rows is None else k.take(pa.array(rows))).indices.to_numpy(zero_copy_only=False)
    return _Events(table, *grouped(codes), full)


# DuckDB's hash of a text of 1 to 16 bytes (``Hash(string_t)`` in its hash.cpp): with L the byte length and
# w1, w2 its bytes 0-7 and 8-15 read as little-endian words, zero-padded (w2 only past 8 bytes),
#     h = SEED ^ L * LENGTH_MIX;  h = (h ^ w1) * MIX;  [h = (h ^ w2) * MIX;]  hash = murmur(h)
# where murmur is its MurmurHash64 finaliser. For a given L and w2, w1 -> hash is a bijection: an xor
# with a constant, a multiplication by an odd number, and murmur's xor-shifts by 32 bits and odd
# multiplications are each undone exactly. Two different ids with the same length (at most 16 bytes)
# and the same bytes past the 8th therefore never share a hash: the length and those bytes (the "tail")
# are compared instead of the whole id, and the id is read back from the three.
LONGEST_HASHED_ID = 16
_MASK = (1 << 64) - 1
_SEED, _LENGTH_MIX, _MIX = 0xE17A1465, 0xC6A4A7935BD1E995, 0xD6E8FEB86659FD93
_MIX_INVERSE = pow(_MIX, -1, 1 << 64)


def duckdb_hash_of_short_text(data: bytes) -> int:
    """DuckDB's ``hash()`` of a text of 1 to 16 bytes, computed as DuckDB does (the formula above)."""
    h = _SEED ^ ((len(data) * _LENGTH_MIX) & _MASK)
    for block in (data[:8], data[8:16]) if len(data) > 8 else (data,):
        h = ((h ^ int.from_bytes(block.ljust(8, b"\0"), "little")) * _MIX) & _MASK
    for _ in range(2):
        h ^= h >> 32
        h = (h * _MIX) & _MASK
    return h ^ (h >> 32)


def short_texts_of_hashes(h: np.ndarray, lengths: np.ndarray, tails: np.ndarray | None = None) -> pa.Array:
    """The texts of 1 to 16 bytes whose DuckDB hashes are ``h``, byte lengths ``lengths`` and bytes past
    the 8th ``tails`` (a little-endian word each; None when no text is longer than 8 bytes): the formula
    above undone. Exact for hashes of such texts, as :func:`_short_ids` checks them."""
    x = h.astype(np.uint64, copy=True)
    mix_inverse = np.uint64(_MIX_INVERSE)
    for _ in range(2):  # murmur undone: each xor-shift by 32 bits is its own inverse
        x ^= x >> np.uint64(32)
        x *= mix_inverse
    x ^= x >> np.uint64(32)
    if tails is not None:  # the second word's step undone where there is one
        long = lengths > 8
        x[long] = (x[long] * mix_inverse) ^ tails[long]
    x *= mix_inverse
    x ^= np.uint64(_SEED) ^ (lengths.astype(np.uint64) * np.uint64(_LENGTH_MIX))
    words = np.stack([x, tails if tails is not None else np.zeros_like(x)], axis=1)
    if sys.byteorder != "little":
        words = words.byteswap()
    kept = np.arange(16, dtype=np.uint8) < lengths[:, None]
    data = words.view(np.uint8).reshape(-1, 16)[kept]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data))


SAMPLE_OF_HASHES = 64


def _short_ids(table: pa.Table, full: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Each row's user id (``k``) length in bytes and its bytes past the 8th as a word (None when no id is
    longer than 8 bytes), when every id is 1 to 16 bytes long and DuckDB's hash ``h`` of the ids is the
    formula above (checked on up to :data:`SAMPLE_OF_HASHES` rows spread over the table: another DuckDB
    hashing otherwise would differ on nearly every one); else None. Read from the Arrow buffers, without
    copying any id; kept in ``full``."""
    if "short_ids" not in full:
        full["short_ids"] = _lengths_and_tails(table.column("k"), table.column("h"))
    return full["short_ids"]


def _lengths_and_tails(k: pa.ChunkedArray, h: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None] | None:
    lengths, tails = [], []
    for chunk in k.chunks:
        if chunk.type != pa.string() or chunk.null_count:
            return None
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
        size = np.diff(offsets)
        if len(size) and (size.min() < 1 or size.max() > LONGEST_HASHED_ID):
            return None
        lengths.append(size.astype(np.uint8))
        tails.append(_tails(chunk.buffers()[2], offsets[:-1], size))
    count = len(k)
    for at in np.unique(np.linspace(0, count - 1, min(count, SAMPLE_OF_HASHES)).astype(np.int64)):
        if duckdb_hash_of_short_text(k[int(at)].as_py().encode()) != h[int(at)].as_py():
            return None
    if not lengths:
        return np.zeros(0, dtype=np.uint8), None
    every_tail = None
    if any(t is not None for t in tails):
        every_tail = np.concatenate([t if t is not None else np.zeros(len(n), np.uint64)
                                     for t, n in zip(tails, lengths)])
    return np.concatenate(lengths), every_tail


def _tails(data: pa.Buffer, starts: np.ndarray, size: np.ndarray) -> np.ndarray | None:
    """Of texts of 1 to 16 bytes at ``starts`` in ``data``, the bytes past the 8th as a little-endian word
    (0 for texts of at most 8 bytes); None when none is longer. Each long text's last 8 bytes are read
    in place (inside the text, so never past the buffer) and shifted down, as DuckDB itself reads them."""
    long = np.flatnonzero(size > 8)
    if not len(long):
        return None
    words = np.ndarray(shape=(data.size - 7,), dtype="<u8", buffer=data, strides=(1,))  # one per byte
    end = starts[long].astype(np.int64) + size[long]
    tails = np.zeros(len(size), dtype=np.uint64)
    tails[long] = words[end - 8] >> ((16 - size[long]).astype(np.uint64) * np.uint64(8))
    return tails


def _one_id_per_code(table: pa.Table, full: dict[str, np.ndarray], rows: np.ndarray | None,
                     codes: np.ndarray) -> bool:
    """Whether the rows (those at ``rows``) numbered alike by their hash (``codes``) have user ids of one
    length of at most 16 bytes and the same bytes past the 8th: then the ids are equal too (see
    :func:`duckdb_hash_of_short_text`)."""
    short = _short_ids(table, full)
    if short is None:
        return False
    if not len(codes):
        return True
    for values in short:
        if values is None:
            continue
        if rows is not None:
            values = values[rows]
        first = np.zeros(int(codes.max()) + 1, dtype=values.dtype)
        first[codes] = values  # of repeated codes, one row's value is kept: any other must equal it
        if not (first[codes] == values).all():
            return False
    return True


def _later_within_runs(table: pa.Table, full: dict[str, np.ndarray], starts: np.ndarray) -> bool:
    """Whether each row comes after the one before it in its run (``starts``: where runs start): a later
    time, or the same time and a later row. Row numbers are looked at only where times tie, not converted
    all (a copy of 54 MB for 6.8M events, the first touch of which is most of its cost)."""
    t = _as_numpy(table, full, "t")
    inside = ~starts[1:]
    if (inside & (t[1:] < t[:-1])).any():
        return False
    ties = np.flatnonzero(inside & (t[1:] == t[:-1]))
    if not len(ties):
        return True
    r = table.column("r")
    return bool((r.take(pa.array(ties + 1)).to_numpy() > r.take(pa.array(ties)).to_numpy()).all())


def _one_text_per_run(texts: pa.Array, run: np.ndarray) -> bool:
    """Whether neighbours of the same run (``run``, nondecreasing) have equal ``texts``."""
    equal = pc.equal(texts[1:], texts[:-1])
    if equal.null_count:  # a missing text equals nothing here: such units are told apart by their text
        equal = pc.fill_null(equal, False)
    return not ((run[1:] == run[:-1]) & ~equal.to_numpy(zero_copy_only=False)).any()


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The values as one array (combining chunks copies, even a single chunk: 55 ms for 7M user ids)."""
    if not isinstance(values, pa.ChunkedArray):
        return values
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _grouped(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of ``codes`` (numbers 0 … m - 1) in a stable sort by code (a counting sort), and the
    number of positions of each code present, in code order."""
    from pandas._libs.algos import groupsort_indexer  # pandas' own group-by sort

    order, counts = groupsort_indexer(codes.astype(np.intp, copy=False), int(codes.max()) + 1)
    sizes = counts[1:]  # counts[0] is of the code -1, which none has
    return order, sizes[sizes > 0]


def _as_numpy(table: pa.Table, full: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Column ``name`` of ``table`` as numpy, converted once and kept in ``full`` (the table comes in
    chunks, so each conversion is a copy)."""
    if name not in full:
        full[name] = table.column(name).to_numpy()
    return full[name]


def _increasing(table: pa.Table, full: dict[str, np.ndarray], name: str, strictly: bool) -> bool:
    """Whether column ``name`` of the whole table increases (never decreases, unless ``strictly``), checked
    once per table and kept in ``full``."""
    key = f"{name}_increases" if strictly else f"{name}_never_decreases"
    if key not in full:
        v = _as_numpy(table, full, name)
        full[key] = np.array(bool((v[1:] > v[:-1]).all() if strictly else (v[1:] >= v[:-1]).all()))
    return bool(full[key])


def _one_run_per_unit(table: pa.Table, k: pa.Array, starts: np.ndarray) -> bool:
    """Whether no unit's events are split over two runs, given where the runs of equal ``k`` start.

    In the events table, stored by user, the runs' keys must differ: they strictly increase for users.
    A session's key (user, separator, session id) need not (``u#10`` sorts before ``u#2``); then its
    hash (``kh``) comes along, and runs whose hashes all differ have keys that all differ (counting
    distinct text took 2 s for 2M sessions). When two runs share a hash (one session split in two, or a
    collision) the caller sorts: always correct.
    """
    if len(starts) < 2:
        return True
    keys = k.take(pa.array(starts))
    if pc.all(pc.less(keys[:-1], keys[1:])).as_py():
        return True
    if "kh" not in table.column_names:
        return False
    kh = np.sort(table.column("kh").to_numpy()[starts])  # (np.unique hashes: 3 s for 2M sessions)
    return bool((kh[1:] != kh[:-1]).all())


def _starts_of_runs(differs_from_previous: np.ndarray) -> np.ndarray:
    """True where a run starts, given for each row but the first whether it differs from the one before."""
    return np.r_[True, differs_from_previous]


def _run_numbers(starts: np.ndarray) -> np.ndarray:
    """Each row's run number (0, 1, …), given where runs start; in 32 bits when they fit (a cumulative sum
    in 64 bits of a boolean array took ten times as long)."""
    return np.cumsum(starts, dtype=_index_type(len(starts))) - 1


def _first_per_run(positions: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Of increasing ``positions``, the first in each run of equal ``run[positions]``."""
    if not len(positions):
        return positions
    runs = run[positions]
    return positions[np.r_[True, runs[1:] != runs[:-1]]]


def _read(log: EventLog, names: list[str], steps: list[str], exclude: list[str], unit: str,
          by: str | None, every: bool = False) -> list[_Events]:
    """The events named in ``names`` (with ``every``, all the events) in (unit, time, row) order, as parts
    with no unit in two of them (see :func:`_parts`); raises when a step or exclusion is not an event of
    the filtered log (or there is no event at all)."""
    parts = _held_parts(log, names, unit, by, every)
    if parts is None:
        table = _fetch(log, names, unit, by, every)
        log.db.rest_workers()  # numpy from here until the next query (see Database.rest_workers)
        parts = _parts(table)
    # every name present? one comparison per name, up to the first part that has it (counting every part's
    # codes took 70 ms for 6.8M step events)
    if not all(any((p.e == code).any() for p in parts) for code in range(len(names))):
        from .funnel import check_known_events  # funnel.py imports this module

        check_known_events(log, steps, exclude)
    return parts


def _parts(table: pa.Table, most: int | None = None) -> list[_Events]:
    """The fetched events in order, in at most ``most`` parts (default: as many as there are cores, up to
    :data:`PARTS`, once there are :data:`SPLIT_FROM` events), for :func:`_in_threads`.

    Rows read in place are split by their unit's hash (modulo the parts) before they are sorted, so the
    parts sort at once; the events table's rows, already in order, are split at unit boundaries.
    """
    n = part_count(table.num_rows, most)
    if n == 1:
        return [_in_order(table)]
    if "h" in table.column_names:
        full: dict[str, np.ndarray] = {}
        # converted once here, not in each part's thread, and at the same time: each is a copy of the
        # table's chunks, into memory the system maps afresh (3 columns and the user ids: 0.02-0.17 s
        # one after the other at 10M events, depending on how soon the system hands the memory over)
        # the user ids are combined into one array only when they are to be compared (see _in_order)
        def convert(name: str):
            if name != "k":
                return _as_numpy(table, full, name)
            return None if _short_ids(table, full) is not None else _one_chunk(table.column("k"))

        *_, k = _in_threads(convert, ["t", "h", "r", "k"])  # the numbers are kept in ``full``
        if k is not None:
            table = table.set_column(table.column_names.index("k"), "k", pa.chunked_array([k]))
        if _increasing(table, full, "r", strictly=True):
            _increasing(table, full, "t", strictly=False)
        part = _hash_parts(full["h"], n)
        return _in_threads(lambda i: _in_order(table, np.flatnonzero(part == i), full), range(n))
    return _in_order(table).split(n)


def unit_ranges(unit_no: np.ndarray, n: int) -> list[tuple[int, int]]:
    """At most ``n`` ranges ``(start, end)`` of positions of about equal size, cut where the unit changes
    (``unit_no`` nondecreasing), none empty."""
    size = len(unit_no)
    bounds = np.searchsorted(unit_no, unit_no[size * np.arange(1, n) // n]) if size else np.zeros(0, np.intp)
    return [(int(a), int(b)) for a, b in zip(np.r_[0, bounds], np.r_[bounds, size]) if b > a]


def part_count(size: int, most: int | None = None) -> int:
    """In how many parts ``size`` events are followed: at most ``most`` (default: one per core, up to
    :data:`PARTS`, once there are :data:`SPLIT_FROM` events), at least one, never more than the events."""
    if most is None:
        most = min(PARTS, os.cpu_count() or 1) if size >= SPLIT_FROM else 1
    return max(1, min(most, size))


def _hash_parts(h: np.ndarray, n: int) -> np.ndarray:
    """Each hash's part of ``n``: the hash modulo ``n``. For a power of two up to 256 that is the low
    bits of the hash's lowest byte, read in place (a mask of the whole hash, as wide as the hash, was 5 ×
    faster than the modulo; this writes an eighth of its memory)."""
    if n & (n - 1) == 0 and n <= 256:
        low = h.view(np.uint8)[:: h.itemsize] if sys.byteorder == "little" else h.view(np.uint8)[h.itemsize - 1:: h.itemsize]
        return low & np.uint8(n - 1)
    return h % np.uint64(n)


def _in_threads(work, items) -> list:
    """``work`` on each item, in threads (numpy, pandas and Arrow let go of the interpreter while they
    work), in the items' order."""
    items = list(items)
    if len(items) == 1:
        return [work(items[0])]
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(work, items))


def _index_type(size: int) -> type:
    """The integer type of positions among ``size`` events: 32 bits when they fit."""
    return np.int32 if size < 2**31 - 1 else np.int64


def _past_the_end(events: _Events) -> tuple[np.ndarray, np.ndarray]:
    """Each position's unit and time, with one more position, ``len(events.t)``, standing for "none": it
    belongs to no unit and lies beyond every window, so a chain reaching it stops without a separate test."""
    return np.r_[events.unit_no, -1], np.r_[events.t, np.iinfo(np.int64).max]


def _evaluate(events: _Events, names: list[str], steps: list[str], window: float, exclude: list[str]):
    """Follow every chain of one part of the events (``e`` numbers them in ``names``): (start positions,
    chain positions per step, level per start, unit per start)."""
    n = len(steps)
    t, e = events.t, events.e
    size = len(t)
    xcount = np.cumsum(np.isin(e, [names.index(x) for x in exclude])) if exclude else None
    index_type = _index_type(size)
    # where each later step's events are, in order, ending with the position "none" (see _past_the_end)
    where = {code: np.r_[np.flatnonzero(e == code), size].astype(index_type)
             for code in {names.index(s) for s in steps[1:]}}
    unit_at, t_at = _past_the_end(events)
    x_at = np.r_[xcount, -1] if xcount is not None else None

    window_us = window * 1e6
    start = np.flatnonzero(e == names.index(steps[0])).astype(index_type)
    owner = events.unit_no[start]
    chain = [start]
    level = np.ones(len(start), dtype=np.int8)  # at most 20 steps: 8 bits, an eighth of the memory to touch
    going = np.arange(len(start), dtype=index_type)  # the starts whose chain reached the last step followed
    for i in range(1, n):
        pos = where[names.index(steps[i])]
        here = chain[-1][going]
        # each chain's next event of step i: the first of the step's positions after where it is
        c = pos[np.minimum(np.searchsorted(pos, here, side="right"), len(pos) - 1)]
        begin = start[going]
        ok = (unit_at[c] == owner[going]) & ((t_at[c] - t[begin]) <= window_us)
        if x_at is not None:
            ok &= x_at[c] == x_at[begin]
        going = going[ok]
        level[going] += 1
        reached = np.full(len(start), size, dtype=index_type)
        reached[going] = c[ok]
        chain.append(reached)
    return start, chain, level, owner


def _evaluate_any(events: _Events, names: list[str], steps: list[str], window: float, exclude: list[str]):
    """Every any-order start, as :func:`_evaluate` returns ordered chains, keeping the starts that reach step 1.

    Semantics of ``journey.funnel`` (DESIGN.md): every event of a step may start; from it, the first event
    of each step at or after it (in event order) is taken; the first i steps are reached when all of them
    occur, the latest within the window of the start, and no excluded event comes before the latest.
    ``chain[i - 1]`` is that latest event's position, so its time is the time step i was completed.
    The steps are distinct (``funnel`` refuses repeats in any order) and not exclusions.
    """
    n = len(steps)
    t, e, unit_no = events.t, events.e, events.unit_no
    size = len(t)
    index_type = _index_type(size)
    unit_at, t_at = _past_the_end(events)
    positions = np.arange(size, dtype=index_type)

    # the steps' codes are 0 … n-1; without exclusions every event read is a step's, so every position
    # starts, and the starts' arrays are the events' own (picking them copied 6.8M values each time)
    every = not exclude

    def first_from(holds: np.ndarray) -> np.ndarray:
        """For each start, the first position at or after it where ``holds`` is true, in its unit or a
        later one (``size`` if none): the callers check the unit once, on the latest of the steps.

        Every step event starts, so one backward running minimum over all positions (sequential) is
        faster than a binary search per start."""
        following = np.minimum.accumulate(np.where(holds, positions, size)[::-1])[::-1]
        return following if every else following[start]

    window_us = window * 1e6
    start = positions if every else np.flatnonzero(e < n).astype(index_type)
    owner = unit_no if every else unit_no[start]
    t_start = t if every else t[start]
    # an exclusion in a later unit lies after every event of the start's unit: no unit check needed
    next_x = first_from(e >= n) if exclude else None
    level = np.zeros(len(start), dtype=np.int8)  # at most 20 steps; adding to 8 bits is the fastest
    good = np.ones(len(start), dtype=bool)
    latest = np.zeros(len(start), dtype=index_type)
    chain = []
    for j in range(n):
        # the latest of steps 1 … j+1: in the start's unit only if each of them occurs there
        np.maximum(latest, first_from(e == j), out=latest)
        good &= (unit_at[latest] == owner) & ((t_at[latest] - t_start) <= window_us)
        if next_x is not None:
            good &= next_x > latest
        level += good
        chain.append(np.where(good, latest, size).astype(index_type, copy=False))
    keep = level >= 1
    return start[keep], [c[keep] for c in chain], level[keep].astype(np.int64), owner[keep]


def _evaluate_strict(events: _Events, names: list[str], steps: list[str], window: float, exclude: list[str]):
    """Every strict start, as :func:`_evaluate` returns ordered chains. The events are all of the unit's
    (``e`` -1 for those not named): a start reaches step i when the i - 1 events right after it in its
    unit are steps 2 … i, the last within the window of the start (nothing can come between consecutive
    events, so exclusions play no part)."""
    n = len(steps)
    t, e = events.t, events.e
    size = len(t)
    index_type = _index_type(size)
    unit_at, t_at = _past_the_end(events)
    e_at = np.r_[e, -1]
    window_us = window * 1e6
    start = np.flatnonzero(e == names.index(steps[0])).astype(index_type)
    owner = events.unit_no[start]
    level = np.ones(len(start), dtype=np.int64)
    going = np.ones(len(start), dtype=bool)
    chain = [start]
    for i in range(1, n):
        c = np.minimum(start.astype(np.int64) + i, size)  # the i-th event after the start, or "none"
        going &= (unit_at[c] == owner) & (e_at[c] == names.index(steps[i])) & ((t_at[c] - t[start]) <= window_us)
        level += going
        chain.append(np.where(going, c, size).astype(index_type))
    return start, chain, level, owner


def in_one_pass(log: EventLog, order: str) -> bool:
    """Whether this module follows a funnel of ``order`` on ``log``: always, but for a strict funnel of a
    log with more than :data:`STRICT_AT_ONCE` events."""
    return order != "strict" or log.count_events() <= STRICT_AT_ONCE


def frame_name(log: EventLog, *key) -> str:
    """The name of a frame kept for ``log`` (its content fingerprint and filters) and ``key``."""
    return "__funnel_" + hashlib.sha1(repr((log.fingerprint(), *key)).encode()).hexdigest()[:16]


def chain_starts(log: EventLog, steps: list[str], window: float, exclude: list[str], unit: str,
                 order: str = "ordered") -> str:
    """Every possible start of an ordered or any-order funnel with the level it reaches (any-order starts
    that reach no step are left out).

    Returns
    -------
    str: the quoted name of a kept frame with k (the unit), t_start (timestamp) and level (1…n).
    """
    name = frame_name(log, "starts", order, steps, window, exclude, unit)
    if not log.db.has_frame(name):
        names = list(dict.fromkeys([*steps, *exclude]))

        def starts(events: _Events) -> pa.Table:
            start, _, level, _ = EVALUATE[order](events, names, steps, window, exclude)
            return pa.table({"k": events.text("k", start),
                             "t_start": pa.array(events.t[start], type=pa.timestamp("us")),
                             "level": level.astype(np.int64, copy=False)})

        parts = _read(log, names, steps, exclude, unit, None, every=order == "strict")
        log.db.keep_frame(name, _combined(_in_threads(starts, parts)))
    return quote_ident(name)


def _combined(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def chain_units(log: EventLog, steps: list[str], window: float, exclude: list[str], unit: str,
                by: str | None, order: str = "ordered") -> str:
    """Evaluate a funnel of any order; the name of a table with one row per unit that reached step 1.

    Returns
    -------
    str: the name of a frame kept in the log's database (see ``Database.keep_frame``) with k, grp, level,
    first_start, at_i, ar_i (i = 1…n; ar_i NULL in any order) and d_i (i = 2…n), as in
    :func:`journey.funnel.funnel_units`.
    """
    name = frame_name(log, "units", order, steps, window, exclude, unit, by)
    if log.db.has_frame(name):
        return name

    names = list(dict.fromkeys([*steps, *exclude]))
    parts = _read(log, names, steps, exclude, unit, by, every=order == "strict")
    log.db.keep_frame(name, _combined(_in_threads(
        lambda events: _units(events, names, steps, window, exclude, by, order), parts)))
    return name


def _units(events: _Events, names: list[str], steps: list[str], window: float, exclude: list[str], by: str | None,
           order: str) -> pa.Table:
    """:func:`chain_units`' rows for the units of one part of the events."""
    n = len(steps)
    start, chain, level, owner = EVALUATE[order](events, names, steps, window, exclude)
    t = events.t

    # per unit: starts are in position order, so a unit's starts are one run and its first is its earliest
    first_of_unit = _first_per_run(np.arange(len(start)), owner)
    best = np.maximum.reduceat(level, first_of_unit) if len(start) else level
    units = owner[first_of_unit]
    columns: dict[str, object] = {
        "k": events.text("k", start[first_of_unit]),
        "level": best.astype(np.int64, copy=False),
        "first_start": pa.array(t[start[first_of_unit]], type=pa.timestamp("us")),
    }
    run_of_start = np.repeat(np.arange(len(first_of_unit)), np.diff(np.r_[first_of_unit, len(start)]))
    for i in range(1, n + 1):
        first = _first_per_run(np.flatnonzero(level >= i), run_of_start)
        at = np.zeros(len(units), dtype=np.int64)
        ar = np.zeros(len(units), dtype=np.int64)
        has = np.zeros(len(units), dtype=bool)
        rows = run_of_start[first]
        pos = chain[i - 1][first]
        at[rows], ar[rows], has[rows] = t[pos], events.rows(pos), True
        columns[f"at_{i}"] = pa.array(at, mask=~has, type=pa.timestamp("us"))
        columns[f"ar_{i}"] = pa.array(ar, mask=~has) if order != "any" else pa.nulls(len(units), pa.int64())
        if i > 1:
            prev = chain[i - 2][first]
            d = np.full(len(units), np.nan)
            d[rows] = (t[pos] - t[prev]) / 1e6
            columns[f"d_{i}"] = pa.array(d, mask=~has)
    if by:
        # the group of the unit's best chain: the earliest start reaching the unit's level
        first = _first_per_run(np.flatnonzero(level == best[run_of_start]), run_of_start)
        columns["grp"] = events.text("grp", start[first])
    else:
        columns["grp"] = pa.nulls(len(units), pa.string())
    return pa.table(columns)


EVALUATE = {"ordered": _evaluate, "strict": _evaluate_strict, "any": _evaluate_any}
