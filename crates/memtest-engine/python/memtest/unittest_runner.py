"""The unittest runner of a memtest run.

``python -m memtest unittest list [-k PATTERN]... NAME...`` prints one
JSON line per test (id and what its marks ask; no names: discovery in the
current directory); ``python -m memtest unittest run RUN.json`` runs the
tests the run description names. A
plain ``TestCase``'s test is repeated whole (``setUp``, the test,
``tearDown``) as the leak check's body; a :class:`~memtest.LeakTestCase`'s
test runs once and checks what it churns. unittest's verbose log goes to
stderr."""

from __future__ import annotations

import json
import sys
import unittest
from typing import Iterator, List

from . import marks as _marks
from . import protocol
from .checker import LeakError
from .session import Session, SessionError, set_current


def _walk(suite) -> Iterator[unittest.TestCase]:
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _walk(t)
        else:
            yield t


def _method(case: unittest.TestCase):
    return getattr(case, getattr(case, "_testMethodName", ""), None)


def _load(names: List[str], patterns: List[str]):
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in patterns]
    suite = loader.loadTestsFromNames(names) if names else loader.discover(".")
    if loader.errors:
        raise SessionError("cannot load the tests:\n" + "\n".join(loader.errors))
    return suite


def list_tests(names: List[str], patterns: List[str]) -> None:
    for case in _walk(_load(names, patterns)):
        m = _marks.of_function(_method(case))
        print(json.dumps({"id": case.id(), **m.listing()}, sort_keys=True))


class _Collecting(unittest.TestResult):
    """One iteration's result, keeping the exception info to hand on."""

    def __init__(self):
        super().__init__()
        self.problem = None  # ("failure" | "error", exc_info)
        self.skip_reason = None

    def addFailure(self, test, err):
        self.problem = self.problem or ("failure", err)

    def addError(self, test, err):
        self.problem = self.problem or ("error", err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self.problem = self.problem or (kind, err)

    def addSkip(self, test, reason):
        self.skip_reason = reason


class _Stop(Exception):
    """An iteration failed or skipped: the check stops."""

    def __init__(self, outcome: _Collecting):
        super().__init__()
        self.outcome = outcome


def _instrument(case: unittest.TestCase, session: Session, index: int, total: int) -> None:
    original = case.run
    explicit = getattr(case, "memtest_explicit", False)
    m = _marks.of_function(_method(case))

    def run(result=None):
        started = session.begin(case.id(), index, total)
        if explicit or m.skip is not None or getattr(case, "__unittest_skip__", False):
            before = (len(result.failures), len(result.errors), len(result.skipped))
            original(result)
            failures = result.failures[before[0] :] + result.errors[before[1] :]
            if failures:
                # A check that found a leak raised LeakError: the test leaked, it did not fail.
                leaked = all(LeakError.__name__ in text for _, text in failures)
                outcome, message = ("leaked" if leaked else "failed"), failures[0][1].strip().splitlines()[-1]
            elif len(result.skipped) != before[2]:
                outcome, message = "skipped", result.skipped[-1][1]
            else:
                outcome, message = ("not_judged", m.skip) if m.skip else ("passed", "")
            session.end(case.id(), started, outcome, message)
            return result

        def body():
            r = _Collecting()
            original(r)
            if r.problem is not None or r.skip_reason is not None:
                raise _Stop(r)

        result.startTest(case)
        outcome, message = "passed", ""
        try:
            session.check(body, name=case.id(), test_id=case.id(), iterations=m.iterations)
        except _Stop as stop:
            o = stop.outcome
            if o.skip_reason is not None:
                result.addSkip(case, o.skip_reason)
                outcome, message = "skipped", o.skip_reason
            else:
                kind, err = o.problem
                (result.addFailure if kind == "failure" else result.addError)(case, err)
                outcome, message = "failed", str(err[1])
        except LeakError as e:
            result.addFailure(case, sys.exc_info())
            outcome, message = "leaked", str(e)
        else:
            result.addSuccess(case)
        finally:
            result.stopTest(case)
            session.end(case.id(), started, outcome, message)
        return result

    case.run = run


def run_tests(run_file: str) -> int:
    session = Session(protocol.load(run_file))
    set_current(session)
    suite = _load(session.run.tests, [])
    cases = list(_walk(suite))
    for i, case in enumerate(cases):
        _instrument(case, session, i, len(cases))
    session.start(len(cases))
    try:
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(suite)
    finally:
        session.finish()
    return 0 if result.wasSuccessful() else 1


def main(argv: List[str]) -> int:
    try:
        if argv[:1] == ["list"]:
            patterns, names, rest = [], [], argv[1:]
            while rest:
                if rest[0] == "-k" and len(rest) > 1:
                    patterns.append(rest[1])
                    rest = rest[2:]
                else:
                    names.append(rest.pop(0))
            list_tests(names, patterns)
            return 0
        if len(argv) == 2 and argv[0] == "run":
            return run_tests(argv[1])
    except SessionError as e:
        print(f"memtest: {e}", file=sys.stderr)
        return 2
    print("usage: python -m memtest unittest list [-k PATTERN]... [NAME...] | run RUN.json", file=sys.stderr)
    return 2
