"""What a test asks of memtest, the same for unittest and pytest: the
decorators below for unittest test methods, and the pytest markers of the
same names (``@pytest.mark.memtest_skip(reason)``, ...), registered by the
plugin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

# The pytest markers (also the keys a unittest test method carries).
SKIP = "memtest_skip"
OWN_PROCESS = "memtest_own_process"
ITERATIONS = "memtest_iterations"
FIXTURES_ONCE = "memtest_fixtures_once"

HELP = {
    SKIP: "memtest_skip(reason): not a leak test (it re-imports modules, forks, measures time, ...): "
    "run it once, normally, and say why in the report",
    OWN_PROCESS: "memtest_own_process: under Valgrind, run this test in a process of its own "
    "(e.g. what it imports would make every later leak search slower)",
    ITERATIONS: "memtest_iterations(n): iterations per round for this test (fewer for a slow test)",
    FIXTURES_ONCE: "memtest_fixtures_once: set the test's function-scoped fixtures up once, not per "
    "iteration (only the test function is repeated)",
}


@dataclass
class Marks:
    skip: Optional[str] = None
    own_process: bool = False
    iterations: Optional[int] = None
    fixtures_once: bool = False

    def listing(self) -> dict:
        return {"skip": self.skip, "own_process": self.own_process, "iterations": self.iterations}


def _mark(fn: Callable, key: str, value) -> Callable:
    marks = dict(getattr(fn, "__memtest__", {}))
    marks[key] = value
    fn.__memtest__ = marks
    return fn


def skip(reason: str) -> Callable[[Callable], Callable]:
    """Not a leak test: runs once, normally; the report says why."""
    return lambda fn: _mark(fn, SKIP, reason)


def own_process(fn: Callable) -> Callable:
    """Under Valgrind, a process of its own."""
    return _mark(fn, OWN_PROCESS, True)


def iterations(n: int) -> Callable[[Callable], Callable]:
    """Iterations per round for this test."""
    if int(n) < 1:
        raise ValueError(f"iterations must be >= 1, got {n}")
    return lambda fn: _mark(fn, ITERATIONS, int(n))


def of_function(fn) -> Marks:
    m = getattr(fn, "__memtest__", {})
    return Marks(m.get(SKIP), bool(m.get(OWN_PROCESS)), m.get(ITERATIONS), bool(m.get(FIXTURES_ONCE)))
