"""The pytest plugin on real pytest runs (a subprocess each, in a temporary
project): every test is repeated whole, a leaking test fails naming its
line, a clean one passes, function-scoped fixtures are set up per iteration
(or once, by marker), what pytest itself accumulates per run (warnings,
report sections, finalizers of wider fixtures) is not counted, and the
markers are obeyed."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

import pytest  # noqa: F401  (the plugin's tests need pytest itself)

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFTEST = """
import pytest

@pytest.fixture(scope="module")
def shared():
    return {"n": 0}

@pytest.fixture
def fresh(shared):
    shared["n"] += 1
    return []
"""

TESTS = '''
import warnings
import pytest

KEPT = []

def test_clean():
    data = [bytearray(64) for _ in range(4)]
    del data

def test_leaks():
    KEPT.append(bytearray(100))

def test_fixture_per_iteration(fresh):
    fresh.extend(range(50))  # a new list every iteration: nothing kept

@pytest.mark.memtest_fixtures_once
def test_fixture_once_is_the_same_list(fresh):
    fresh.append(object())  # one list for every iteration: it grows

def test_warns_every_time():
    warnings.warn("again", UserWarning)

def test_prints(capsys):
    print("x" * 100)

@pytest.mark.memtest_skip("measures nothing")
def test_skipped_by_marker():
    KEPT.append(bytearray(100))

@pytest.mark.memtest_iterations(25)
def test_tuned():
    pass

def test_fails():
    assert 1 == 2
'''


def run_pytest(tmp, *args):
    env = dict(os.environ, PYTHONPATH=PACKAGE, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "memtest.pytest_plugin", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


class PluginTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        with open(os.path.join(cls.tmp, "conftest.py"), "w") as f:
            f.write(CONFTEST)
        with open(os.path.join(cls.tmp, "test_suite.py"), "w") as f:
            f.write(textwrap.dedent(TESTS))
        events = os.path.join(cls.tmp, "events.jsonl")
        with open(os.path.join(PACKAGE, "memtest", "protocol.json")) as f:
            schema = json.load(f)["schema"]
        run = {
            "schema": schema,
            "stage": "tracemalloc",
            "events": events,
            "check": {"iterations": 40, "rounds": 4, "warmup_rounds": 2, "confirm_rounds": 3, "c_heap": "off"},
        }
        with open(os.path.join(cls.tmp, "run.json"), "w") as f:
            json.dump(run, f)
        cls.proc = run_pytest(cls.tmp, "-rA", "--memtest-run=run.json", "test_suite.py")
        cls.ends = {}
        cls.results = {}
        with open(events) as f:
            for line in f:
                e = json.loads(line)
                name = e.get("test", "").split("::")[-1]
                if e["kind"] == "end":
                    cls.ends[name] = e
                elif e["kind"] == "result":
                    cls.results[name] = e

    def outcome(self, test):
        return self.ends[test]["outcome"]

    def test_a_clean_test_passes(self):
        self.assertEqual(self.outcome("test_clean"), "passed")

    def test_a_leaking_test_fails_naming_its_line(self):
        self.assertEqual(self.outcome("test_leaks"), "leaked")
        self.assertIn("FAILED test_suite.py::test_leaks", self.proc.stdout)
        line = textwrap.dedent(TESTS).splitlines().index("    KEPT.append(bytearray(100))") + 1
        self.assertTrue(self.results["test_leaks"]["top_sites"][0]["site"].endswith(f"test_suite.py:{line}"))

    def test_function_fixtures_are_set_up_per_iteration(self):
        self.assertEqual(self.outcome("test_fixture_per_iteration"), "passed")

    def test_fixtures_once_by_marker(self):
        self.assertEqual(self.outcome("test_fixture_once_is_the_same_list"), "leaked")

    def test_what_pytest_keeps_per_run_is_not_the_tests(self):
        # Warnings recorded and captured output of every iteration would grow.
        self.assertEqual(self.outcome("test_warns_every_time"), "passed")
        self.assertEqual(self.outcome("test_prints"), "passed")
        # And the warning is still reported once, from the normal run.
        self.assertIn("UserWarning: again", self.proc.stdout)

    def test_memtest_skip_runs_once_and_is_not_judged(self):
        self.assertEqual(self.outcome("test_skipped_by_marker"), "not_judged")
        self.assertNotIn("test_skipped_by_marker", self.results)

    def test_memtest_iterations(self):
        self.assertEqual(self.results["test_tuned"]["iterations"], 25)

    def test_a_failing_test_fails_as_itself(self):
        self.assertEqual(self.outcome("test_fails"), "failed")
        self.assertIn("assert 1 == 2", self.proc.stdout)

    def test_the_exit_code_is_pytests(self):
        self.assertEqual(self.proc.returncode, 1, self.proc.stdout[-2000:])


class ListingTests(unittest.TestCase):
    def test_the_listing_has_ids_paths_and_marks(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "test_m.py"), "w") as f:
                f.write(
                    "import pytest\n"
                    "@pytest.mark.memtest_own_process\n"
                    "def test_a(): pass\n"
                    "@pytest.mark.parametrize('x', [1, 2])\n"
                    "def test_b(x): pass\n"
                )
            proc = run_pytest(tmp, "--collect-only", "-q", "--memtest-list=tests.jsonl")
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(os.path.join(tmp, "tests.jsonl")) as f:
                rows = [json.loads(line) for line in f]
        self.assertEqual([r["id"] for r in rows], ["test_m.py::test_a", "test_m.py::test_b[1]", "test_m.py::test_b[2]"])
        self.assertTrue(rows[0]["own_process"])
        self.assertFalse(rows[1]["own_process"])
        self.assertTrue(all(r["path"].endswith("test_m.py") for r in rows))


if __name__ == "__main__":
    unittest.main()
