"""The steady-growth rule, the way CPython's ``regrtest -R`` and psleak
decide: **a leak grows at a steady rate, warm-up decays**.

A *screen* of measured rounds decides only "flat" (the median growth per
iteration under the threshold). Otherwise the quantity is *suspicious* and a
*confirmation* of longer rounds follows: it leaks only if the median per
iteration there is still at or above the threshold and every round grew but
at most one (a single quiet round does not hide a leak: cpython#74959). A
cache that was still filling during the screen has stopped by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence


def _median(values: Sequence[int]) -> float:
    # statistics.median, without importing statistics (slow under Valgrind).
    v = sorted(values)
    mid = len(v) // 2
    return float(v[mid]) if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


@dataclass
class Decision:
    """How the rule decided for one measured quantity."""

    leaking: bool = False
    # The rate the decision rests on: the confirmation's if it ran, else the screen's.
    bytes_per_iteration: float = 0.0
    screen_bytes_per_iteration: float = 0.0
    confirm_bytes_per_iteration: Optional[float] = None
    threshold: float = 0.0
    reason: str = "not measured"


def steady(growth: Sequence[int], iterations: int, min_rate: float):
    """``(steady, median bytes per iteration)`` for per-round growths.

    Steady: the median per iteration is at least ``min_rate`` and every round
    grew, but at most one when there are four rounds or more.
    """
    if not growth or iterations <= 0:
        return False, 0.0
    rate = _median(growth) / iterations
    quiet_allowed = 1 if len(growth) >= 4 else 0
    grew = sum(1 for g in growth if g > 0)
    return rate >= min_rate and grew >= len(growth) - quiet_allowed, rate


def suspicious(growth: Sequence[int], iterations: int, min_rate: float) -> bool:
    """A screen worth confirming: its median growth reaches the threshold."""
    return bool(growth) and iterations > 0 and _median(growth) / iterations >= min_rate


def decide(
    screen: Sequence[int],
    screen_iterations: int,
    confirm: Optional[Sequence[int]],
    confirm_iterations: int,
    min_rate: float,
) -> Decision:
    """The decision for one quantity: the screen's growths, and the
    confirmation's (``None`` if it did not run)."""
    v = Decision(threshold=min_rate)
    if not screen or screen_iterations <= 0:
        return v
    v.screen_bytes_per_iteration = v.bytes_per_iteration = _median(screen) / screen_iterations
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
    """Names whose live count is above its baseline, with the excess."""
    return {k: v - baseline.get(k, 0) for k, v in sorted(now.items()) if v > baseline.get(k, 0)}
