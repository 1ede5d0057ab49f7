"""Pipeline: stages, push semantics, exceptions, subscriptions, re-entrancy."""

import traceback
import unittest

import numpy as np

import sluice


def ramp(frames, channels=1):
    data = np.arange(frames * channels, dtype=np.float32).reshape(frames, channels)
    return sluice.Block.from_buffer(data)


class Stages(unittest.TestCase):
    def test_constructor_and_append(self):
        pipeline = sluice.Pipeline()
        self.assertEqual(len(pipeline), 0)
        pipeline.append(sluice.Gain(2.0))
        pipeline.append(lambda block: None)
        self.assertEqual(len(pipeline), 2)
        self.assertEqual(len(sluice.Pipeline([sluice.Gain(1), sluice.Offset(1)])), 2)
        self.assertEqual(len(sluice.Pipeline(stages=(s for s in [sluice.Clip(0, 1)]))), 1)

    def test_non_stage_is_type_error(self):
        for bad in [3, "gain", None]:
            with self.subTest(bad=bad), self.assertRaises(TypeError) as ctx:
                sluice.Pipeline().append(bad)
            self.assertIn("callable", str(ctx.exception))
        with self.assertRaises(TypeError):
            sluice.Pipeline([sluice.Gain(1), 5])
        with self.assertRaises(TypeError):
            sluice.Pipeline(7)
        # The default is an empty tuple, as documented and in the stub: None is
        # not an iterable of stages.
        with self.assertRaises(TypeError):
            sluice.Pipeline(None)
        with self.assertRaises(TypeError):
            sluice.Pipeline(stages=None)

    def test_empty_pipeline_passes_a_copy(self):
        block = ramp(3)
        out = sluice.Pipeline().push(block)
        self.assertIsNot(out, block)
        self.assertEqual(out.tolist(), block.tolist())

    def test_stages_run_in_order_and_input_is_untouched(self):
        block = ramp(3)
        out = sluice.Pipeline([sluice.Offset(1.0), sluice.Gain(10.0)]).push(block)
        self.assertEqual(out.tolist(), [[10.0], [20.0], [30.0]])
        self.assertEqual(block.tolist(), [[0.0], [1.0], [2.0]])

    def test_push_needs_a_block(self):
        with self.assertRaises(TypeError):
            sluice.Pipeline().push([1.0, 2.0])


class CallableStages(unittest.TestCase):
    def test_returning_none_passes_the_block_on_including_in_place_changes(self):
        def double_in_place(block):
            np.asarray(block)[:] *= 2

        out = sluice.Pipeline([double_in_place, sluice.Offset(1.0)]).push(ramp(3))
        self.assertEqual(out.tolist(), [[1.0], [3.0], [5.0]])

    def test_returning_a_block_replaces_it_shape_included(self):
        def widen(block):
            return sluice.Block(len(block) + 1, 2)

        out = sluice.Pipeline([widen, sluice.Offset(0.5)]).push(ramp(2))
        self.assertEqual((out.frames, out.channels), (3, 2))
        self.assertEqual(out.tolist(), [[0.5, 0.5]] * 3)

    def test_stage_sees_a_block_between_native_stages(self):
        seen = []
        pipeline = sluice.Pipeline([sluice.Gain(3.0), lambda b: seen.append(b.tolist()), sluice.Gain(0.0)])
        pipeline.push(ramp(2))
        self.assertEqual(seen, [[[0.0], [3.0]]])

    def test_a_kept_block_is_not_changed_by_later_stages(self):
        kept = []
        pipeline = sluice.Pipeline([kept.append, sluice.Gain(0.0)])
        pipeline.push(ramp(2))
        self.assertEqual(kept[0].tolist(), [[0.0], [1.0]])

    def test_wrong_return_type_is_type_error(self):
        pipeline = sluice.Pipeline([lambda b: 42])
        with self.assertRaises(TypeError) as ctx:
            pipeline.push(ramp(1))
        self.assertIn("int", str(ctx.exception))

    def test_exception_propagates_as_the_same_object(self):
        error = KeyError("boom")

        def fail(block):
            raise error

        pipeline = sluice.Pipeline([sluice.Gain(2.0), fail])
        try:
            pipeline.push(ramp(2))
        except KeyError as caught:
            self.assertIs(caught, error)
            frames = [f.name for f in traceback.extract_tb(caught.__traceback__)]
            self.assertIn("fail", frames, "the traceback should reach the stage")
        else:
            self.fail("push did not raise")

    def test_pipeline_stays_usable_after_an_exception(self):
        calls = []

        def sometimes(block):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("first call fails")

        pipeline = sluice.Pipeline([sometimes, sluice.Gain(2.0)])
        with self.assertRaises(RuntimeError):
            pipeline.push(ramp(2))
        self.assertEqual(pipeline.push(ramp(2)).tolist(), [[0.0], [2.0]])

    def test_stages_can_use_other_pipelines(self):
        inner = sluice.Pipeline([sluice.Gain(10.0)])
        outer = sluice.Pipeline([inner.push, sluice.Offset(1.0)])
        self.assertEqual(outer.push(ramp(2)).tolist(), [[1.0], [11.0]])


class Subscriptions(unittest.TestCase):
    def test_subscriber_gets_the_output_object(self):
        got = []
        pipeline = sluice.Pipeline([sluice.Gain(2.0)])
        sub = pipeline.subscribe(got.append)
        out = pipeline.push(ramp(2))
        self.assertTrue(sub.active)
        self.assertEqual(len(got), 1)
        self.assertIs(got[0], out)

    def test_every_subscriber_in_order(self):
        order = []
        pipeline = sluice.Pipeline()
        pipeline.subscribe(lambda b: order.append("a"))
        pipeline.subscribe(lambda b: order.append("b"))
        pipeline.push(ramp(1))
        pipeline.push(ramp(1))
        self.assertEqual(order, ["a", "b", "a", "b"])

    def test_cancel_is_idempotent_and_stops_calls(self):
        got = []
        pipeline = sluice.Pipeline()
        sub = pipeline.subscribe(got.append)
        pipeline.push(ramp(1))
        sub.cancel()
        sub.cancel()
        self.assertFalse(sub.active)
        pipeline.push(ramp(1))
        self.assertEqual(len(got), 1)

    def test_with_statement_cancels_on_exit(self):
        got = []
        pipeline = sluice.Pipeline()
        with pipeline.subscribe(got.append) as sub:
            self.assertIsInstance(sub, sluice.Subscription)
            pipeline.push(ramp(1))
        self.assertFalse(sub.active)
        pipeline.push(ramp(1))
        self.assertEqual(len(got), 1)

    def test_with_statement_cancels_on_error_and_lets_it_through(self):
        pipeline = sluice.Pipeline()
        with self.assertRaises(ValueError):
            with pipeline.subscribe(lambda b: None) as sub:
                raise ValueError("inside")
        self.assertFalse(sub.active)

    def test_subscriber_exception_propagates_and_pipeline_stays_usable(self):
        error = ZeroDivisionError("sub")
        calls = []

        def fail_once(block):
            calls.append(block)
            if len(calls) == 1:
                raise error

        pipeline = sluice.Pipeline([sluice.Offset(1.0)])
        pipeline.subscribe(fail_once)
        with self.assertRaises(ZeroDivisionError) as ctx:
            pipeline.push(ramp(1))
        self.assertIs(ctx.exception, error)
        self.assertEqual(pipeline.push(ramp(1)).tolist(), [[1.0]])

    def test_non_callable_subscriber_is_type_error(self):
        with self.assertRaises(TypeError):
            sluice.Pipeline().subscribe(3)

    def test_cancel_from_inside_a_subscriber(self):
        got = []
        pipeline = sluice.Pipeline()
        holder = {}

        def once(block):
            got.append(block)
            holder["sub"].cancel()

        holder["sub"] = pipeline.subscribe(once)
        pipeline.push(ramp(1))
        pipeline.push(ramp(1))
        self.assertEqual(len(got), 1)

    def test_subscription_outliving_its_pipeline_is_inactive(self):
        pipeline = sluice.Pipeline()
        sub = pipeline.subscribe(lambda b: None)
        del pipeline
        self.assertFalse(sub.active)
        sub.cancel()


class ReEntrancy(unittest.TestCase):
    def test_changing_a_pipeline_from_its_own_push_is_an_error_not_a_deadlock(self):
        pipeline = sluice.Pipeline()
        attempts = {
            "append": lambda: pipeline.append(sluice.Gain(1.0)),
            "subscribe": lambda: pipeline.subscribe(print),
            "reset": lambda: pipeline.reset(),
            "push": lambda: pipeline.push(ramp(1)),
        }
        for name, attempt in attempts.items():
            with self.subTest(name=name):
                p = sluice.Pipeline()
                pipeline = p

                def stage(block, attempt=attempt):
                    attempt()

                p.append(stage)
                with self.assertRaises(RuntimeError) as ctx:
                    p.push(ramp(1))
                self.assertIn("own push", str(ctx.exception))
                p.append(sluice.Gain(1.0))  # still usable afterwards

    def test_len_works_inside_a_push(self):
        lengths = []
        pipeline = sluice.Pipeline()
        pipeline.append(lambda b: lengths.append(len(pipeline)))
        pipeline.push(ramp(1))
        self.assertEqual(lengths, [1])


class LiveObjects(unittest.TestCase):
    def test_counts_native_types(self):
        counts = sluice.live_objects()
        self.assertEqual(set(counts), {"Block", "Pipeline", "Stage", "Subscription"})
        before = sluice.live_objects()
        pipeline = sluice.Pipeline([sluice.Gain(1.0)])
        sub = pipeline.subscribe(print)
        block = sluice.Block(1)
        now = sluice.live_objects()
        self.assertEqual(now["Pipeline"] - before["Pipeline"], 1)
        self.assertEqual(now["Subscription"] - before["Subscription"], 1)
        self.assertEqual(now["Block"] - before["Block"], 1)
        # The Gain object's prototype was dropped; the pipeline owns a copy.
        self.assertEqual(now["Stage"] - before["Stage"], 1)
        del pipeline, sub, block
        self.assertEqual(sluice.live_objects(), before)


if __name__ == "__main__":
    unittest.main()
