"""What a test does besides calling code: imports, module re-executions,
forks and spawned processes, seen through ``sys.addaudithook``.

A test that imports or re-executes a module in every measured round
(re-importing an extension, ``importlib.reload``), forks, or spawns
processes is not a leak test: what such work keeps (a new module object,
its state, a child's pipes) grows by design. A check that recognises one
says so in its result instead of failing (``Result.not_a_leak_test``).
"""

from __future__ import annotations

import sys
from typing import Dict, List, Optional

_SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.posix_spawn", "os.spawn", "os.system", "os.exec", "os.startfile"}
)
_FORK_EVENTS = frozenset({"os.fork", "os.forkpty"})

# The one audit hook of this process (audit hooks cannot be removed): it
# records into the active Recorder, if any, and returns at once otherwise.
_active: Optional["Recorder"] = None
_installed = False


def _hook(event: str, args) -> None:
    rec = _active
    if rec is None:
        return
    if event == "import":
        rec.imports.append(str(args[0]))
    elif event == "exec":
        code = args[0] if args else None
        filename = getattr(code, "co_filename", "")
        if getattr(code, "co_name", None) == "<module>" and filename and not filename.startswith("<"):
            rec.module_execs.append(filename)
    elif event in _FORK_EVENTS:
        rec.forks += 1
    elif event in _SPAWN_EVENTS:
        rec.spawns.append(str(args[0]) if args else event)


class Recorder:
    """What happened while it was active (one per measured round)."""

    def __init__(self):
        self.imports: List[str] = []
        self.module_execs: List[str] = []
        self.forks = 0
        self.spawns: List[str] = []

    def __enter__(self) -> "Recorder":
        global _active, _installed
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
        _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        _active = None


def summary(rounds: List[Recorder]) -> Dict[str, object]:
    """The measured rounds' activity, for the result line."""
    return {
        "imports_per_round": [len(r.imports) for r in rounds],
        "module_execs_per_round": [len(r.module_execs) for r in rounds],
        "forks": sum(r.forks for r in rounds),
        "spawns": sum(len(r.spawns) for r in rounds),
        "examples": sorted({*(n for r in rounds for n in r.imports), *(f for r in rounds for f in r.module_execs)})[:5],
    }


def not_a_leak_test(rounds: List[Recorder]) -> Optional[str]:
    """Why the measured rounds are not a leak test's, or None."""
    if not rounds:
        return None
    forks = sum(r.forks for r in rounds)
    if forks:
        return f"forks ({forks} times in the measured rounds)"
    spawns = [s for r in rounds for s in r.spawns]
    if spawns:
        return f"spawns processes ({len(spawns)} in the measured rounds, e.g. {spawns[0]!r})"
    if all(r.imports or r.module_execs for r in rounds):
        names = sorted({*(n for r in rounds for n in r.imports), *(f for r in rounds for f in r.module_execs)})
        return f"imports or re-executes modules in every measured round ({', '.join(names[:3])})"
    return None
