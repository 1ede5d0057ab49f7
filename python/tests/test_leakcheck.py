"""Tests of the leak-check helper (``leakcheck``) itself: it must catch a real
leak, stay quiet on a clean body, and see native-object counts."""

import json
import os
import tempfile
import tracemalloc
import unittest
from unittest import mock

import leakcheck
from leakcheck import Config, LeakError, check, growth_verdict, live_delta

FAST = dict(iterations=50, rounds=3, warmup_rounds=1)


class GrowthVerdictTests(unittest.TestCase):
    def test_growth_every_round_is_a_leak(self):
        leaking, per_it = growth_verdict([800, 816, 800], 100, 4.0)
        self.assertTrue(leaking)
        self.assertEqual(per_it, 8.0)

    def test_one_quiet_round_is_noise(self):
        self.assertFalse(growth_verdict([800, 0, 800], 100, 4.0)[0])
        self.assertFalse(growth_verdict([800, -64, 800], 100, 4.0)[0])

    def test_tiny_steady_growth_is_below_threshold(self):
        self.assertFalse(growth_verdict([100, 100, 100], 100, 4.0)[0])

    def test_empty(self):
        self.assertEqual(growth_verdict([], 100, 4.0), (False, 0.0))


class LiveDeltaTests(unittest.TestCase):
    def test_only_growth_is_reported(self):
        self.assertEqual(live_delta({"Block": 2, "Pipeline": 1}, {"Block": 5, "Pipeline": 0}), {"Block": 3})

    def test_new_type_counts_from_zero(self):
        self.assertEqual(live_delta({}, {"Stage": 2}), {"Stage": 2})


class CheckTests(unittest.TestCase):
    def test_clean_body_passes(self):
        def body():
            data = [bytearray(64) for _ in range(4)]
            del data

        res = check(body, name="clean", config=Config(**FAST))
        self.assertTrue(res.ok)
        self.assertEqual(len(res.growth_bytes), 3)

    def test_python_leak_is_caught_and_located(self):
        sink = []

        def body():
            sink.append(bytearray(100))

        with self.assertRaises(LeakError) as cm:
            check(body, name="leaky", config=Config(**FAST))
        res = cm.exception.result
        self.assertTrue(res.leaking)
        self.assertGreaterEqual(res.bytes_per_iteration, 100)
        self.assertIn("test_leakcheck.py", res.top_sites[0]["site"])
        self.assertIn("top allocation sites by growth", str(cm.exception))

    def test_native_object_count_growth_is_caught(self):
        counter = {"Block": 0}

        def body():
            counter["Block"] += 1  # a "native object" that is never freed

        with self.assertRaises(LeakError) as cm:
            check(body, name="native", live=lambda: dict(counter), config=Config(**FAST))
        self.assertEqual(cm.exception.result.live_leaking, {"Block": 150})
        self.assertIn("Block +150", str(cm.exception))

    def test_measurement_off_still_checks_live_objects(self):
        sink = []
        res = check(lambda: sink.append(object()), name="off", config=Config(tracemalloc=False, **FAST))
        self.assertTrue(res.ok)  # no measurement: Python growth is not judged
        self.assertEqual(res.growth_bytes, [])
        self.assertFalse(tracemalloc.is_tracing())

    def test_results_are_appended_as_json_lines(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "results.jsonl")
            check(lambda: None, name="a", config=Config(results_path=path, **FAST))
            check(lambda: None, name="b", config=Config(results_path=path, **FAST))
            with open(path, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
        self.assertEqual([r["name"] for r in rows], ["a", "b"])
        self.assertTrue(all(r["ok"] for r in rows))

    def test_tracing_is_left_as_found(self):
        tracemalloc.start()
        try:
            check(lambda: None, name="t", config=Config(**FAST))
            self.assertTrue(tracemalloc.is_tracing())
        finally:
            tracemalloc.stop()


class ConfigTests(unittest.TestCase):
    def test_from_env(self):
        env = {
            leakcheck.ENV_ITERATIONS: "7",
            leakcheck.ENV_ROUNDS: "2",
            leakcheck.ENV_WARMUP: "1",
            leakcheck.ENV_TRACEMALLOC: "0",
            leakcheck.ENV_RESULTS: "/tmp/x.jsonl",
        }
        with mock.patch.dict(os.environ, env):
            cfg = Config.from_env()
        self.assertEqual((cfg.iterations, cfg.rounds, cfg.warmup_rounds), (7, 2, 1))
        self.assertFalse(cfg.tracemalloc)
        self.assertEqual(cfg.results_path, "/tmp/x.jsonl")

    def test_bad_values_are_rejected(self):
        with mock.patch.dict(os.environ, {leakcheck.ENV_ITERATIONS: "lots"}):
            with self.assertRaises(ValueError):
                Config.from_env()
        with mock.patch.dict(os.environ, {leakcheck.ENV_ROUNDS: "0"}):
            with self.assertRaises(ValueError):
                Config.from_env()


if __name__ == "__main__":
    unittest.main()
