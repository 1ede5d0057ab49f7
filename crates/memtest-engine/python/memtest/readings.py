"""What a check measures: Python memory (tracemalloc), the C heap (glibc's
``mallinfo2``), open file descriptors and threads; and, when descriptors or
threads were left behind, which native call made them."""

from __future__ import annotations

import ctypes
import gc
import linecache
import os
import sys
import threading
import time
import tracemalloc
from typing import Callable, Dict, List, Optional

from . import valgrind

_PACKAGE = os.path.dirname(os.path.abspath(__file__))

# Allocations made by the measurement itself, by the file of their most recent
# frame: tracemalloc, this package, the import machinery, linecache. Compared
# by exact name (a set lookup): fnmatch would compile and cache regular
# expressions while measuring, and those caches would count as growth.
_EXCLUDED_FILES = frozenset(
    {
        tracemalloc.__file__,
        linecache.__file__,
        "<frozen importlib._bootstrap>",
        "<frozen importlib._bootstrap_external>",
        "<unknown>",
    }
    | {os.path.join(_PACKAGE, n) for n in os.listdir(_PACKAGE) if n.endswith(".py")}
)


def excluded(filename: str) -> bool:
    return filename in _EXCLUDED_FILES


def collect() -> None:
    # Several passes: finalizers can free objects that were kept alive by others.
    for _ in range(3):
        if gc.collect() == 0:
            break


def python_totals(snapshot: tracemalloc.Snapshot):
    """Traced size and blocks, leaving out the measurement's own files.
    ``statistics("filename")`` groups by the most recent frame and uses no cache."""
    size = count = 0
    for stat in snapshot.statistics("filename"):
        if not excluded(stat.traceback[0].filename):
            size += stat.size
            count += stat.count
    return size, count


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class _Mallinfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name, _ in _Mallinfo2._fields_]


def _load(name: str, restype):
    try:
        # The process's own symbols, libc's among them (ctypes.util.find_library
        # would run ldconfig: slow under Valgrind).
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.restype = restype
    fn.argtypes = []
    return fn


_MALLINFO2 = _load("mallinfo2", _Mallinfo2)  # glibc >= 2.33
# Valgrind replaces malloc and answers mallinfo() with its own count of the
# bytes in use (mallinfo2, which it does not intercept, then says 0).
_MALLINFO = _load("mallinfo", _Mallinfo)


def c_heap_available() -> bool:
    return _MALLINFO2 is not None or (valgrind.running() and _MALLINFO is not None)


def c_heap_in_use() -> Optional[int]:
    """Bytes of the C heap in use: glibc's ``uordblks + hblkhd``, or under
    Valgrind its own count of the bytes the program holds; None without
    glibc >= 2.33."""
    if valgrind.running() and _MALLINFO is not None:
        return _MALLINFO().uordblks & 0xFFFFFFFF
    if _MALLINFO2 is None:
        return None
    m = _MALLINFO2()
    return m.uordblks + m.hblkhd


def open_fds() -> Optional[Dict[int, str]]:
    """``{fd: readlink target}`` of this process, without the listing's own fd."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    own = f"/proc/{os.getpid()}/fd"
    fds = {}
    for n in names:
        try:
            target = os.readlink(f"/proc/self/fd/{n}")
        except OSError:
            continue  # the listing's own fd, already closed
        if target != own:
            fds[int(n)] = target
    return fds


def native_threads() -> Optional[Dict[int, str]]:
    """``{tid: name}`` of this process's threads (``/proc/self/task``)."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    out = {}
    for t in tids:
        try:
            with open(f"/proc/self/task/{t}/comm", encoding="utf-8", errors="replace") as f:
                out[int(t)] = f.read().strip()
        except OSError:
            continue  # ended meanwhile
    return out


class Resources:
    """File descriptors and threads when the check started."""

    def __init__(self):
        self.fds = open_fds()
        self.python = set(threading.enumerate())
        self.native = native_threads()

    def fd_leaks(self) -> List[dict]:
        now = open_fds()
        if self.fds is None or now is None:
            return []
        return [
            {"fd": fd, "target": target}
            for fd, target in sorted(now.items())
            if self.fds.get(fd) != target
        ]

    def thread_leaks(self) -> List[dict]:
        new_python = [t for t in threading.enumerate() if t not in self.python and t.is_alive()]
        out = [
            {
                "kind": "python",
                "name": t.name,
                "daemon": t.daemon,
                "native_id": getattr(t, "native_id", None),
            }
            for t in new_python
        ]
        now = native_threads()
        if self.native is not None and now is not None:
            python_tids = {getattr(t, "native_id", None) for t in threading.enumerate()}
            out += [
                {"kind": "native", "name": name, "tid": tid}
                for tid, name in sorted(now.items())
                if tid not in self.native and tid not in python_tids
            ]
        return out

    def wait_threads(self, grace: float) -> List[dict]:
        """New threads still running after ``grace`` seconds (threads that are
        finishing get that long to end)."""
        deadline = time.monotonic() + grace
        while True:
            leaks = self.thread_leaks()
            if not leaks or time.monotonic() >= deadline:
                return leaks
            time.sleep(0.02)


def _c_function_name(fn) -> str:
    """``module.qualname`` of a builtin or an extension's function."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    if module is None:
        owner = getattr(fn, "__self__", None)
        module = type(owner).__module__ if owner is not None else None
    return f"{module}.{name}" if module else name


def name_the_callers(body: Callable[[], object], fd_leaks: List[dict], thread_leaks: List[dict]) -> None:
    """Runs ``body`` once more under a profiler to name, for each leaked
    descriptor and thread, the C function (a builtin or an extension's
    function: native code opens descriptors and starts threads where Python
    cannot see) during whose call one like it appeared, and the Python line
    that called it. Diagnostic only: the verdict is already made; this run
    leaks one more of each."""
    fds_by_target: Dict[str, str] = {}
    threads_by_name: Dict[str, str] = {}
    stack: List[tuple] = []

    def profile(frame, event, arg):
        # The profiler is not called for what it calls itself.
        if event == "c_call":
            stack.append((open_fds() or {}, native_threads() or {}))
        elif event in ("c_return", "c_exception") and stack:
            fds_before, tids_before = stack.pop()
            fds_now, tids_now = open_fds() or {}, native_threads() or {}
            where = f"{_c_function_name(arg)}, called at {frame.f_code.co_filename}:{frame.f_lineno}"
            for fd, target in fds_now.items():
                if fds_before.get(fd) != target:
                    fds_by_target.setdefault(target, where)
            for tid, name in tids_now.items():
                if tid not in tids_before:
                    threads_by_name.setdefault(name, where)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        body()
    except Exception:  # the body's own failure is not this diagnostic's business
        pass
    finally:
        sys.setprofile(previous)
    for leak in fd_leaks:
        where = fds_by_target.get(leak["target"])
        if where:
            leak["opened_in"] = where
    any_thread = next(iter(threads_by_name.values()), None)
    for leak in thread_leaks:
        where = threads_by_name.get(leak["name"]) or (any_thread if leak["kind"] == "python" else None)
        if where:
            leak["started_in"] = where


class Meter:
    """Readings after each round: Python memory, the C heap, tracemalloc's overhead.

    Without tracemalloc the C heap is read raw (under Valgrind with
    ``PYTHONMALLOC=malloc`` that is everything the program holds)."""

    def __init__(self, python: bool, c_heap: bool):
        self.python = python
        self.c_heap = c_heap and c_heap_available()
        self.prev = None

    def read(self, keep: bool = False):
        """Readings now; ``keep`` keeps the snapshot (the baseline) for the top sites.

        The snapshot is taken first and dropped (unless kept) before the C heap is
        read, so that no reading includes a snapshot that the next one does not."""
        size = count = snap = None
        if self.python:
            snap = tracemalloc.take_snapshot()
            size, count = python_totals(snap)
            if not keep:
                snap = None
        c = overhead = traced = None
        if self.c_heap:
            c = c_heap_in_use()
            if self.python:
                overhead = tracemalloc.get_tracemalloc_memory()
                traced = tracemalloc.get_traced_memory()[0]
        return (size, count, c, overhead, traced), snap

    def growth(self, rnd, reading) -> None:
        """Fills ``rnd``'s growth fields from the previous reading to this one."""
        size, count, c, overhead, traced = reading
        if self.prev is not None:
            psize, pcount, pc, poverhead, ptraced = self.prev
            if size is not None:
                rnd.python_bytes = size - psize
                rnd.python_blocks = count - pcount
            if c is not None:
                rnd.c_heap_bytes = c - pc
            if c is not None and overhead is not None:
                rnd.tracemalloc_overhead_bytes = overhead - poverhead
                # Beyond what tracemalloc explains: its own tables, and the Python
                # blocks it traced (those above pymalloc's 512 bytes are malloc's).
                rnd.c_heap_beyond_python_bytes = (
                    rnd.c_heap_bytes - rnd.tracemalloc_overhead_bytes - max(0, traced - ptraced)
                )
        self.prev = reading


def top_sites(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, top: int) -> List[dict]:
    sites = []
    for diff in last.compare_to(first, "traceback"):
        if diff.size_diff <= 0 or excluded(diff.traceback[-1].filename):
            continue
        # Oldest frame first, the allocating line last.
        frames = [f"{f.filename}:{f.lineno}" for f in diff.traceback]
        sites.append(
            {
                "site": frames[-1] if frames else "?",
                "traceback": frames,
                "size_diff": diff.size_diff,
                "count_diff": diff.count_diff,
            }
        )
        if len(sites) >= top:
            break
    return sites


def traced_sites(body: Callable[[], object], iterations: int, frames: int, top: int) -> List[dict]:
    """The top allocation sites of ``iterations`` more calls of ``body``,
    traced with ``frames`` frames (the check itself keeps fewer: it is
    cheaper). Diagnostic only: the verdict is already made."""
    tracemalloc.start(frames)
    try:
        for _ in range(iterations):  # tracemalloc's own tables fill here
            body()
        collect()
        first = tracemalloc.take_snapshot()
        for _ in range(iterations):
            body()
        collect()
        return top_sites(first, tracemalloc.take_snapshot(), top)
    except Exception:  # the body's own failure is not this diagnostic's business
        return []
    finally:
        tracemalloc.stop()
