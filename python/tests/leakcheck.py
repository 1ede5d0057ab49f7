"""Reusable leak checks for ``memory_test.py`` (standard library only).

``check(body, ...)`` runs ``body()`` many times and decides whether it leaks.

Memory (Python's allocators through tracemalloc, and the C heap through
glibc's ``mallinfo2()``) is judged by one rule, the way CPython's
``regrtest -R`` and psleak decide: **a leak grows at a steady rate, warm-up
decays**.

* warm-up rounds first, so one-time initialisation (type objects, caches, free
  lists, interned strings) happens before anything is measured;
* the *screen*: ``rounds`` measured rounds of ``iterations`` calls each, with
  ``gc.collect()`` before every reading. If the median growth per iteration is
  below the threshold, the body is clean;
* otherwise the body is only *suspicious*, and the *confirmation* runs right
  after: ``confirm_rounds`` more rounds, ``confirm_factor`` times longer each
  (psleak's growing call counts). It leaks only if the growth persists there:
  the median per iteration is still at or above the threshold and all rounds
  but at most one grew (a single quiet round does not hide a leak:
  cpython#74959). A cache that was still filling during the screen (e.g.
  ``[7861, 5411, 37, 344]`` bytes) has stopped by then;
* Python memory is the traced size, leaving out what the measurement itself
  allocates (tracemalloc, this module, the import machinery, linecache), by
  exact file name: no ``fnmatch``/``re`` call, whose caches would fill while
  measuring (Python 3.9/3.10 did);
* the C heap is glibc's heap in use (``uordblks + hblkhd``), which also sees
  C++ ``new`` and Rust's allocator; what is judged is its growth *beyond what
  tracemalloc explains* (its own tables and the Python blocks it traced);
* resources beside memory, as ``regrtest -R`` and psleak check them: open file
  descriptors (``/proc/self/fd``) and threads (``threading.enumerate()`` and
  ``/proc/self/task``) must be back to what they were when the check started;
* ``live`` (e.g. ``sluice.live_objects``) must come back to its baseline after
  the rounds: native objects that tracemalloc cannot see are counted there;
* ``checkpoint(label)``, when given, is called after the warm-up (``"warmup"``)
  and after every measured round (``"round 1"``, ...), after ``gc.collect()``
  and the round's readings; it must not keep memory itself;
* on failure the message lists the top allocation sites by growth and what
  was left open.

Environment (set by ``cargo xtask memtest``; all optional):

``SLUICE_MEMTEST_TRACEMALLOC=0``
    run the same churn with memory measurement off (the Valgrind stage:
    tracemalloc itself produced spurious definitely-lost records there, and
    Valgrind replaces malloc, so the C heap is not glibc's). Live objects,
    file descriptors and threads are still checked.
``SLUICE_MEMTEST_C_HEAP=judge|record|off``
    judge the C heap (default), only record it, or not read it.
``SLUICE_MEMTEST_ITERATIONS=N``, ``SLUICE_MEMTEST_ROUNDS=N``, ``SLUICE_MEMTEST_WARMUP=N``
    iterations per round, measured rounds, warm-up rounds.
``SLUICE_MEMTEST_ROUND_GROWTH=F``
    each measured round runs F times as many iterations as the one before
    (default 1); with 2, a buffer that doubles its capacity when full grows
    in every round too. Only with the measurement off (the Valgrind stage's
    checkpoints use it): the rule above compares rounds of equal length.
``SLUICE_MEMTEST_RESULTS=path``
    append one JSON line per check to this file (read back by xtask).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import linecache
import os
import statistics
import sys
import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

__all__ = [
    "Config",
    "Result",
    "Round",
    "Verdict",
    "LeakError",
    "check",
    "decide",
    "steady",
    "live_delta",
    "c_heap_in_use",
]

ENV_TRACEMALLOC = "SLUICE_MEMTEST_TRACEMALLOC"
ENV_C_HEAP = "SLUICE_MEMTEST_C_HEAP"
ENV_ITERATIONS = "SLUICE_MEMTEST_ITERATIONS"
ENV_ROUNDS = "SLUICE_MEMTEST_ROUNDS"
ENV_WARMUP = "SLUICE_MEMTEST_WARMUP"
ENV_ROUND_GROWTH = "SLUICE_MEMTEST_ROUND_GROWTH"
ENV_RESULTS = "SLUICE_MEMTEST_RESULTS"

C_HEAP_MODES = ("judge", "record", "off")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if parsed < 1:
        raise ValueError(f"{name} must be >= 1, got {parsed}")
    return parsed


@dataclass
class Config:
    iterations: int = 200
    rounds: int = 4
    warmup_rounds: int = 2
    # Measured round k runs iterations * round_growth**k (measurement off only).
    round_growth: int = 1
    tracemalloc: bool = True
    # Python memory: the threshold of the steady-growth rule.
    min_bytes_per_iteration: float = 4.0
    # The confirmation of a suspicious screen: more rounds, each longer.
    confirm_rounds: int = 6
    confirm_factor: int = 2
    # C heap (glibc mallinfo2): "judge", "record" or "off", and its threshold.
    c_heap: str = "judge"
    min_c_heap_bytes_per_iteration: float = 16.0
    # File descriptors and threads back to where they were.
    resources: bool = True
    # How long threads started by the body get to finish before they count.
    thread_grace_seconds: float = 2.0
    frames: int = 10
    top: int = 8
    results_path: Optional[str] = None

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        cfg = cls(**overrides)
        cfg.iterations = _env_int(ENV_ITERATIONS, cfg.iterations)
        cfg.rounds = _env_int(ENV_ROUNDS, cfg.rounds)
        cfg.warmup_rounds = _env_int(ENV_WARMUP, cfg.warmup_rounds)
        cfg.round_growth = _env_int(ENV_ROUND_GROWTH, cfg.round_growth)
        cfg.tracemalloc = os.environ.get(ENV_TRACEMALLOC, "1") != "0"
        mode = os.environ.get(ENV_C_HEAP, "") or cfg.c_heap
        if mode not in C_HEAP_MODES:
            raise ValueError(f"{ENV_C_HEAP}={mode!r}: expected one of {', '.join(C_HEAP_MODES)}")
        cfg.c_heap = mode
        cfg.results_path = os.environ.get(ENV_RESULTS) or None
        return cfg


@dataclass(init=False)
class Round:
    """One measured span of the check (the warm-up, a screen or confirmation round)."""

    label: str
    phase: str  # "warmup", "screen" or "confirm"
    iterations: int
    # Growth since the previous reading (None: not measured).
    python_bytes: Optional[int]
    python_blocks: Optional[int]
    c_heap_bytes: Optional[int]
    tracemalloc_overhead_bytes: Optional[int]
    c_heap_beyond_python_bytes: Optional[int]
    # Absolute counts after the round.
    fds: Optional[int]
    threads: Optional[int]

    # Written out, not generated: a dataclass's generated __init__ has the file
    # name "<string>", and what it allocates while measuring would count as growth.
    def __init__(self, label: str, phase: str, iterations: int):
        self.label = label
        self.phase = phase
        self.iterations = iterations
        self.python_bytes = self.python_blocks = None
        self.c_heap_bytes = self.tracemalloc_overhead_bytes = self.c_heap_beyond_python_bytes = None
        self.fds = self.threads = None


@dataclass
class Verdict:
    """How the steady-growth rule decided for one measured quantity."""

    leaking: bool = False
    # The rate the decision rests on: the confirmation's if it ran, else the screen's.
    bytes_per_iteration: float = 0.0
    screen_bytes_per_iteration: float = 0.0
    confirm_bytes_per_iteration: Optional[float] = None
    threshold: float = 0.0
    reason: str = "not measured"


@dataclass
class Result:
    name: str
    iterations: int
    rounds: int
    warmup_rounds: int
    tracemalloc: bool
    seconds: float = 0.0
    # Python memory per measured round (screen, then confirmation if it ran).
    growth_bytes: List[int] = field(default_factory=list)
    growth_blocks: List[int] = field(default_factory=list)
    bytes_per_iteration: float = 0.0
    confirmed: bool = False
    confirm_rounds: int = 0
    confirm_iterations: int = 0
    python: Verdict = field(default_factory=Verdict)
    c_heap_mode: str = "off"
    c_heap_growth_bytes: List[int] = field(default_factory=list)
    c_heap: Verdict = field(default_factory=Verdict)
    round_log: List[Round] = field(default_factory=list)
    live_baseline: Dict[str, int] = field(default_factory=dict)
    live_final: Dict[str, int] = field(default_factory=dict)
    leaking: bool = False
    c_heap_leaking: bool = False
    live_leaking: Dict[str, int] = field(default_factory=dict)
    fd_leaks: List[dict] = field(default_factory=list)
    thread_leaks: List[dict] = field(default_factory=list)
    top_sites: List[dict] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return not (
            self.leaking or self.c_heap_leaking or self.live_leaking or self.fd_leaks or self.thread_leaks
        )


class LeakError(AssertionError):
    def __init__(self, result: Result):
        super().__init__(result.message)
        self.result = result


# -- the rule -------------------------------------------------------------------


def steady(growth: Sequence[int], iterations: int, min_rate: float):
    """``(steady, median bytes per iteration)`` for per-round growths.

    Steady: the median per iteration is at least ``min_rate`` and every round
    grew, but at most one when there are four rounds or more.
    """
    if not growth or iterations <= 0:
        return False, 0.0
    rate = statistics.median(growth) / iterations
    quiet_allowed = 1 if len(growth) >= 4 else 0
    grew = sum(1 for g in growth if g > 0)
    return rate >= min_rate and grew >= len(growth) - quiet_allowed, rate


def suspicious(growth: Sequence[int], iterations: int, min_rate: float) -> bool:
    """A screen worth confirming: its median growth reaches the threshold."""
    return bool(growth) and iterations > 0 and statistics.median(growth) / iterations >= min_rate


def decide(
    screen: Sequence[int],
    screen_iterations: int,
    confirm: Optional[Sequence[int]],
    confirm_iterations: int,
    min_rate: float,
) -> Verdict:
    """The verdict for one quantity: the screen's growths, and the confirmation's
    (``None`` if it did not run)."""
    v = Verdict(threshold=min_rate)
    if not screen or screen_iterations <= 0:
        return v
    v.screen_bytes_per_iteration = v.bytes_per_iteration = statistics.median(screen) / screen_iterations
    if not suspicious(screen, screen_iterations, min_rate):
        v.reason = (
            f"flat: median {v.screen_bytes_per_iteration:.1f} bytes/iteration over {len(screen)} "
            f"rounds of {screen_iterations}, under {min_rate:g}"
        )
        return v
    if not confirm:
        # No confirmation asked for (confirm_rounds=0): the screen decides alone.
        v.leaking, _ = steady(screen, screen_iterations, min_rate)
        v.reason = "screen only: " + ("steady growth" if v.leaking else "growth not in every round")
        return v
    v.leaking, rate = steady(confirm, confirm_iterations, min_rate)
    v.confirm_bytes_per_iteration = v.bytes_per_iteration = rate
    grew = sum(1 for g in confirm if g > 0)
    figures = (
        f"{v.screen_bytes_per_iteration:.1f} bytes/iteration in the screen, {rate:.1f} in "
        f"{len(confirm)} confirmation rounds of {confirm_iterations} ({grew} of them grew)"
    )
    v.reason = ("steady: " if v.leaking else "warm-up, decayed: ") + figures
    return v


def live_delta(baseline: Mapping[str, int], now: Mapping[str, int]) -> Dict[str, int]:
    """Types whose live count is above its baseline, with the excess."""
    return {k: v - baseline.get(k, 0) for k, v in sorted(now.items()) if v > baseline.get(k, 0)}


# -- what is measured -----------------------------------------------------------

# Allocations made by the measurement itself, by the file of their most recent
# frame. Compared by exact name (a set lookup): fnmatch would compile and cache
# regular expressions while measuring, and those caches would count as growth.
_EXCLUDED_FILES = frozenset(
    {
        tracemalloc.__file__,
        __file__,
        linecache.__file__,
        "<frozen importlib._bootstrap>",
        "<frozen importlib._bootstrap_external>",
        "<unknown>",
    }
)


def _excluded(filename: str) -> bool:
    return filename in _EXCLUDED_FILES


def _collect() -> None:
    # Several passes: finalizers can free objects that were kept alive by others.
    for _ in range(3):
        if gc.collect() == 0:
            break


def _python_totals(snapshot: tracemalloc.Snapshot):
    """Traced size and blocks, leaving out the measurement's own files.
    ``statistics("filename")`` groups by the most recent frame and uses no cache."""
    size = count = 0
    for stat in snapshot.statistics("filename"):
        if not _excluded(stat.traceback[0].filename):
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


def _load_mallinfo2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2  # glibc >= 2.33
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _load_mallinfo2()


def c_heap_in_use() -> Optional[int]:
    """Bytes of the C heap in use (glibc: ``uordblks + hblkhd``), or None without glibc >= 2.33."""
    if _MALLINFO2 is None:
        return None
    m = _MALLINFO2()
    return m.uordblks + m.hblkhd


def _open_fds() -> Optional[Dict[int, str]]:
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


def _native_threads() -> Optional[Dict[int, str]]:
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


class _Resources:
    """File descriptors and threads when the check started."""

    def __init__(self):
        self.fds = _open_fds()
        self.python = set(threading.enumerate())
        self.native = _native_threads()

    def fd_leaks(self) -> List[dict]:
        now = _open_fds()
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
        now = _native_threads()
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


def _name_the_callers(body: Callable[[], object], res: "Result") -> None:
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
            stack.append((_open_fds() or {}, _native_threads() or {}))
        elif event in ("c_return", "c_exception") and stack:
            fds_before, tids_before = stack.pop()
            fds_now, tids_now = _open_fds() or {}, _native_threads() or {}
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
    for leak in res.fd_leaks:
        where = fds_by_target.get(leak["target"])
        if where:
            leak["opened_in"] = where
    any_thread = next(iter(threads_by_name.values()), None)
    for leak in res.thread_leaks:
        where = threads_by_name.get(leak["name"]) or (any_thread if leak["kind"] == "python" else None)
        if where:
            leak["started_in"] = where


class _Meter:
    """Readings after each round: Python memory, the C heap, tracemalloc's overhead."""

    def __init__(self, cfg: Config):
        self.python = cfg.tracemalloc
        self.c_heap = cfg.tracemalloc and cfg.c_heap != "off" and _MALLINFO2 is not None
        self.first: Optional[tracemalloc.Snapshot] = None
        self.prev = None

    def read(self, keep: bool = False):
        """Readings now; ``keep`` keeps the snapshot (the baseline) for the top sites.

        The snapshot is taken first and dropped (unless kept) before the C heap is
        read, so that no reading includes a snapshot that the next one does not."""
        size = count = snap = None
        if self.python:
            snap = tracemalloc.take_snapshot()
            size, count = _python_totals(snap)
            if not keep:
                snap = None
        c = overhead = traced = None
        if self.c_heap:
            c = c_heap_in_use()
            overhead = tracemalloc.get_tracemalloc_memory()
            traced = tracemalloc.get_traced_memory()[0]
        return (size, count, c, overhead, traced), snap

    def growth(self, rnd: Round, reading) -> None:
        size, count, c, overhead, traced = reading
        if self.prev is not None:
            psize, pcount, pc, poverhead, ptraced = self.prev
            if size is not None:
                rnd.python_bytes = size - psize
                rnd.python_blocks = count - pcount
            if c is not None:
                rnd.c_heap_bytes = c - pc
                rnd.tracemalloc_overhead_bytes = overhead - poverhead
                # Beyond what tracemalloc explains: its own tables, and the Python
                # blocks it traced (those above pymalloc's 512 bytes are malloc's).
                rnd.c_heap_beyond_python_bytes = (
                    rnd.c_heap_bytes - rnd.tracemalloc_overhead_bytes - max(0, traced - ptraced)
                )
        self.prev = reading


def _top_sites(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, top: int) -> List[dict]:
    sites = []
    for diff in last.compare_to(first, "traceback"):
        if diff.size_diff <= 0 or _excluded(diff.traceback[-1].filename):
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


def check(
    body: Callable[[], object],
    *,
    name: str,
    live: Optional[Callable[[], Mapping[str, int]]] = None,
    config: Optional[Config] = None,
    checkpoint: Optional[Callable[[str], object]] = None,
) -> Result:
    """Run ``body`` repeatedly; raise :class:`LeakError` if it leaks.

    Returns the :class:`Result` (also appended to ``SLUICE_MEMTEST_RESULTS``).
    """
    cfg = config or Config.from_env()
    if cfg.c_heap not in C_HEAP_MODES:
        raise ValueError(f"Config.c_heap={cfg.c_heap!r}: expected one of {', '.join(C_HEAP_MODES)}")
    res = Result(name, cfg.iterations, cfg.rounds, cfg.warmup_rounds, cfg.tracemalloc)
    start = time.perf_counter()
    started_tracing = False
    _collect()
    resources = _Resources() if cfg.resources else None
    if cfg.tracemalloc and not tracemalloc.is_tracing():
        tracemalloc.start(cfg.frames)
        started_tracing = True
    if cfg.round_growth != 1 and cfg.tracemalloc:
        raise ValueError(
            f"round_growth={cfg.round_growth} ({ENV_ROUND_GROWTH}) needs the measurement off "
            f"({ENV_TRACEMALLOC}=0): the growth rule compares rounds of equal length"
        )
    meter = _Meter(cfg)
    res.c_heap_mode = cfg.c_heap if meter.c_heap else "off"

    def series(rounds: List[Round], attr: str) -> List[int]:
        return [getattr(r, attr) for r in rounds if getattr(r, attr) is not None]

    judge_c = res.c_heap_mode == "judge"
    n_confirm = cfg.iterations * cfg.confirm_factor
    # Every round, warm-up included, runs from this one loop: the body and the
    # readings allocate under the same call stacks in every round, so the
    # warm-up also fills tracemalloc's table of allocation stacks (a traceback
    # it keeps for each new stack, in the C heap) for the measured rounds.
    # (At least one warm-up round: its end is the baseline reading.)
    plan = ["warmup"] * max(1, cfg.warmup_rounds) + ["screen"] * cfg.rounds
    warmup: List[Round] = []
    screen: List[Round] = []
    confirm: List[Round] = []
    first = None
    try:
        i = 0
        while i < len(plan):
            phase = plan[i]
            i += 1
            if phase == "confirm":
                iterations = n_confirm
            elif phase == "screen":
                iterations = cfg.iterations * cfg.round_growth ** len(screen)
            else:
                iterations = cfg.iterations
            for _ in range(iterations):
                body()
            _collect()
            last_warmup = phase == "warmup" and (i == len(plan) or plan[i] != "warmup")
            rnd = Round("warmup" if phase == "warmup" else f"round {len(screen) + len(confirm) + 1}", phase, iterations)
            # The last warm-up reading is the baseline; its snapshot, kept, is the
            # baseline of the top sites (and so present in every later reading alike).
            reading, snap = meter.read(keep=last_warmup)
            meter.growth(rnd, reading)
            if last_warmup:
                first = snap
                res.live_baseline = dict(live()) if live else {}
            if resources is not None:
                fds = _open_fds()
                rnd.fds = None if fds is None else len(fds)
                rnd.threads = threading.active_count()
            (screen if phase == "screen" else confirm if phase == "confirm" else warmup).append(rnd)
            if phase != "warmup" or last_warmup:
                # Earlier warm-up rounds are neither logged nor checkpoints.
                res.round_log.append(rnd)
                if checkpoint is not None:
                    checkpoint(rnd.label)
            if phase == "screen" and i == len(plan) and cfg.confirm_rounds > 0:
                if suspicious(series(screen, "python_bytes"), cfg.iterations, cfg.min_bytes_per_iteration) or (
                    judge_c
                    and suspicious(
                        series(screen, "c_heap_beyond_python_bytes"), cfg.iterations, cfg.min_c_heap_bytes_per_iteration
                    )
                ):
                    # Suspicious: more rounds, each longer; a leak keeps its rate, warm-up does not.
                    plan += ["confirm"] * cfg.confirm_rounds
                    res.confirmed = True
                    res.confirm_rounds = cfg.confirm_rounds
                    res.confirm_iterations = n_confirm
        py_screen = series(screen, "python_bytes")
        c_screen = series(screen, "c_heap_beyond_python_bytes")
        if live:
            res.live_final = dict(live())
            res.live_leaking = live_delta(res.live_baseline, res.live_final)
        if meter.python:
            py_confirm = series(confirm, "python_bytes") or None
            res.growth_bytes = py_screen + (py_confirm or [])
            res.growth_blocks = series(screen + confirm, "python_blocks")
            res.python = decide(py_screen, cfg.iterations, py_confirm, n_confirm, cfg.min_bytes_per_iteration)
            res.leaking = res.python.leaking
            res.bytes_per_iteration = res.python.bytes_per_iteration
            if res.leaking and first is not None:
                res.top_sites = _top_sites(first, tracemalloc.take_snapshot(), cfg.top)
        if meter.c_heap:
            c_confirm = series(confirm, "c_heap_beyond_python_bytes") or None
            res.c_heap_growth_bytes = c_screen + (c_confirm or [])
            res.c_heap = decide(c_screen, cfg.iterations, c_confirm, n_confirm, cfg.min_c_heap_bytes_per_iteration)
            if judge_c:
                res.c_heap_leaking = res.c_heap.leaking
            else:
                res.c_heap.reason = "recorded, not judged: " + res.c_heap.reason
        first = None
    finally:
        if started_tracing:
            tracemalloc.stop()
    if resources is not None:
        res.fd_leaks = resources.fd_leaks()
        res.thread_leaks = resources.wait_threads(cfg.thread_grace_seconds)
        if res.fd_leaks or res.thread_leaks:
            _name_the_callers(body, res)
    res.seconds = round(time.perf_counter() - start, 3)

    res.message = _message(res)
    _record(cfg, res)
    if not res.ok:
        raise LeakError(res)
    return res


def _message(res: Result) -> str:
    lines = []
    if res.leaking:
        lines.append(
            f"{res.name}: Python memory grew at a steady rate: "
            f"{res.bytes_per_iteration:.1f} bytes/iteration ({res.python.reason}; "
            f"growth per round: {res.growth_bytes} bytes, {res.growth_blocks} blocks)"
        )
        if res.top_sites:
            lines.append("top allocation sites by growth:")
            for s in res.top_sites:
                lines.append(f"  {s['site']}: +{s['size_diff']} B in {s['count_diff']:+d} blocks")
            lines.append("traceback of the top site (most recent call last):")
            lines.extend(f"    {f}" for f in res.top_sites[0]["traceback"])
    if res.c_heap_leaking:
        lines.append(
            f"{res.name}: the C heap grew at a steady rate beyond Python's allocations: "
            f"{res.c_heap.bytes_per_iteration:.1f} bytes/iteration ({res.c_heap.reason}; "
            f"growth per round: {res.c_heap_growth_bytes} bytes); native code (C++ new, Rust) "
            f"keeps memory: run `cargo xtask memtest --stage valgrind` to see where"
        )
    if res.live_leaking:
        per = ", ".join(
            f"{k} +{v} (baseline {res.live_baseline.get(k, 0)})" for k, v in res.live_leaking.items()
        )
        lines.append(f"{res.name}: native objects did not return to baseline: {per}")
    for leak in res.fd_leaks:
        opened = f", opened in {leak['opened_in']}" if leak.get("opened_in") else ""
        lines.append(f"{res.name}: file descriptor left open: fd {leak['fd']} -> {leak['target']}{opened}")
    for leak in res.thread_leaks:
        started = f", started in {leak['started_in']}" if leak.get("started_in") else ""
        if leak["kind"] == "python":
            daemon = ", daemon" if leak["daemon"] else ""
            lines.append(f"{res.name}: thread left running: {leak['name']!r} (Python thread{daemon}){started}")
        else:
            lines.append(
                f"{res.name}: thread left running: {leak['name']!r} (native thread, tid {leak['tid']}){started}"
            )
    return "\n".join(lines) if lines else f"{res.name}: ok"


def _record(cfg: Config, res: Result) -> None:
    if not cfg.results_path:
        return
    data = asdict(res)
    data["ok"] = res.ok
    with open(cfg.results_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(data, sort_keys=True) + "\n")
