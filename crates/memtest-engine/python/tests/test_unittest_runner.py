"""The unittest runner: a plain TestCase's test is repeated whole (setUp,
test, tearDown), a LeakTestCase's test runs once and checks what it churns,
failures stay failures, marks are listed and obeyed."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODULE = '''
import unittest
import memtest

KEPT = []

class Plain(unittest.TestCase):
    def setUp(self):
        self.scratch = [0] * 100  # new every iteration: nothing kept

    def test_clean(self):
        self.scratch.append(1)

    def test_leaks(self):
        KEPT.append(bytearray(100))

    def test_fails(self):
        self.assertEqual(1, 2)

    @memtest.skip("not a leak test")
    def test_marked(self):
        KEPT.append(bytearray(100))

    @memtest.own_process
    @memtest.iterations(25)
    def test_tuned(self):
        pass


class Explicit(memtest.LeakTestCase):
    def test_churns(self):
        self.churn(lambda: bytearray(10))
'''


def run(tmp, *args):
    env = dict(os.environ, PYTHONPATH=PACKAGE, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "memtest", "unittest", *args],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600,
    )


class RunnerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        with open(os.path.join(cls.tmp, "test_mod.py"), "w") as f:
            f.write(textwrap.dedent(MODULE))
        with open(os.path.join(PACKAGE, "memtest", "protocol.json")) as f:
            schema = json.load(f)["schema"]
        listing = run(cls.tmp, "list", "test_mod")
        cls.listed = [json.loads(line) for line in listing.stdout.splitlines()]
        events = os.path.join(cls.tmp, "events.jsonl")
        with open(os.path.join(cls.tmp, "run.json"), "w") as f:
            json.dump(
                {
                    "schema": schema,
                    "stage": "tracemalloc",
                    "events": events,
                    "check": {"iterations": 40, "rounds": 4, "warmup_rounds": 2, "confirm_rounds": 3, "c_heap": "off"},
                    "tests": [t["id"] for t in cls.listed],
                },
                f,
            )
        cls.proc = run(cls.tmp, "run", "run.json")
        cls.ends, cls.results = {}, {}
        with open(events) as f:
            for line in f:
                e = json.loads(line)
                if e["kind"] == "end":
                    cls.ends[e["test"].rsplit(".", 1)[-1]] = e["outcome"]
                elif e["kind"] == "result":
                    cls.results[e["test"].rsplit(".", 1)[-1]] = e

    def test_listing(self):
        by_id = {t["id"].rsplit(".", 1)[-1]: t for t in self.listed}
        self.assertEqual(len(by_id), 6)
        self.assertEqual(by_id["test_marked"]["skip"], "not a leak test")
        self.assertTrue(by_id["test_tuned"]["own_process"])
        self.assertEqual(by_id["test_tuned"]["iterations"], 25)

    def test_outcomes(self):
        self.assertEqual(
            self.ends,
            {
                "test_clean": "passed",
                "test_leaks": "leaked",
                "test_fails": "failed",
                "test_marked": "not_judged",
                "test_tuned": "passed",
                "test_churns": "passed",
            },
        )

    def test_a_plain_test_is_repeated_whole_and_named(self):
        self.assertIn("test_mod.py", self.results["test_leaks"]["top_sites"][0]["site"])
        self.assertEqual(self.results["test_tuned"]["iterations"], 25)

    def test_the_explicit_check_names_itself(self):
        self.assertEqual(self.results["test_churns"]["name"], "test_churns")

    def test_the_exit_code_and_log_are_unittests(self):
        self.assertEqual(self.proc.returncode, 1)
        self.assertIn("test_fails (test_mod.Plain.test_fails)", self.proc.stderr)


if __name__ == "__main__":
    unittest.main()
