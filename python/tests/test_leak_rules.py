"""The three classic binding leaks, each shown impossible.

Each test here fails if its rule is broken: a Pipeline.__traverse__ that
forgets its callables, a cancel() that keeps the callable, a buffer export
that keeps its block.
"""

import gc
import sys
import unittest
import weakref

import numpy as np

import sluice


class Callback:
    """A callable that weakref can watch (functions can too; this is plainer)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, block):
        self.calls += 1


class NoAutomaticGc(unittest.TestCase):
    """Rules about immediate release must hold by refcount alone."""

    def setUp(self):
        gc.collect()
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.baseline = sluice.live_objects()

    def tearDown(self):
        if self.was_enabled:
            gc.enable()
        gc.collect()


class CrossLanguageCycles(unittest.TestCase):
    def assert_collected(self, make):
        gc.collect()
        baseline = sluice.live_objects()
        ref = make()
        self.assertIsNotNone(ref(), "the pipeline should still be alive before collection")
        gc.collect()
        self.assertIsNone(ref(), "gc.collect() did not free a pipeline in a cycle")
        self.assertEqual(sluice.live_objects(), baseline)

    def test_stage_closing_over_its_pipeline(self):
        def make():
            pipeline = sluice.Pipeline([sluice.Gain(2.0)])
            pipeline.append(lambda block: len(pipeline) and None)
            pipeline.push(sluice.Block(2))
            return weakref.ref(pipeline)

        self.assert_collected(make)

    def test_subscriber_closing_over_its_pipeline_and_subscription(self):
        def make():
            pipeline = sluice.Pipeline()
            state = {}
            state["sub"] = pipeline.subscribe(lambda block: (pipeline, state))
            pipeline.push(sluice.Block(1))
            return weakref.ref(pipeline)

        self.assert_collected(make)

    def test_bound_method_of_an_owner_object(self):
        class Owner:
            def __init__(self):
                self.pipeline = sluice.Pipeline([self.stage])
                self.sub = self.pipeline.subscribe(self.on_output)

            def stage(self, block):
                return None

            def on_output(self, block):
                self.last = block

        def make():
            owner = Owner()
            owner.pipeline.push(sluice.Block(1))
            return weakref.ref(owner.pipeline)

        self.assert_collected(make)

    def test_pipeline_is_tracked_by_gc_and_reports_its_callables(self):
        stage = Callback()
        pipeline = sluice.Pipeline([stage])
        self.assertTrue(gc.is_tracked(pipeline))
        self.assertIn(stage, gc.get_referents(pipeline))


class CallbacksAreReleased(NoAutomaticGc):
    def test_cancel_drops_the_reference_at_once(self):
        callback = Callback()
        pipeline = sluice.Pipeline()
        before = sys.getrefcount(callback)
        sub = pipeline.subscribe(callback)
        self.assertEqual(sys.getrefcount(callback), before + 1)
        pipeline.push(sluice.Block(1))
        sub.cancel()
        self.assertEqual(sys.getrefcount(callback), before)
        watcher = weakref.ref(callback)
        del callback
        self.assertIsNone(watcher(), "cancel() left the callback alive")

    def test_with_block_drops_the_reference_on_exit(self):
        callback = Callback()
        watcher = weakref.ref(callback)
        pipeline = sluice.Pipeline()
        with pipeline.subscribe(callback):
            pipeline.push(sluice.Block(1))
        del callback
        self.assertIsNone(watcher())
        self.assertIsNotNone(pipeline)

    def test_dropping_the_pipeline_drops_stages_and_subscribers(self):
        stage, subscriber = Callback(), Callback()
        watchers = [weakref.ref(stage), weakref.ref(subscriber)]
        pipeline = sluice.Pipeline([stage])
        sub = pipeline.subscribe(subscriber)
        pipeline.push(sluice.Block(1))
        self.assertEqual((stage.calls, subscriber.calls), (1, 1))
        del stage, subscriber
        self.assertTrue(all(w() is not None for w in watchers))
        del pipeline
        self.assertEqual([w() for w in watchers], [None, None])
        self.assertFalse(sub.active)
        del sub
        self.assertEqual(sluice.live_objects(), self.baseline)

    def test_a_live_subscription_does_not_keep_the_pipeline_callables(self):
        subscriber = Callback()
        watcher = weakref.ref(subscriber)
        pipeline = sluice.Pipeline()
        sub = pipeline.subscribe(subscriber)
        del subscriber, pipeline
        self.assertIsNone(watcher())
        self.assertFalse(sub.active)

    def test_failing_push_releases_everything(self):
        def fail(block):
            raise ValueError("no")

        pipeline = sluice.Pipeline([sluice.Gain(1.0), fail])
        before = sluice.live_objects()
        for _ in range(10):
            with self.assertRaises(ValueError):
                pipeline.push(sluice.Block(8, 2))
        self.assertEqual(sluice.live_objects(), before)


class BufferViewsAreReleased(NoAutomaticGc):
    def test_block_is_freed_when_the_last_view_is_released(self):
        block = sluice.Block(16, 2)
        first, second = memoryview(block), memoryview(block)
        del block
        self.assertEqual(sluice.live_objects()["Block"], self.baseline["Block"] + 1)
        first.release()
        self.assertEqual(sluice.live_objects()["Block"], self.baseline["Block"] + 1)
        second[15, 1] = 1.0  # still valid
        second.release()
        self.assertEqual(sluice.live_objects(), self.baseline)

    def test_numpy_views_release_the_block(self):
        block = sluice.Block(8, 2)
        array = np.asarray(block)
        sliced = array[2:4]
        del block, array
        self.assertEqual(sluice.live_objects()["Block"], self.baseline["Block"] + 1)
        self.assertEqual(sliced.shape, (2, 2))
        del sliced
        self.assertEqual(sluice.live_objects(), self.baseline)

    def test_exports_count_returns_to_zero(self):
        block = sluice.Block(4)
        views = [memoryview(block) for _ in range(5)]
        self.assertEqual(block.exports, 5)
        for view in views:
            view.release()
        self.assertEqual(block.exports, 0)

    def test_views_of_pushed_blocks_outlive_the_pipeline(self):
        pipeline = sluice.Pipeline([sluice.Offset(1.0)])
        view = memoryview(pipeline.push(sluice.Block(4)))
        del pipeline
        self.assertEqual(view.tolist(), [[1.0]] * 4)
        view.release()
        self.assertEqual(sluice.live_objects(), self.baseline)


if __name__ == "__main__":
    unittest.main()
