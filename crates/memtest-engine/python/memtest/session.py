"""One test process's part of a memtest run: the run description it was
given (or the defaults, outside the engine), the events it writes, the
Valgrind baseline before the first test and the last search after the last,
and each test between ``begin`` and ``end``. The pytest plugin and the
unittest runner drive it; ``LeakTestCase.churn`` checks through it."""

from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Callable, Dict, Mapping, Optional

from . import checker, protocol, valgrind
from .protocol import Config, Events, Run


class SessionError(RuntimeError):
    """The process cannot do what its run description asks (exit 2)."""


def platform_facts() -> Dict[str, object]:
    """What the engine reports about the interpreter that ran the tests."""
    import sysconfig  # here, not at import: slow under Valgrind

    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_enabled": True if is_gil_enabled is None else bool(is_gil_enabled()),
        "pid": os.getpid(),
        "under_valgrind": valgrind.running(),
        "client_requests": valgrind.supported(),
    }


def resolve(hook: Optional[str]) -> Optional[Callable[[], Mapping[str, int]]]:
    """``module:callable`` (or ``module.callable``) to the callable."""
    if not hook:
        return None
    module, _, attr = hook.partition(":") if ":" in hook else hook.rpartition(".")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise SessionError(f"live-objects hook {hook!r}: {e}") from None
    if not callable(obj):
        raise SessionError(f"live-objects hook {hook!r} is not callable")
    return obj


class Session:
    def __init__(self, run: Optional[Run]):
        self.run = run
        self.config = run.check if run else Config()
        self.events = Events(run.events if run else None)
        self.searches = run.searches if run else "none"
        self.checkpoints = self.searches == "rounds"
        self.live = resolve(run.live_objects) if run else None
        self.current: Optional[str] = None
        self._started = False

    @classmethod
    def from_environment(cls) -> "Session":
        return cls(protocol.current())

    def start(self, total: int) -> None:
        """Before the first test: the session event; under Valgrind, the baseline."""
        facts = platform_facts()
        facts["tests"] = total
        self.events.write("session", schema=protocol.SCHEMA, stage=self.run.stage if self.run else "tracemalloc", **facts)
        if self.searches != "none":
            if not valgrind.supported():
                raise SessionError(
                    "Valgrind leak searches need client requests, which this platform does not support "
                    "(x86-64 or AArch64 Linux)"
                )
            if not valgrind.running():
                raise SessionError("the run asks for Valgrind leak searches, but this process does not run under Valgrind")
            valgrind.baseline()
        self._started = True

    def finish(self) -> None:
        if self._started and self.searches != "none":
            valgrind.end()
        self.events.close()

    def begin(self, test_id: str, index: int, total: int) -> float:
        self.current = test_id
        self.events.write("begin", test=test_id, index=index, total=total)
        if valgrind.running():
            valgrind.test_begins(test_id)
        return time.perf_counter()

    def end(self, test_id: str, started: float, outcome: str, message: str = "") -> None:
        self.events.write(
            "end", test=test_id, outcome=outcome, seconds=round(time.perf_counter() - started, 3), message=message
        )
        self.current = None

    def check(
        self,
        body: Callable[[], object],
        name: str,
        test_id: Optional[str] = None,
        live: Optional[Callable[[], Mapping[str, int]]] = None,
        **overrides,
    ) -> checker.Result:
        """``checker.check`` with this run's settings, live-objects hook (or
        ``live``), events and (under Valgrind) checkpoints; ``overrides``
        change settings for this check (e.g. ``iterations``)."""
        config = self._config(overrides)
        marker_id = test_id or self.current or name

        def checkpoint(round_: int, iterations: int) -> None:
            valgrind.checkpoint(marker_id, round_, iterations)

        return checker.check(
            body,
            name=name,
            live=live or self.live,
            config=config,
            checkpoint=checkpoint if self.checkpoints else None,
            events=self.events,
            test=marker_id,
        )

    def _config(self, overrides: Dict[str, object]) -> Config:
        values = dict(vars(self.config))
        iterations = overrides.pop("iterations", None)
        if iterations is not None:
            # Under Valgrind the run's (small) iteration counts stay the ceiling.
            under_valgrind = self.run is not None and self.run.stage == "valgrind"
            values["iterations"] = min(int(iterations), values["iterations"]) if under_valgrind else int(iterations)
        for key, value in overrides.items():
            if key not in values:
                raise TypeError(f"unknown check setting {key!r}")
            values[key] = value
        return Config(**values).validate()


_session: Optional[Session] = None


def get() -> Session:
    """The process's session (made from the environment on first use)."""
    global _session
    if _session is None:
        _session = Session.from_environment()
    return _session


def set_current(session: Optional[Session]) -> None:
    global _session
    _session = session
