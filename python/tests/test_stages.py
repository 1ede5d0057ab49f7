"""Native stages: results, argument checks, streaming MovingAverage."""

import unittest

import numpy as np

import sluice


def block_of(rows):
    return sluice.Block.from_buffer(np.asarray(rows, dtype=np.float32))


def run(stage, rows):
    return sluice.Pipeline([stage]).push(block_of(rows)).tolist()


class NativeStages(unittest.TestCase):
    def test_gain(self):
        self.assertEqual(run(sluice.Gain(2.5), [[1.0, -2.0]]), [[2.5, -5.0]])
        self.assertEqual(sluice.Gain(2.5).factor, 2.5)

    def test_offset(self):
        self.assertEqual(run(sluice.Offset(-1.0), [[1.0], [3.0]]), [[0.0], [2.0]])
        self.assertEqual(sluice.Offset(-1.0).value, -1.0)

    def test_clip(self):
        self.assertEqual(run(sluice.Clip(-1.0, 1.0), [[-5.0, 0.5, 9.0]]), [[-1.0, 0.5, 1.0]])
        self.assertEqual(run(sluice.Clip(2.0, 2.0), [[0.0, 5.0]]), [[2.0, 2.0]])
        clip = sluice.Clip(-1.0, 1.0)
        self.assertEqual((clip.lo, clip.hi), (-1.0, 1.0))

    def test_moving_average_first_frames_average_what_was_seen(self):
        rows = [[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]]
        self.assertEqual(
            run(sluice.MovingAverage(2), rows),
            [[0.0, 10.0], [0.5, 15.0], [1.5, 25.0], [2.5, 35.0]],
        )
        self.assertEqual(sluice.MovingAverage(2).window, 2)

    def test_native_stages_share_a_base_class(self):
        for stage in [sluice.Gain(1), sluice.Offset(0), sluice.Clip(0, 1), sluice.MovingAverage(1)]:
            self.assertIsInstance(stage, sluice.NativeStage)

    def test_reprs(self):
        self.assertEqual(repr(sluice.Gain(2)), "Gain(2)")
        self.assertEqual(repr(sluice.MovingAverage(3)), "MovingAverage(3)")

    def test_bad_arguments_raise_value_error(self):
        cases = [
            lambda: sluice.Clip(1.0, 0.0),
            lambda: sluice.Clip(float("nan"), 1.0),
            lambda: sluice.MovingAverage(0),
            lambda: sluice.MovingAverage(-3),
            lambda: sluice.Gain(float("inf")),
            lambda: sluice.Gain(float("nan")),
            lambda: sluice.Offset(float("-inf")),
        ]
        for i, make in enumerate(cases):
            with self.subTest(case=i), self.assertRaises(ValueError):
                make()

    def test_wrong_argument_types_raise_type_error(self):
        with self.assertRaises(TypeError):
            sluice.Gain("2")
        with self.assertRaises(TypeError):
            sluice.MovingAverage(2.5)


class StreamingMovingAverage(unittest.TestCase):
    def test_one_block_or_many_give_the_same_output(self):
        rng = np.random.default_rng(7)
        signal = rng.standard_normal((997, 3)).astype(np.float32)
        whole = sluice.Pipeline([sluice.MovingAverage(16)]).push(sluice.Block.from_buffer(signal))
        for sizes in [[1] * 50, [7, 13, 1, 100], [500, 497]]:
            with self.subTest(sizes=sizes[:4]):
                pipeline = sluice.Pipeline([sluice.MovingAverage(16)])
                pieces, start = [], 0
                while start < len(signal):
                    for size in sizes:
                        chunk = signal[start : start + size]
                        if len(chunk):
                            pieces.append(np.asarray(pipeline.push(sluice.Block.from_buffer(chunk))))
                        start += size
                np.testing.assert_array_equal(np.concatenate(pieces), np.asarray(whole))

    def test_matches_a_reference_moving_average(self):
        signal = np.arange(20, dtype=np.float32)
        out = np.asarray(sluice.Pipeline([sluice.MovingAverage(4)]).push(sluice.Block.from_buffer(signal)))
        expected = [signal[max(0, i - 3) : i + 1].mean() for i in range(20)]
        np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6)

    def test_reset_clears_history(self):
        pipeline = sluice.Pipeline([sluice.MovingAverage(3)])
        pipeline.push(block_of([[9.0], [9.0]]))
        pipeline.reset()
        self.assertEqual(pipeline.push(block_of([[3.0]])).tolist(), [[3.0]])

    def test_state_belongs_to_each_pipeline(self):
        stage = sluice.MovingAverage(2)
        a, b = sluice.Pipeline([stage]), sluice.Pipeline([stage])
        a.push(block_of([[10.0]]))
        self.assertEqual(b.push(block_of([[2.0]])).tolist(), [[2.0]])

    def test_channel_change_needs_reset(self):
        pipeline = sluice.Pipeline([sluice.MovingAverage(2)])
        pipeline.push(sluice.Block(2, 1))
        with self.assertRaises(ValueError) as ctx:
            pipeline.push(sluice.Block(2, 2))
        self.assertIn("reset", str(ctx.exception))
        pipeline.reset()
        pipeline.push(sluice.Block(2, 2))


if __name__ == "__main__":
    unittest.main()
