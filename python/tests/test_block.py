"""Block: construction, errors, buffer export, zero-copy numpy sharing."""

import array
import gc
import unittest

import numpy as np

import sluice


class BlockConstruction(unittest.TestCase):
    def test_zero_filled_with_shape(self):
        block = sluice.Block(4, 3)
        self.assertEqual((block.frames, block.channels, len(block)), (4, 3, 4))
        self.assertEqual(block.tolist(), [[0.0] * 3] * 4)

    def test_default_one_channel(self):
        block = sluice.Block(5)
        self.assertEqual(block.channels, 1)
        self.assertEqual(block.tolist(), [[0.0]] * 5)

    def test_zero_frames_is_allowed(self):
        block = sluice.Block(0, 2)
        self.assertEqual(len(block), 0)
        self.assertEqual(block.tolist(), [])
        self.assertEqual(memoryview(block).shape, (0, 2))

    def test_bad_sizes_raise_value_error(self):
        for args in [(-1,), (3, 0), (3, -2), (-5, 1)]:
            with self.subTest(args=args), self.assertRaises(ValueError) as ctx:
                sluice.Block(*args)
            self.assertRegex(str(ctx.exception), "frames|channels")

    def test_huge_block_raises_value_error(self):
        with self.assertRaises(ValueError):
            sluice.Block(2**62, 4)

    def test_non_integer_sizes_raise_type_error(self):
        with self.assertRaises(TypeError):
            sluice.Block("3")
        with self.assertRaises(TypeError):
            sluice.Block(2.5)

    def test_copy_is_deep(self):
        block = sluice.Block(2, 2)
        memoryview(block)[0, 1] = 7.0
        copy = block.copy()
        memoryview(block)[0, 1] = 0.0
        self.assertEqual(copy.tolist(), [[0.0, 7.0], [0.0, 0.0]])

    def test_repr(self):
        self.assertEqual(repr(sluice.Block(2, 3)), "Block(frames=2, channels=3)")


class FromBuffer(unittest.TestCase):
    def test_one_dimensional_is_one_channel(self):
        block = sluice.Block.from_buffer(array.array("f", [1.0, 2.0, 3.0]))
        self.assertEqual((block.frames, block.channels), (3, 1))
        self.assertEqual(block.tolist(), [[1.0], [2.0], [3.0]])

    def test_two_dimensional_is_frames_by_channels(self):
        data = np.arange(6, dtype=np.float32).reshape(3, 2)
        block = sluice.Block.from_buffer(data)
        self.assertEqual((block.frames, block.channels), (3, 2))
        self.assertEqual(block.tolist(), data.tolist())

    def test_copies_rather_than_shares(self):
        data = np.zeros(4, dtype=np.float32)
        block = sluice.Block.from_buffer(data)
        data[0] = 9.0
        self.assertEqual(block.tolist()[0], [0.0])

    def test_from_another_block(self):
        source = sluice.Block(2, 2)
        memoryview(source)[1, 0] = 3.5
        self.assertEqual(sluice.Block.from_buffer(source).tolist(), source.tolist())

    def test_wrong_format_is_type_error_naming_float32(self):
        for data in [np.zeros(3, dtype=np.float64), np.zeros(3, dtype=np.int32), b"abcd"]:
            with self.subTest(dtype=getattr(data, "dtype", type(data))):
                with self.assertRaises(TypeError) as ctx:
                    sluice.Block.from_buffer(data)
                self.assertIn("float32", str(ctx.exception))

    def test_not_a_buffer_is_type_error(self):
        with self.assertRaises(TypeError) as ctx:
            sluice.Block.from_buffer([1.0, 2.0])
        self.assertIn("buffer", str(ctx.exception))

    def test_wrong_ndim_is_value_error(self):
        with self.assertRaises(ValueError) as ctx:
            sluice.Block.from_buffer(np.zeros((2, 2, 2), dtype=np.float32))
        self.assertIn("2-D", str(ctx.exception))

    def test_non_contiguous_is_value_error(self):
        data = np.zeros((4, 4), dtype=np.float32)[:, ::2]
        with self.assertRaises(ValueError) as ctx:
            sluice.Block.from_buffer(data)
        self.assertIn("contiguous", str(ctx.exception))

    def test_zero_channels_is_value_error(self):
        with self.assertRaises(ValueError):
            sluice.Block.from_buffer(np.zeros((3, 0), dtype=np.float32))

    def test_source_buffer_is_released(self):
        data = np.zeros(4, dtype=np.float32)
        sluice.Block.from_buffer(data)
        data.resize(8, refcheck=True)  # fails if a buffer export is still held

    def test_source_buffer_is_released_on_error(self):
        data = bytearray(12)
        with self.assertRaises(TypeError):
            sluice.Block.from_buffer(data)
        data.extend(b"x")  # BufferError if the export leaked


class BufferExport(unittest.TestCase):
    def test_memoryview_is_2d_float32_writable(self):
        block = sluice.Block(3, 2)
        view = memoryview(block)
        self.assertEqual(view.format, "f")
        self.assertEqual(view.ndim, 2)
        self.assertEqual(view.shape, (3, 2))
        self.assertEqual(view.strides, (8, 4))
        self.assertFalse(view.readonly)
        self.assertTrue(view.c_contiguous)
        view[2, 1] = 4.5
        self.assertEqual(block.tolist()[2], [0.0, 4.5])

    def test_numpy_shares_memory(self):
        block = sluice.Block(4, 2)
        a = np.asarray(block)
        b = np.asarray(block)
        self.assertEqual(a.dtype, np.float32)
        self.assertEqual(a.shape, (4, 2))
        self.assertTrue(np.shares_memory(a, b))
        a[3, 0] = -1.25
        self.assertEqual(block.tolist()[3], [-1.25, 0.0])
        self.assertEqual(b[3, 0], -1.25)

    def test_view_keeps_samples_valid_after_block_and_pipeline_are_gone(self):
        pipeline = sluice.Pipeline([sluice.Offset(2.0)])
        view = memoryview(pipeline.push(sluice.Block(3, 1)))
        del pipeline
        gc.collect()
        self.assertEqual(view.tolist(), [[2.0], [2.0], [2.0]])
        view[0, 0] = 1.0
        self.assertEqual(view[0, 0], 1.0)

    def test_exports_are_counted(self):
        block = sluice.Block(2)
        self.assertEqual(block.exports, 0)
        first = memoryview(block)
        second = np.asarray(block)
        self.assertEqual(block.exports, 2)
        first.release()
        self.assertEqual(block.exports, 1)
        del second
        gc.collect()
        self.assertEqual(block.exports, 0)

    def test_bytes_and_flat_views(self):
        block = sluice.Block(2, 2)
        memoryview(block)[0, 0] = 1.0
        self.assertEqual(len(bytes(block)), 16)
        self.assertEqual(memoryview(block).cast("B").nbytes, 16)
        self.assertEqual(np.frombuffer(block, dtype=np.float32)[0], 1.0)


if __name__ == "__main__":
    unittest.main()
