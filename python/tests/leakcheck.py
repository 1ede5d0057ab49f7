"""Reusable leak checks for ``memory_test.py`` (standard library only).

``check(body, ...)`` runs ``body()`` many times and decides whether it leaks:

* warm-up rounds first, so one-time initialisation (type objects, caches, free
  lists, interned strings) happens before anything is measured;
* then several measured rounds of ``iterations`` calls each, with
  ``gc.collect()`` before every snapshot;
* growth is judged per iteration *across rounds*: a leak grows in every round,
  noise (a dict resize, a free list filling up) does not. The check fails when
  the filtered traced size grew in every measured round and the median growth
  is at least ``min_bytes_per_iteration``;
* snapshots are filtered to what can matter (tracemalloc's own bookkeeping,
  the import machinery, linecache and this module are left out);
* on failure the message lists the top allocation sites by growth;
* ``live`` (e.g. ``sluice.live_objects``) must come back to its baseline after
  every round: native objects that tracemalloc cannot see are counted there.

Environment (set by ``cargo xtask memtest``; all optional):

``SLUICE_MEMTEST_TRACEMALLOC=0``
    run the same churn with tracemalloc measurement off (the Valgrind stage:
    tracemalloc itself produced spurious definitely-lost records there).
``SLUICE_MEMTEST_ITERATIONS=N``, ``SLUICE_MEMTEST_ROUNDS=N``, ``SLUICE_MEMTEST_WARMUP=N``
    iterations per round, measured rounds, warm-up rounds.
``SLUICE_MEMTEST_ROUND_GROWTH=F``
    each measured round runs F times as many iterations as the one before
    (default 1); with 2, a buffer that doubles its capacity when full grows
    in every round too (the Valgrind stage's checkpoints use it).
``SLUICE_MEMTEST_RESULTS=path``
    append one JSON line per check to this file (read back by xtask).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

__all__ = ["Config", "Result", "LeakError", "check", "growth_verdict", "live_delta"]

ENV_TRACEMALLOC = "SLUICE_MEMTEST_TRACEMALLOC"
ENV_ITERATIONS = "SLUICE_MEMTEST_ITERATIONS"
ENV_ROUNDS = "SLUICE_MEMTEST_ROUNDS"
ENV_WARMUP = "SLUICE_MEMTEST_WARMUP"
ENV_ROUND_GROWTH = "SLUICE_MEMTEST_ROUND_GROWTH"
ENV_RESULTS = "SLUICE_MEMTEST_RESULTS"


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
    round_growth: int = 1
    tracemalloc: bool = True
    min_bytes_per_iteration: float = 4.0
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
        cfg.results_path = os.environ.get(ENV_RESULTS) or None
        return cfg


@dataclass
class Result:
    name: str
    iterations: int
    rounds: int
    warmup_rounds: int
    tracemalloc: bool
    seconds: float = 0.0
    growth_bytes: List[int] = field(default_factory=list)
    growth_blocks: List[int] = field(default_factory=list)
    bytes_per_iteration: float = 0.0
    live_baseline: Dict[str, int] = field(default_factory=dict)
    live_final: Dict[str, int] = field(default_factory=dict)
    leaking: bool = False
    live_leaking: Dict[str, int] = field(default_factory=dict)
    top_sites: List[dict] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.leaking and not self.live_leaking


class LeakError(AssertionError):
    def __init__(self, result: Result):
        super().__init__(result.message)
        self.result = result


def growth_verdict(growth: List[int], iterations: int, min_bytes_per_iteration: float):
    """Return ``(leaking, median bytes per iteration)`` for per-round growths.

    A leak grows in *every* round by roughly the same amount; noise does not.
    """
    if not growth or iterations <= 0:
        return False, 0.0
    per_iteration = statistics.median(growth) / iterations
    leaking = all(g > 0 for g in growth) and per_iteration >= min_bytes_per_iteration
    return leaking, per_iteration


def live_delta(baseline: Mapping[str, int], now: Mapping[str, int]) -> Dict[str, int]:
    """Types whose live count is above its baseline, with the excess."""
    return {k: v - baseline.get(k, 0) for k, v in sorted(now.items()) if v > baseline.get(k, 0)}


def _filters() -> List[tracemalloc.Filter]:
    return [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, __file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "*/linecache.py"),
        tracemalloc.Filter(False, "<unknown>"),
    ]


def _collect() -> None:
    # Several passes: finalizers can free objects that were kept alive by others.
    for _ in range(3):
        if gc.collect() == 0:
            break


def _totals(snapshot: tracemalloc.Snapshot):
    size = count = 0
    for stat in snapshot.statistics("filename"):
        size += stat.size
        count += stat.count
    return size, count


def _top_sites(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, top: int) -> List[dict]:
    sites = []
    for diff in last.compare_to(first, "traceback"):
        if diff.size_diff <= 0:
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
    checkpoint: Optional[Callable[[int], object]] = None,
) -> Result:
    """Run ``body`` repeatedly; raise :class:`LeakError` if memory grows.

    ``checkpoint(round)`` is called after the warm-up (round 0) and after
    each measured round (1, 2, ...), once the garbage is collected.

    Returns the :class:`Result` (also appended to ``SLUICE_MEMTEST_RESULTS``).
    """
    cfg = config or Config.from_env()
    res = Result(name, cfg.iterations, cfg.rounds, cfg.warmup_rounds, cfg.tracemalloc)
    start = time.perf_counter()
    started_tracing = False
    if cfg.tracemalloc and not tracemalloc.is_tracing():
        tracemalloc.start(cfg.frames)
        started_tracing = True
    try:
        for _ in range(cfg.warmup_rounds * cfg.iterations):
            body()
        _collect()
        if checkpoint:
            checkpoint(0)
        baseline_live = dict(live()) if live else {}
        res.live_baseline = baseline_live
        filters = _filters()
        first = last = None
        prev_size = None
        if cfg.tracemalloc:
            first = last = tracemalloc.take_snapshot().filter_traces(filters)
            prev_size, prev_count = _totals(first)
        for k in range(cfg.rounds):
            for _ in range(cfg.iterations * cfg.round_growth**k):
                body()
            _collect()
            if checkpoint:
                checkpoint(k + 1)
            if cfg.tracemalloc:
                last = tracemalloc.take_snapshot().filter_traces(filters)
                size, count = _totals(last)
                res.growth_bytes.append(size - prev_size)
                res.growth_blocks.append(count - prev_count)
                prev_size, prev_count = size, count
        if live:
            res.live_final = dict(live())
            res.live_leaking = live_delta(baseline_live, res.live_final)
        if cfg.tracemalloc:
            res.leaking, res.bytes_per_iteration = growth_verdict(
                res.growth_bytes, cfg.iterations, cfg.min_bytes_per_iteration
            )
            if res.leaking:
                res.top_sites = _top_sites(first, last, cfg.top)
    finally:
        if started_tracing:
            tracemalloc.stop()
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
            f"{res.name}: Python memory grew in every measured round: "
            f"{res.bytes_per_iteration:.1f} bytes/iteration "
            f"(growth per round of {res.iterations} iterations: {res.growth_bytes} bytes, "
            f"{res.growth_blocks} blocks)"
        )
        if res.top_sites:
            lines.append("top allocation sites by growth:")
            for s in res.top_sites:
                lines.append(f"  {s['site']}: +{s['size_diff']} B in {s['count_diff']:+d} blocks")
            lines.append("traceback of the top site (most recent call last):")
            lines.extend(f"    {f}" for f in res.top_sites[0]["traceback"])
    if res.live_leaking:
        per = ", ".join(
            f"{k} +{v} (baseline {res.live_baseline.get(k, 0)})" for k, v in res.live_leaking.items()
        )
        lines.append(f"{res.name}: native objects did not return to baseline: {per}")
    return "\n".join(lines) if lines else f"{res.name}: ok"


def _record(cfg: Config, res: Result) -> None:
    if not cfg.results_path:
        return
    data = asdict(res)
    data["ok"] = res.ok
    with open(cfg.results_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(data, sort_keys=True) + "\n")
