"""``check(body, ...)``: runs ``body()`` many times and decides whether it leaks.

Memory (Python's allocators through tracemalloc, and the C heap through
glibc's ``mallinfo2()``) is judged by the steady-growth rule (``rule.py``):

* warm-up rounds first, so one-time initialisation (type objects, caches, free
  lists, interned strings) happens before anything is measured. Every round,
  warm-up included, runs from one loop, so the warm-up allocates under the
  same call stacks as the measured rounds;
* the *screen*: ``rounds`` measured rounds of ``iterations`` calls each;
  before every reading CPython's caches are emptied (``caches.py``) and the
  garbage collector runs. Flat is clean; otherwise the *confirmation* runs:
  ``confirm_rounds`` more rounds, ``confirm_factor`` times longer each, and
  only growth that persists there leaks;
* the C heap is glibc's heap in use, which also sees C++ ``new`` and Rust's
  allocator; what is judged is its growth *beyond what tracemalloc explains*;
* file descriptors and threads must be back to what they were when the check
  started; the native call that left one behind is named;
* ``live`` (a project's counter of native objects) must come back to its
  baseline after the rounds;
* a body that imports or re-executes modules in every measured round, forks
  or spawns processes is not a leak test (``activity.py``): its result says
  so instead of failing;
* ``checkpoint(round, iterations)``, when given, is called after the warm-up
  (round 0) and after every measured round, after the caches are emptied and
  the round's readings taken (the Valgrind stage's leak searches).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

from . import activity, caches, readings
from .protocol import Config, Events
from .rule import Decision, decide, live_delta, suspicious

__all__ = ["Config", "Result", "Round", "LeakError", "check"]

#: Frames of the tracebacks of a leak's top allocation sites.
DIAGNOSTIC_FRAMES = 16


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
    python: Decision = field(default_factory=Decision)
    c_heap_mode: str = "off"
    c_heap_growth_bytes: List[int] = field(default_factory=list)
    c_heap: Decision = field(default_factory=Decision)
    round_log: List[Round] = field(default_factory=list)
    live_baseline: Dict[str, int] = field(default_factory=dict)
    live_final: Dict[str, int] = field(default_factory=dict)
    leaking: bool = False
    c_heap_leaking: bool = False
    live_leaking: Dict[str, int] = field(default_factory=dict)
    fd_leaks: List[dict] = field(default_factory=list)
    thread_leaks: List[dict] = field(default_factory=list)
    top_sites: List[dict] = field(default_factory=list)
    # What the measured rounds did besides calling code (activity.summary).
    activity: Dict[str, object] = field(default_factory=dict)
    # Why this is not a leak test (activity.not_a_leak_test): what the rules
    # found is kept as evidence, and does not fail.
    not_a_leak_test: Optional[str] = None
    # The id of the test the check ran in (a runner's; None outside one).
    test: Optional[str] = None
    message: str = ""

    @property
    def found(self) -> bool:
        """A rule fired (whether or not it fails the test)."""
        return bool(self.leaking or self.c_heap_leaking or self.live_leaking or self.fd_leaks or self.thread_leaks)

    @property
    def ok(self) -> bool:
        return not self.found or self.not_a_leak_test is not None

    def line(self) -> dict:
        """The result as the events file carries it."""
        data = asdict(self)
        data["ok"] = self.ok
        return data


class LeakError(AssertionError):
    def __init__(self, result: Result):
        super().__init__(result.message)
        self.result = result


def check(
    body: Callable[[], object],
    *,
    name: str,
    live: Optional[Callable[[], Mapping[str, int]]] = None,
    config: Optional[Config] = None,
    checkpoint: Optional[Callable[[int, int], object]] = None,
    events: Optional[Events] = None,
    test: Optional[str] = None,
) -> Result:
    """Run ``body`` repeatedly; raise :class:`LeakError` if it leaks.

    Returns the :class:`Result` (also written to ``events`` as a ``result``).
    """
    cfg = (config or Config()).validate()
    res = Result(name, cfg.iterations, cfg.rounds, cfg.warmup_rounds, cfg.tracemalloc, test=test)
    iterations_per_round = cfg.iterations
    start = time.perf_counter()
    started_tracing = False
    readings.collect()
    resources = readings.Resources() if cfg.resources else None
    if cfg.tracemalloc and not tracemalloc.is_tracing():
        tracemalloc.start(cfg.frames)
        started_tracing = True
    meter = readings.Meter(cfg.tracemalloc, cfg.c_heap != "off")
    res.c_heap_mode = cfg.c_heap if meter.c_heap else "off"

    def series(rounds: List[Round], attr: str) -> List[int]:
        return [getattr(r, attr) for r in rounds if getattr(r, attr) is not None]

    # The C heap beyond what tracemalloc explains; without tracemalloc, raw.
    c_series = "c_heap_beyond_python_bytes" if cfg.tracemalloc else "c_heap_bytes"
    judge_c = res.c_heap_mode == "judge"
    # Every round, warm-up included, runs from this one loop: the body and the
    # readings allocate under the same call stacks in every round, so the
    # warm-up also fills tracemalloc's table of allocation stacks (a traceback
    # it keeps for each new stack, in the C heap) for the measured rounds.
    # (At least one warm-up round: its end is the baseline reading.)
    plan = ["warmup"] * max(1, cfg.warmup_rounds) + ["screen"] * cfg.rounds
    warmup: List[Round] = []
    screen: List[Round] = []
    confirm: List[Round] = []
    recorded: List[activity.Recorder] = []
    first = None
    try:
        i = 0
        while i < len(plan):
            phase = plan[i]
            i += 1
            n = iterations_per_round
            if phase == "confirm":
                iterations = n * cfg.confirm_factor
            elif phase == "screen":
                iterations = n * cfg.round_growth ** len(screen)
            else:
                iterations = n
            recorder = activity.Recorder()
            round_start = time.perf_counter()
            with recorder:
                for _ in range(iterations):
                    body()
            if i == 1 and cfg.round_seconds > 0:
                # A slow body (a whole test): fewer iterations per round, the
                # rates per iteration judged the same.
                took = time.perf_counter() - round_start
                if took > cfg.round_seconds:
                    iterations_per_round = max(cfg.min_iterations, int(n * cfg.round_seconds / took))
                    res.iterations = iterations_per_round
            if phase != "warmup":
                recorded.append(recorder)
            if cfg.clear_caches:
                caches.clear()
            readings.collect()
            last_warmup = phase == "warmup" and (i == len(plan) or plan[i] != "warmup")
            label = "warmup" if phase == "warmup" else f"round {len(screen) + len(confirm) + 1}"
            rnd = Round(label, phase, iterations)
            # The last warm-up reading is the baseline; its snapshot, kept, is the
            # baseline of the top sites (and so present in every later reading alike).
            reading, snap = meter.read(keep=last_warmup)
            meter.growth(rnd, reading)
            if last_warmup:
                first = snap
                res.live_baseline = dict(live()) if live else {}
            if resources is not None:
                fds = readings.open_fds()
                rnd.fds = None if fds is None else len(fds)
                rnd.threads = threading.active_count()
            (screen if phase == "screen" else confirm if phase == "confirm" else warmup).append(rnd)
            if phase != "warmup" or last_warmup:
                # Earlier warm-up rounds are neither logged nor checkpoints.
                res.round_log.append(rnd)
                if checkpoint is not None:
                    checkpoint(0 if phase == "warmup" else len(screen) + len(confirm), iterations)
            if phase == "screen" and i == len(plan) and cfg.confirm_rounds > 0:
                n = iterations_per_round
                if suspicious(series(screen, "python_bytes"), n, cfg.min_python_bytes_per_iteration) or (
                    judge_c and suspicious(series(screen, c_series), n, cfg.min_c_heap_bytes_per_iteration)
                ):
                    # Suspicious: more rounds, each longer; a leak keeps its rate, warm-up does not.
                    plan += ["confirm"] * cfg.confirm_rounds
                    res.confirmed = True
                    res.confirm_rounds = cfg.confirm_rounds
                    res.confirm_iterations = n * cfg.confirm_factor
        n = iterations_per_round
        n_confirm = n * cfg.confirm_factor
        py_screen = series(screen, "python_bytes")
        c_screen = series(screen, c_series)
        if live:
            res.live_final = dict(live())
            res.live_leaking = live_delta(res.live_baseline, res.live_final)
        if meter.python:
            py_confirm = series(confirm, "python_bytes") or None
            res.growth_bytes = py_screen + (py_confirm or [])
            res.growth_blocks = series(screen + confirm, "python_blocks")
            res.python = decide(py_screen, n, py_confirm, n_confirm, cfg.min_python_bytes_per_iteration)
            res.leaking = res.python.leaking
            res.bytes_per_iteration = res.python.bytes_per_iteration
            if res.leaking and first is not None:
                res.top_sites = readings.top_sites(first, tracemalloc.take_snapshot(), cfg.top)
        if meter.c_heap:
            c_confirm = series(confirm, c_series) or None
            res.c_heap_growth_bytes = c_screen + (c_confirm or [])
            res.c_heap = decide(c_screen, n, c_confirm, n_confirm, cfg.min_c_heap_bytes_per_iteration)
            if judge_c:
                res.c_heap_leaking = res.c_heap.leaking
            else:
                res.c_heap.reason = "recorded, not judged: " + res.c_heap.reason
        first = None
    finally:
        if started_tracing:
            tracemalloc.stop()
    if res.top_sites and started_tracing and cfg.frames < DIAGNOSTIC_FRAMES:
        # The measurement kept one frame per allocation (cheap); the leaking
        # sites get their whole traceback from one more short run.
        res.top_sites = readings.traced_sites(body, n, DIAGNOSTIC_FRAMES, cfg.top) or res.top_sites
    if resources is not None:
        res.fd_leaks = resources.fd_leaks()
        res.thread_leaks = resources.wait_threads(cfg.thread_grace_seconds)
        if res.fd_leaks or res.thread_leaks:
            readings.name_the_callers(body, res.fd_leaks, res.thread_leaks)
    res.activity = activity.summary(recorded)
    if res.found:
        res.not_a_leak_test = activity.not_a_leak_test(recorded)
    res.seconds = round(time.perf_counter() - start, 3)

    res.message = _message(res)
    if events is not None:
        events.write("result", **res.line())
    if not res.ok:
        raise LeakError(res)
    return res


def _message(res: Result) -> str:
    lines = []
    if res.not_a_leak_test:
        lines.append(f"{res.name}: not a leak test: it {res.not_a_leak_test}; not judged (what the rules saw follows)")
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
            f"growth per round: {res.c_heap_growth_bytes} bytes); native code (C++ new, Rust, C malloc) "
            f"keeps memory: the Valgrind stage shows where"
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


def sample_result_line() -> dict:
    """A result line with every field set, as a check writes it (the engine's
    round-trip test of the events' shape)."""
    res = Result("test_sample", 200, 4, 2, True, seconds=1.5)
    res.growth_bytes, res.growth_blocks = [1600, 1608], [2, 2]
    res.bytes_per_iteration = 8.0
    res.confirmed, res.confirm_rounds, res.confirm_iterations = True, 6, 400
    res.python = Decision(True, 8.0, 8.0, 8.0, 4.0, "steady: ...")
    res.c_heap_mode = "judge"
    res.c_heap_growth_bytes = [16000]
    res.c_heap = Decision(True, 80.0, 80.0, 80.0, 16.0, "steady: ...")
    rnd = Round("round 1", "screen", 200)
    rnd.python_bytes = rnd.python_blocks = rnd.c_heap_bytes = 1
    rnd.tracemalloc_overhead_bytes = rnd.c_heap_beyond_python_bytes = rnd.fds = rnd.threads = 1
    res.round_log = [rnd]
    res.live_baseline, res.live_final, res.live_leaking = {"Block": 1}, {"Block": 2}, {"Block": 1}
    res.leaking = res.c_heap_leaking = True
    res.fd_leaks = [{"fd": 7, "target": "pipe:[1]", "opened_in": "m.f, called at t.py:3"}]
    res.thread_leaks = [
        {"kind": "python", "name": "w", "daemon": True, "native_id": 9, "started_in": "m.g, called at t.py:4"},
        {"kind": "native", "name": "python3", "tid": 10},
    ]
    res.top_sites = [{"site": "t.py:3", "traceback": ["t.py:3"], "size_diff": 8, "count_diff": 1}]
    res.activity = {"imports_per_round": [1], "module_execs_per_round": [0], "forks": 0, "spawns": 0, "examples": ["x"]}
    res.not_a_leak_test = "imports or re-executes modules in every measured round (x)"
    res.test = "tests/test_x.py::test_sample"
    res.message = _message(res)
    return res.line()
