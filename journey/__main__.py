"""``python -m journey``: the command line (journey.cli).

The process ends without tearing the interpreter down, as mypy's command does: freeing a large analysis'
arrays and modules one by one took about 0.1 s of a 2.8 s funnel on 10M events. Every database's private
folder is removed first, its connection left to the process's end (engine.end_without_closing), and the
output flushed.
"""

import os
import sys

from .cli import main
from .engine import close_all, end_without_closing


def _small_pages() -> None:
    """numpy's large arrays in ordinary pages, not huge ones, for this short process: every page it
    touches is new to it, and faulting in 2 MB pages cost more system time than 4 KB ones on the
    benchmark's virtual machine (10M-event funnel, three batches of 13-15 alternated runs: 1.82 -> 1.65,
    1.73 -> 1.64, 1.75 -> 1.63 s median; system time 0.84-0.90 -> 0.66-0.68 s). numpy's own switch
    (its NUMPY_MADVISE_HUGEPAGE variable is read when numpy is imported, before this module runs)."""
    import numpy

    switch = getattr(getattr(numpy, "_core", None), "multiarray", None)
    if hasattr(switch, "_set_madvise_hugepage"):
        switch._set_madvise_hugepage(False)


def _keep_freed_memory() -> None:
    """glibc keeps the memory this process frees for its next allocations instead of handing each large
    block back to the system at once (its default, for blocks over 32 MB) and mapping a new one: an
    analysis makes and drops arrays of every event over and over, and each new page is a fault (10M-event
    funnel, eleven alternated runs: 1.64 -> 1.60 s median, page faults 373k -> 314k; another eleven 1.69
    -> 1.61 s). Only for this short process; other C libraries are left as they are."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


_small_pages()
_keep_freed_memory()
end_without_closing()
status = main() or 0
close_all()
for stream in (sys.stdout, sys.stderr):
    try:
        if not stream.closed:  # the command closes stderr when the reader (head, less) stopped early
            stream.flush()
    except BrokenPipeError:
        pass
os._exit(status)
