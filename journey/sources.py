"""Reading a file's bytes: format, encoding and CSV dialect detection, transcoding, line-wise repair.

Everything here is about turning an arbitrary export into something DuckDB's readers can take; the
reading itself happens in :mod:`journey.load` through DuckDB.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import tempfile
from dataclasses import dataclass

from .errors import LoadError

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
TEXT_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv", ".jsonl": "json",
                   ".ndjson": "json", ".json": "json", ".parquet": "parquet", ".pq": "parquet",
                   ".xlsx": "xlsx", ".xlsm": "xlsx"}


@dataclass
class Dialect:
    delimiter: str
    header: list[str]


def detect_format(path: str) -> tuple[str, bool]:
    """(format, gzipped) from magic bytes first, then the file name."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] == b"PAR1":
        return "parquet", False
    if head[8:12] == b"DUCK":
        return "duckdb", False
    if head[:2] == b"PK":
        return "xlsx", False
    gz = head[:2] == b"\x1f\x8b"
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    fmt = TEXT_EXTENSIONS.get(ext)
    if fmt in ("parquet", "xlsx"):
        raise LoadError(
            f"{os.path.basename(path)} is named like a {fmt} file but its contents are not {fmt}. "
            "Is it damaged, or exported in another format?"
        )
    if fmt is None:
        sample = _open_text_bytes(path, gz).read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        fmt = "json" if sample[:1] == b"{" else "csv"
    return fmt, gz


def _open_text_bytes(path: str, gz: bool):
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_sample(path: str, gz: bool) -> bytes:
    try:
        with _open_text_bytes(path, gz) as f:
            return f.read(SAMPLE_BYTES)
    except (OSError, EOFError) as e:
        raise LoadError(f"Could not read {os.path.basename(path)}: {e}. Is the file complete?") from e


def detect_encoding(sample: bytes) -> str:
    """The text encoding of a file, from its first bytes.

    BOMs first (UTF-8, UTF-16), then UTF-16 without BOM (NULs at alternate bytes), then UTF-8, then
    Thai Windows-874 when the high bytes decode to Thai letters, else Latin-1 (Windows-1252).
    Raises LoadError for binary data.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample:
        even_nuls = sample[0::2].count(0) / max(1, len(sample[0::2]))
        odd_nuls = sample[1::2].count(0) / max(1, len(sample[1::2]))
        guess = "utf-16-le" if odd_nuls > 0.3 and even_nuls < 0.05 else (
            "utf-16-be" if even_nuls > 0.3 and odd_nuls < 0.05 else None)
        if guess and _mostly_text(sample[: len(sample) // 2 * 2].decode(guess, errors="replace")):
            return guess
    control = sum(1 for b in sample[:65536] if b < 9 or 13 < b < 32)
    if b"\x00" in sample or control > max(8, len(sample[:65536]) // 100):
        raise LoadError(
            "This file looks binary, not a text export (CSV, TSV or JSON lines). "
            "Supported: CSV/TSV (also .gz), Parquet, JSON lines, Excel .xlsx."
        )
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 4 and len(sample) == SAMPLE_BYTES:
            return "utf-8"  # a character cut at the sample's end
    high = [i for i, b in enumerate(sample) if b >= 0x80]
    thai = [i for i in high if 0xA1 <= sample[i] <= 0xFB]
    # Thai words are runs of high bytes; accented Latin letters mostly stand alone between ASCII ones.
    in_runs = sum(1 for i in thai if (i > 0 and sample[i - 1] >= 0xA1) or (i + 1 < len(sample) and sample[i + 1] >= 0xA1))
    if len(high) >= 4 and len(thai) / len(high) > 0.9 and in_runs / len(thai) > 0.6:
        return "cp874"
    return "cp1252" if _decodes(sample, "cp1252") else "latin-1"


def _mostly_text(text: str) -> bool:
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    return bool(text) and printable / len(text) > 0.98


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def transcode_to_utf8(path: str, gz: bool, encoding: str, directory: str) -> str:
    """Copy a text file into UTF-8 (streaming, 1 MB at a time); return the new path."""
    out_path = os.path.join(directory, "transcoded.csv")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with _open_text_bytes(path, gz) as src, open(out_path, "w", encoding="utf-8", newline="") as dst:
        while True:
            chunk = src.read(SAMPLE_BYTES)
            if not chunk:
                dst.write(decoder.decode(b"", final=True))
                break
            dst.write(decoder.decode(chunk))
    return out_path


def detect_dialect(text_sample: str) -> Dialect:
    """The delimiter and header of a CSV, from its first line(s)."""
    text_sample = text_sample.lstrip("\ufeff")
    lines = text_sample.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise LoadError("The file is empty: there is no header row and no data.")
    first = lines[0]
    counts = {d: _count_outside_quotes(first, d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        raise LoadError(
            f"Only one column found (header: {first[:80]!r}). Journey needs at least a user column and a "
            "time column, separated by commas, semicolons, tabs or |. Is this the right file?"
        )
    header = next(csv.reader([first], delimiter=delimiter))
    return Dialect(delimiter=delimiter, header=unique_names(header))


def _count_outside_quotes(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


def unique_names(names: list[str]) -> list[str]:
    """Header names made non-empty and unique ("", "a", "a" -> "column_1", "a", "a_2")."""
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        base = str(name).strip() or f"column_{i}"
        candidate, k = base, 2
        while candidate.lower() in seen:
            candidate, k = f"{base}_{k}", k + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def repair_csv_linewise(path: str, encoding: str, gz: bool, dialect: Dialect, directory: str):
    """Re-read a CSV one physical line at a time, for files whose quoting is broken.

    A stray quote makes a CSV reader swallow every later line into one field. Here each line stands on
    its own: a line with an odd number of quotes is rejected as broken quoting, a line with the wrong
    number of fields is rejected as such, every other line is kept. Returns the path of a clean CSV
    (with a ``__row_no`` column) and the list of (row_no, reason, raw_line) rejects.
    """
    out_path = os.path.join(directory, "repaired.csv")
    rejects: list[tuple[int, str, str]] = []
    width = len(dialect.header)
    opener = gzip.open(path, "rt", encoding=encoding, errors="replace", newline="") if gz else open(
        path, encoding=encoding, errors="replace", newline=""
    )
    with opener as src, open(out_path, "w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["__row_no", *dialect.header])
        header_seen = False
        row_no = 0
        for line in src:
            raw = line.rstrip("\r\n")
            if not header_seen:
                if raw.strip():
                    header_seen = True
                continue
            if not raw.strip():
                continue
            row_no += 1
            if raw.count('"') % 2:
                rejects.append((row_no, "broken quoting", raw))
                continue
            fields = next(csv.reader(io.StringIO(raw), delimiter=dialect.delimiter), [])
            if len(fields) != width:
                rejects.append((row_no, "wrong number of fields", raw))
                continue
            writer.writerow([row_no, *fields])
    return out_path, rejects


def spool_upload(data: bytes, name: str, directory: str | None = None) -> str:
    """Write uploaded bytes to a private temporary file named like the upload; return its path."""
    directory = directory or tempfile.mkdtemp(prefix="journey-upload-")
    safe = os.path.basename(name).replace(os.sep, "_") or "upload.csv"
    path = os.path.join(directory, safe)
    with open(path, "wb") as f:
        f.write(data)
    return path
