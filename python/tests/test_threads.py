"""Native stages run without the GIL, and nobody writes what they read."""

import struct
import sys
import threading
import time
import unittest

import numpy as np

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


class PushingThread:
    """A thread that pushes `block` through `pipeline` until the with-block ends."""

    def __init__(self, pipeline, block):
        self.pipeline, self.block = pipeline, block
        self.stop = threading.Event()
        self.outputs = []
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            self.outputs.append(np.asarray(self.pipeline.push(self.block)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(120)
        assert not self.thread.is_alive()
        return False


class WriterExclusion(unittest.TestCase):
    """A push reads its input without the GIL only while nobody can write to it."""

    def test_views_made_while_a_push_reads_the_block_are_read_only(self):
        block = sluice.Block(1 << 20, 2)
        pipeline = sluice.Pipeline([sluice.Gain(1.0), sluice.MovingAverage(8), sluice.Gain(2.0)])
        seen = set()
        with PushingThread(pipeline, block):
            deadline = time.monotonic() + 60
            while len(seen) < 3 and time.monotonic() < deadline:
                with memoryview(block) as view:
                    if view.readonly:
                        seen.add("memoryview read-only")
                        with self.assertRaises(TypeError):
                            view[0, 0] = 1.0
                array = np.asarray(block)
                if not array.flags.writeable:
                    seen.add("numpy read-only")
                del array
                try:
                    # Asks for a writable buffer (PyBUF_WRITABLE, format "w*"),
                    # and turns our BufferError into a TypeError.
                    struct.pack_into("f", block, 0, 0.0)
                except TypeError as e:
                    self.assertIn("read-write", str(e))
                    seen.add("writable request refused")
                time.sleep(0.0001)
        self.assertEqual(seen, {"memoryview read-only", "numpy read-only", "writable request refused"})
        # Once no push reads it, views are writable again.
        with memoryview(block) as view:
            self.assertFalse(view.readonly)
        self.assertTrue(np.asarray(block).flags.writeable)
        self.assertEqual(block.exports, 0)

    def test_a_block_with_a_writable_view_is_copied_with_the_gil_held(self):
        # Python code writes through the view while another thread pushes the
        # block: every output must be one whole state of the input, never a mix.
        frames = 1 << 20
        block = sluice.Block(frames, 1)
        states = [np.full(frames, value, np.float32).tobytes() for value in (0.0, 1.0)]
        with memoryview(block).cast("B") as raw:
            with PushingThread(sluice.Pipeline([sluice.Gain(1.0)]), block) as pusher:
                deadline = time.monotonic() + 60
                i = 0
                while len(pusher.outputs) < 40 and time.monotonic() < deadline:
                    raw[:] = states[i % 2]
                    i += 1
            self.assertFalse(raw.readonly, "a view made before the push stays writable")
        self.assertGreaterEqual(len(pusher.outputs), 40)
        torn = sum(1 for out in pusher.outputs if out.min() != out.max())
        self.assertEqual(torn, 0, f"{torn} of {len(pusher.outputs)} outputs mix two states of the input")

    def test_pushing_a_block_with_a_writable_view_gives_its_samples(self):
        block = sluice.Block(3, 1)
        view = memoryview(block)
        view[1, 0] = 4.0
        self.assertEqual(sluice.Pipeline([sluice.Gain(2.0)]).push(block).tolist(), [[0.0], [8.0], [0.0]])
        view[1, 0] = 1.0  # still writable
        self.assertEqual(block.tolist(), [[0.0], [1.0], [0.0]])

    def test_callables_in_the_push_may_write_to_its_input(self):
        # The core has read the input before it calls any stage or subscriber.
        block = sluice.Block(2, 1)

        def overwrite_input(given):
            array = np.asarray(block)
            self.assertTrue(array.flags.writeable)
            array[:] = 5.0

        out = sluice.Pipeline([sluice.Offset(1.0), overwrite_input]).push(block)
        self.assertEqual(out.tolist(), [[1.0], [1.0]])
        self.assertEqual(block.tolist(), [[5.0], [5.0]])


if __name__ == "__main__":
    unittest.main()
