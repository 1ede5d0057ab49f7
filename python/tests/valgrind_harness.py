"""What the leak-test suites tell Valgrind, through sluice's client requests.

Under Valgrind (``cargo xtask memtest``'s second stage) each test writes a
marker before it (``<clientmsg>`` in the XML), and after its warm-up and
after each measured round a checkpoint marker followed by a leak search that
lists what changed since the previous one (``VALGRIND_DO_CHANGED_LEAK_CHECK``).
Before the first test a baseline marker and a quiet search (it lists
nothing) make the first checkpoint list only what the tests changed; after
the last test one more changed search lists what happened after the last
checkpoint. vgxml-judge attributes records to tests by the markers and
judges growth by allocation site across each test's checkpoints. The
prefixes are xtask's protocol (``xtask/src/stage/valgrind.rs``). Outside
Valgrind every call is a no-op.

``SLUICE_MEMTEST_LEAK_SEARCHES=0`` turns the searches off (faster; no growth
judged).
"""

import gc
import importlib
import os
import unittest

import leakcheck
from sluice import _native

TEST_MARKER_PREFIX = "sluice-test-begin: "
CHECKPOINT_PREFIX = "sluice-checkpoint: "
LEAK_SEARCHES = os.environ.get("SLUICE_MEMTEST_LEAK_SEARCHES", "1") != "0"


def own_process(test):
    """Marks a test that xtask's Valgrind stage runs in a process of its own
    (e.g. because what it imports makes the other tests' leak searches slow)."""
    test.own_process = True
    return test


def import_quietly(name):
    """``importlib.import_module(name)``, then a quiet leak search: what the
    import allocated is not listed by the test's first checkpoint (it is not
    the test's doing, and a big import would fill the report)."""
    module = importlib.import_module(name)
    if _searching():
        gc.collect()
        _native._valgrind_quick_leak_check()
    return module


def _searching():
    return _native._valgrind_running() and LEAK_SEARCHES


def baseline():
    """Before the first test (a suite's ``setUpModule``): what start-up and
    imports allocated is no test's; a lost block that no later search lists
    was allocated before the tests and never changed (one-time)."""
    if _searching():
        gc.collect()
        _native._valgrind_marker(CHECKPOINT_PREFIX + "baseline")
        _native._valgrind_quick_leak_check()


def after_tests():
    """After the last test (``tearDownModule``): what changed after the last
    checkpoint is listed too, so only what no search listed is one-time."""
    if _searching():
        gc.collect()
        _native._valgrind_marker(CHECKPOINT_PREFIX + "end")
        _native._valgrind_changed_leak_check()


class LeakTestCase(unittest.TestCase):
    """A test case whose ``churn(body)`` is ``leakcheck.check`` with the
    Valgrind markers and checkpoints."""

    #: The live-object counter ``leakcheck`` compares with its baseline.
    live = None

    def setUp(self):
        if _native._valgrind_running():
            _native._valgrind_marker(TEST_MARKER_PREFIX + self.id())

    def _checkpoint(self, label):
        # leakcheck's labels ("warmup", "round 1", ...) as the judge's round
        # numbers: 0 for the warm-up, then 1, 2, ...
        round_ = 0 if label == "warmup" else int(label.rsplit(" ", 1)[-1])
        _native._valgrind_marker(f"{CHECKPOINT_PREFIX}{round_} {self.id()}")
        _native._valgrind_changed_leak_check()

    def churn(self, body, **config):
        cfg = leakcheck.Config.from_env(**config)
        leakcheck.check(
            body,
            name=self.id().rsplit(".", 1)[-1],
            live=type(self).live,
            config=cfg,
            checkpoint=self._checkpoint if _searching() else None,
        )
