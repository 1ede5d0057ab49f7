"""What the memtest engine and this package tell each other.

The engine (Rust) starts a test process with one environment variable,
``protocol.json``'s ``env_run``, naming a *run description*: a JSON file that
says which stage runs, how every check runs (:class:`Config`), whether
Valgrind leak searches are asked for, the live-objects hook, which tests, and
where to append the *events* this package writes back (one JSON object per
line, ``kind`` first): ``session`` when the process starts, ``begin`` and
``end`` around every test, and ``result`` for every check. Strings and
defaults both sides need live in ``protocol.json`` only; ``python -m
memtest.protocol --echo FILE`` reads a run description and writes it back,
and ``--sample-result`` writes a result with every field set, which the
engine's round-trip test compares with its own types.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

_HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(_HERE, "protocol.json"), encoding="utf-8") as _f:
    PROTOCOL: Dict[str, Any] = json.load(_f)

SCHEMA: int = PROTOCOL["schema"]
ENV_RUN: str = PROTOCOL["env_run"]
TEST_MARKER: str = PROTOCOL["markers"]["test"]
CHECKPOINT_MARKER: str = PROTOCOL["markers"]["checkpoint"]
BASELINE_LABEL: str = PROTOCOL["markers"]["baseline"]
END_LABEL: str = PROTOCOL["markers"]["end"]
_DEFAULTS: Dict[str, Any] = PROTOCOL["defaults"]

STAGES = ("tracemalloc", "valgrind", "lsan")
# Leak searches a Valgrind run asks for: none; one before the first test and
# one after the last ("process"); also after each test's warm-up and rounds.
SEARCHES = ("none", "process", "rounds")
C_HEAP_MODES = ("judge", "record", "off")


class ProtocolError(ValueError):
    """A run description this package cannot follow (names the field)."""


def _default(name: str):
    return field(default=_DEFAULTS[name])


@dataclass
class Config:
    """How one check runs and decides (defaults: ``protocol.json``)."""

    iterations: int = _default("iterations")
    # When the warm-up's first round takes longer than this, fewer iterations
    # per round (not under min_iterations): a whole pytest test is an
    # iteration too. 0: always ``iterations``.
    round_seconds: float = _default("round_seconds")
    min_iterations: int = _default("min_iterations")
    rounds: int = _default("rounds")
    warmup_rounds: int = _default("warmup_rounds")
    # Measured round k runs iterations * round_growth**k (measurement off only).
    round_growth: int = _default("round_growth")
    # The confirmation of a suspicious screen: more rounds, each longer.
    confirm_rounds: int = _default("confirm_rounds")
    confirm_factor: int = _default("confirm_factor")
    tracemalloc: bool = _default("tracemalloc")
    # C heap (glibc mallinfo2): "judge", "record" or "off".
    c_heap: str = _default("c_heap")
    min_python_bytes_per_iteration: float = _default("min_python_bytes_per_iteration")
    min_c_heap_bytes_per_iteration: float = _default("min_c_heap_bytes_per_iteration")
    # File descriptors and threads back to where they were.
    resources: bool = _default("resources")
    thread_grace_seconds: float = _default("thread_grace_seconds")
    frames: int = _default("frames")
    top: int = _default("top")
    # Empty CPython's caches (type, regex, ...) before every reading, as
    # regrtest -R does between its runs.
    clear_caches: bool = _default("clear_caches")

    def validate(self) -> "Config":
        for name in ("iterations", "min_iterations", "rounds", "warmup_rounds", "round_growth", "confirm_factor", "frames", "top"):
            if getattr(self, name) < 1:
                raise ProtocolError(f"check.{name} must be >= 1, got {getattr(self, name)}")
        if self.round_seconds < 0:
            raise ProtocolError(f"check.round_seconds must be >= 0, got {self.round_seconds}")
        if self.confirm_rounds < 0:
            raise ProtocolError(f"check.confirm_rounds must be >= 0, got {self.confirm_rounds}")
        if self.c_heap not in C_HEAP_MODES:
            raise ProtocolError(f"check.c_heap={self.c_heap!r}: expected one of {', '.join(C_HEAP_MODES)}")
        if self.round_growth != 1 and self.tracemalloc:
            raise ProtocolError(
                f"check.round_growth={self.round_growth} needs check.tracemalloc=false: "
                "the growth rule compares rounds of equal length"
            )
        return self


@dataclass
class Run:
    """A run description: what the engine asks of one test process."""

    schema: int
    stage: str
    # The JSON-lines file events are appended to.
    events: str
    check: Config = field(default_factory=Config)
    # Valgrind leak searches (``SEARCHES``); under Valgrind a marker before
    # each test is written whatever this says (see ``memtest.valgrind``).
    searches: str = "none"
    # ``module:callable`` returning ``{name: count}`` of live native objects,
    # which must come back to their baseline after a check.
    live_objects: Optional[str] = None
    # Test ids to run, in order (empty: the ones the runner was given).
    tests: List[str] = field(default_factory=list)
    # pytest's own arguments (options and paths) for this process.
    pytest_args: List[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Run":
        _no_unknown(cls, data, "")
        if data.get("schema") != SCHEMA:
            raise ProtocolError(
                f"run description schema {data.get('schema')!r}, this memtest package reads {SCHEMA}: "
                "the memtest command and the memtest Python package are of different versions"
            )
        check = dict(data.get("check") or {})
        _no_unknown(Config, check, "check.")
        run = cls(**{k: v for k, v in data.items() if k != "check"}, check=Config(**check).validate())
        if run.stage not in STAGES:
            raise ProtocolError(f"stage={run.stage!r}: expected one of {', '.join(STAGES)}")
        if run.searches not in SEARCHES:
            raise ProtocolError(f"searches={run.searches!r}: expected one of {', '.join(SEARCHES)}")
        return run

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def _no_unknown(cls, data: Dict[str, Any], prefix: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProtocolError(f"unknown run description field(s): {', '.join(prefix + u for u in unknown)}")


def current() -> Optional[Run]:
    """The run description the engine gave this process, or None."""
    path = os.environ.get(ENV_RUN)
    if not path:
        return None
    return load(path)


def load(path: str) -> Run:
    with open(path, encoding="utf-8") as f:
        return Run.from_json(json.load(f))


class Events:
    """Appends events to the run's events file (line-buffered: the engine
    follows it while the process runs, for progress and for what a crash
    interrupted)."""

    def __init__(self, path: Optional[str]):
        self._f = open(path, "a", encoding="utf-8", buffering=1) if path else None

    def write(self, kind: str, **data: Any) -> None:
        if self._f is None:
            return
        self._f.write(json.dumps({"kind": kind, **data}, sort_keys=True) + "\n")

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
