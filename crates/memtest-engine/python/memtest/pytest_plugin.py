"""The pytest plugin: every selected test is a leak test.

``pytest --memtest`` runs each test in the rounds of the fast stage (warm-up,
screen, confirmation) with the defaults; under the memtest command (which
passes ``--memtest-run``) it follows the run description, under Valgrind
between checkpoints. One iteration is the whole test: its function-scoped
fixtures are set up and torn down every iteration (``memtest_fixtures_once``
sets them up once and repeats only the call). Module-, class- and
session-scoped fixtures are set up once. After the check the test runs once
more, normally: that run's reports are the ones pytest shows, with a leak
turned into a failure of the test. ``memtest_skip(reason)`` runs a test once,
normally; ``memtest_iterations(n)`` and ``memtest_own_process`` tune it.
``--memtest-list=FILE`` writes the collected tests and their marks as JSON
lines (the engine's planning).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import List, Optional

import pytest

from . import marks as _marks
from . import protocol
from .checker import LeakError
from .session import Session, SessionError, set_current

try:  # the runner's building blocks (stable since pytest 6)
    from _pytest.runner import call_and_report, runtestprotocol
except ImportError:  # pragma: no cover
    call_and_report = runtestprotocol = None


def pytest_addoption(parser):
    group = parser.getgroup("memtest", "memtest: leak-test every selected test")
    group.addoption(
        "--memtest",
        action="store_true",
        help="repeat every selected test in warm-up and measured rounds and fail those whose memory, "
        "descriptors, threads or live native objects grow",
    )
    group.addoption(
        "--memtest-run",
        metavar="FILE",
        help="the memtest command's run description (implies --memtest)",
    )
    group.addoption("--memtest-list", metavar="FILE", help="write the collected tests and their memtest marks to FILE")


def pytest_configure(config):
    for name, text in _marks.HELP.items():
        config.addinivalue_line("markers", text)
    run_file = config.getoption("memtest_run") or os.environ.get(protocol.ENV_RUN)
    if run_file:
        run = protocol.load(run_file)
    elif config.getoption("memtest"):
        run = None
    else:
        return
    try:
        session = Session(run)
    except SessionError as e:
        raise pytest.UsageError(f"memtest: {e}") from None
    config.pluginmanager.register(_Runner(session), "memtest-runner")


def _marks_of(item) -> _marks.Marks:
    skip = item.get_closest_marker(_marks.SKIP)
    iterations = item.get_closest_marker(_marks.ITERATIONS)
    return _marks.Marks(
        skip=(skip.args[0] if skip.args else skip.kwargs.get("reason", "marked memtest_skip")) if skip else None,
        own_process=item.get_closest_marker(_marks.OWN_PROCESS) is not None,
        iterations=int(iterations.args[0]) if iterations and iterations.args else None,
        fixtures_once=item.get_closest_marker(_marks.FIXTURES_ONCE) is not None,
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    path = session.config.getoption("memtest_list")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as f:
        for item in session.items:
            path = str(getattr(item, "path", None) or item.fspath)
            f.write(json.dumps({"id": item.nodeid, "path": path, **_marks_of(item).listing()}, sort_keys=True) + "\n")


class _Runner:
    def __init__(self, session: Session):
        self.session = session
        self.index = 0
        self.total = 0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        run = self.session.run
        if run is None or not run.tests:
            return
        order = {t: i for i, t in enumerate(run.tests)}
        kept = [it for it in items if it.nodeid in order]
        missing = set(order) - {it.nodeid for it in kept}
        if missing:
            raise pytest.UsageError(f"memtest: tests not collected: {', '.join(sorted(missing)[:5])}")
        kept.sort(key=lambda it: order[it.nodeid])
        deselected = [it for it in items if it.nodeid not in order]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = kept

    def pytest_runtestloop(self, session):
        self.total = len(session.items)
        if session.config.option.collectonly:
            return None
        set_current(self.session)
        try:
            self.session.start(self.total)
        except SessionError as e:
            raise pytest.UsageError(f"memtest: {e}") from None
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.session.finish()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        index = self.index
        self.index += 1
        m = _marks_of(item)
        started = self.session.begin(item.nodeid, index, self.total)
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        leak: Optional[LeakError] = None
        stopped: List = []
        if m.skip is None:
            try:
                self.session.check(
                    lambda: _iteration(item, m.fixtures_once),
                    name=item.nodeid,
                    test_id=item.nodeid,
                    iterations=m.iterations,
                )
            except _Stop as stop:
                stopped = stop.reports
            except LeakError as e:
                leak = e
            finally:
                _release(item)
        # The test once more, normally: its reports are what pytest shows (an
        # iteration that failed or skipped replaces the same phase's report).
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
        for bad in stopped:
            reports = [bad if r.when == bad.when and r.passed else r for r in reports]
        outcome = "not_judged" if m.skip is not None else "passed"
        if any(r.failed for r in reports):
            outcome = "failed"
        elif any(r.skipped for r in reports):
            outcome = "skipped"
        elif leak is not None:
            outcome = "leaked"
            for r in reports:
                if r.when == "call":
                    r.outcome = "failed"
                    r.longrepr = f"memtest: {leak}"
        for r in reports:
            item.ihook.pytest_runtest_logreport(report=r)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        self.session.end(item.nodeid, started, outcome, m.skip or (str(leak) if leak else ""))
        return True


class _Stop(Exception):
    """An iteration's setup or call did not pass: the check stops."""

    def __init__(self, reports: List):
        super().__init__()
        self.reports = [r for r in reports if not r.passed]


def _iteration(item, fixtures_once: bool) -> None:
    """One iteration: the test with its function-scoped fixtures (set up, and
    torn down to the test's parent, which stays), its warnings and report
    sections dropped: they would accumulate, and are not the test's memory."""
    kept = _finalizer_counts(item)
    with warnings.catch_warnings(record=True):
        if fixtures_once:
            reports = _call_only(item)
        else:
            reports = runtestprotocol(item, log=False, nextitem=item.parent)
    item._report_sections.clear()
    _trim_finalizers(kept)
    if not all(r.passed for r in reports):
        raise _Stop(reports)


def _call_only(item) -> List:
    """``memtest_fixtures_once``: set up at the first iteration (kept until
    :func:`_release`), then only the call."""
    if not getattr(item, "_memtest_set_up", False):
        rep = call_and_report(item, "setup", log=False)
        if not rep.passed:
            return [rep]
        item._memtest_set_up = True
    return [call_and_report(item, "call", log=False)]


def _release(item) -> None:
    """Tears down what ``memtest_fixtures_once`` kept set up."""
    if getattr(item, "_memtest_set_up", False):
        item._memtest_set_up = False
        call_and_report(item, "teardown", log=False, nextitem=item.parent)
        item._request = False
        item.funcargs = None


def _finalizer_counts(item) -> List[tuple]:
    """The finalizer lists of the fixtures above the test's scope, and their
    lengths: a function-scoped fixture that uses one registers a finalizer on
    it at every setup, which would grow with the iterations."""
    out = []
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for d in defs:
            fins = getattr(d, "_finalizers", None)
            if isinstance(fins, list) and getattr(d, "scope", "function") != "function":
                out.append((fins, len(fins)))
    return out


def _trim_finalizers(kept: List[tuple]) -> None:
    for fins, n in kept:
        del fins[n:]
