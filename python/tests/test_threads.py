"""Native stages run without the GIL."""

import sys
import threading
import unittest

import sluice


class GilRelease(unittest.TestCase):
    def test_two_threads_push_through_native_stages_at_once(self):
        # With a switch interval far longer than the test, a thread gives up
        # the GIL only when it blocks or releases it itself. Both threads can
        # then be inside push() together only if push releases the GIL.
        big = sluice.Block(1 << 20, 2)
        pipelines = [sluice.Pipeline([sluice.Gain(1.0001), sluice.Offset(0.5)]) for _ in range(2)]
        state = {"inside": 0, "peak": 0}
        start = threading.Barrier(2)

        def worker(pipeline):
            start.wait()
            for _ in range(15):
                state["inside"] += 1
                state["peak"] = max(state["peak"], state["inside"])
                pipeline.push(big)
                state["inside"] -= 1

        old = sys.getswitchinterval()
        sys.setswitchinterval(1000.0)
        try:
            threads = [threading.Thread(target=worker, args=(p,)) for p in pipelines]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            sys.setswitchinterval(old)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(state["peak"], 2, "pushes never overlapped: push holds the GIL")

    def test_concurrent_pushes_into_one_pipeline_are_serialised_safely(self):
        pipeline = sluice.Pipeline([sluice.MovingAverage(4), sluice.Gain(2.0)])
        outputs = []

        def worker():
            for _ in range(50):
                outputs.append(pipeline.push(sluice.Block(256, 2)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(outputs), 200)
        self.assertTrue(all(o.tolist()[0] == [0.0, 0.0] for o in outputs))


if __name__ == "__main__":
    unittest.main()
