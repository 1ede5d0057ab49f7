"""The detection matrix's planted cases: ``planted_test.PlantedLeakTests``.

Each test churns a realistic use of one object of ``sluice._planted`` (built
only with the cargo feature ``planted-leaks``; see ``cargo xtask memtest
--planted`` and ``docs/memory-testing.md``) through ``memtest.check`` the
way ``memory_test.py`` does. Every planted case has exactly one deliberate bug,
so every test but the controls is *expected* to be caught by at least one
stage: a failing test here is the pipeline working. The controls, which no
stage may report: ``test_one_time_init`` (a lazily built table, allocated
once) and ``test_scratch_high_water`` (a scratch buffer grown to the largest
block seen, then reused: bounded).

Each case runs alone (``python -m unittest -k cpp_new planted_test``): the
matrix attributes what a stage finds to the one case its process ran.

Without the planted wheel (a normal build) the whole class is skipped.
"""

import array
import os
import unittest

import memtest
import sluice

try:
    from sluice import _planted as planted
except ImportError:  # a normal wheel: no planted defects
    planted = None

# Not part of the API: the `count-allocs` feature's counter of the Rust heap.
_rust_heap = getattr(sluice._native, "_rust_heap", None)


def _signal(frames=16, channels=2):
    return array.array("f", [float(i % 5) - 2.0 for i in range(frames * channels)])


def _flat(block):
    """Every sample of a block, frame after frame."""
    return [x for frame in block.tolist() for x in frame]


def _live():
    """``sluice.live_objects()`` plus, with ``SLUICE_RUST_HEAP=1`` and a
    ``count-allocs`` build, the Rust heap's blocks (the counting-allocator stage)."""
    counts = dict(sluice.live_objects())
    if _rust_heap is not None and os.environ.get("SLUICE_RUST_HEAP") == "1":
        counts["rust heap blocks"] = _rust_heap()[1]
    return counts


# memtest's runner writes the Valgrind baseline before the first test and asks
# for the last leak search after the last one (no setUpModule needed).


@unittest.skipIf(planted is None, "sluice was built without the planted-leaks feature")
class PlantedLeakTests(memtest.LeakTestCase):
    live = staticmethod(_live)

    def test_python_refcount(self):
        # Copying a block, as a stage would: the copy comes back with an extra reference.
        block = sluice.Block.from_buffer(_signal())

        def body():
            copy = planted.copy_with_extra_ref(block)
            assert len(copy) == len(block)
            copy.tolist()

        self.churn(body)

    def test_cross_cycle(self):
        # A pipeline whose callable stage closes over the pipeline (a cycle the
        # GC must break through __traverse__/__clear__, which are missing).
        def body():
            p = planted.UntracedPipeline()
            p.append(lambda b: (p, b))
            p.push(sluice.Block(4, 1))

        self.churn(body)

    def test_callback_kept(self):
        # A long-lived pipeline with short-lived subscribers, each cancelled.
        p = planted.KeepingPipeline()
        block = sluice.Block(4, 1)

        def body():
            payload = [0] * 16
            sub = p.subscribe(lambda b: payload.append(len(b)))
            p.push(block)
            sub.cancel()
            assert not sub.active

        self.churn(body)

    def test_buffer_export(self):
        # Views of a block, released (or dropped) right away.
        def body():
            with memoryview(planted.StickyBlock(32)) as view:
                assert view.shape == (32,)
                view.tobytes()

        self.churn(body)

    def test_cpp_new(self):
        # A C++ method that allocates a scratch buffer per call.
        def body():
            planted.cpp_leak_new(64)

        self.churn(body)

    def test_rust_leak(self):
        # A binding method that builds a Rust buffer per call.
        def body():
            assert planted.rust_leak(48) == 48

        self.churn(body)

    def test_invalid_read(self):
        # A C++ reduction over a block (a memory error, not a leak).
        block = sluice.Block.from_buffer(_signal(8, 1))

        def body():
            planted.read_past_end(block)

        self.churn(body)

    def test_uninit(self):
        # A C++ decision on a value never written (a memory error, not a leak).
        def body():
            planted.branch_on_uninitialised(3)

        self.churn(body)

    def test_one_time_init(self):
        # Control: lazily built tables (C++ and Rust), allocated once and kept.
        def body():
            assert planted.one_time_init() > 0

        self.churn(body)

    def test_growing_reachable(self):
        # A native logging function called on every output of a long-lived
        # pipeline; its C++ log (behind a static pointer) is never trimmed.
        p = sluice.Pipeline([sluice.Gain(2.0)])
        block = sluice.Block.from_buffer(_signal())
        expected = [2.0 * x for x in _flat(block)]

        def body():
            out = p.push(block)
            assert _flat(out) == expected
            assert planted.append_sample_log(out) >= len(expected)

        self.churn(body)

    def test_growth_freed_at_exit(self):
        # The same logging, into a C++ static object that is freed at exit.
        p = sluice.Pipeline([sluice.Gain(2.0)])
        block = sluice.Block.from_buffer(_signal())
        expected = [2.0 * x for x in _flat(block)]

        def body():
            out = p.push(block)
            assert _flat(out) == expected
            assert planted.append_static_sample_log(out) >= len(expected)

        self.churn(body)

    def test_scratch_high_water(self):
        # Control: a C++ median over blocks of several sizes in a static
        # scratch buffer, grown to the largest block seen and then reused.
        blocks = [sluice.Block.from_buffer(_signal(frames, 1)) for frames in (4, 32, 9)]
        medians = [sorted(_flat(b))[len(_flat(b)) // 2] for b in blocks]

        def body():
            for b, median in zip(blocks, medians):
                assert planted.median_with_scratch(b) == median

        self.churn(body)

    def test_uninit_output(self):
        # A native first stage (the push fuses copying the input with it, into
        # a block whose samples start uninitialised), then one in place.
        p = sluice.Pipeline([planted.PairwiseGain(2.0), sluice.Offset(1.0)])
        block = sluice.Block.from_buffer(_signal(15, 1))  # an odd number of samples
        expected = [2.0 * x + 1.0 for x in _flat(block)]

        def body():
            out = _flat(p.push(block))
            assert len(out) == len(expected)
            # The last sample is the one never written: its value is whatever
            # the memory held (natively, the previous output's last sample,
            # recycled by malloc, plus 1.0), so it is not checked: a value
            # check would catch this bug by chance, not the memory checks.
            assert out[:-1] == expected[:-1]

        self.churn(body)

    def test_rust_drops_cpp(self):
        # A binding function that reads a native snapshot of a block.
        block = sluice.Block.from_buffer(_signal())
        peak = max(abs(x) for x in _flat(block))

        def body():
            assert planted.snapshot_peak(block) == peak

        self.churn(body)

    def test_fd_leak(self):
        # A footprint probe after every push of a long-lived pipeline.
        p = sluice.Pipeline([sluice.Gain(2.0)])
        block = sluice.Block.from_buffer(_signal())
        expected = [2.0 * x for x in _flat(block)]

        def body():
            assert _flat(p.push(block)) == expected
            assert planted.resident_pages() > 0

        self.churn(body)

    def test_thread_leak(self):
        # Every output of a long-lived pipeline handed to a background writer.
        p = sluice.Pipeline([sluice.Gain(2.0)])
        block = sluice.Block.from_buffer(_signal())
        expected = [2.0 * x for x in _flat(block)]

        def body():
            out = p.push(block)
            assert _flat(out) == expected
            assert planted.start_flush_worker(out) >= 1

        self.churn(body)

    def test_subscriptions_kept(self):
        # A long-lived native fan-out with one long-lived subscriber and
        # short-lived ones, each cancelled.
        fanout = planted.Fanout()
        keeper = fanout.subscribe()
        block = sluice.Block.from_buffer(_signal())

        def body():
            sub = fanout.subscribe()
            assert fanout.publish(block) == 2
            sub.cancel()
            assert not sub.active and keeper.active
            assert fanout.publish(block) == 1

        self.churn(body)


if __name__ == "__main__":
    unittest.main()
