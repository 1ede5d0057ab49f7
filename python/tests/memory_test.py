"""Memory-leak tests of the sluice bindings: ``memory_test.MemoryLeakTests``.

``cargo xtask memtest`` runs them through memtest (``[tool.memtest]`` in the
root ``pyproject.toml``): once in-process with tracemalloc, once under
Valgrind with tracemalloc measurement off and a leak search after each
round. Each test creates and destroys bound objects repeatedly in the
patterns users really write and fails when memory grows (see
``memtest.check``) or when ``sluice.live_objects()`` does not come back to
its baseline. By hand, from ``python/tests`` with memtest's Python package on
the path: ``python -m unittest memory_test.MemoryLeakTests``.

To add a test: write a ``body()`` that does one iteration of the pattern and
leaves nothing behind, then ``self.churn(body)``. Keep bodies deterministic
(no threads, no randomness): the Valgrind stage judges growth round by round.
"""

import array
import unittest

import memtest
import memtest.valgrind
import sluice


def _signal(frames=32, channels=2):
    return array.array("f", [float(i % 7) - 3.0 for i in range(frames * channels)])


def _flat(block):
    """Every sample of a block, frame after frame: reading each one is what
    makes an uninitialised sample show (the bindings check what they hand
    to Python under Valgrind; these bodies check the values everywhere)."""
    return [x for frame in block.tolist() for x in frame]


ZEROS_64x2 = [[0.0, 0.0]] * 64
ZERO_BYTES_16x2 = bytes(16 * 2 * 4)


def _native_chain_reference(signal, pushes):
    """Gain(2) -> Offset(1) -> Clip(-4, 4) -> MovingAverage(3) over a mono
    signal pushed `pushes` times: what the last push returns (the average's
    history carries over), rounded to float32 as the core computes it."""
    history, out = [], []
    for _ in range(pushes):
        out = []
        for x in signal:
            history.append(min(max(2.0 * x + 1.0, -4.0), 4.0))
            last = history[-3:]
            out.append(array.array("f", [sum(last) / len(last)])[0])
    return out


EXPECTED_NATIVE = _native_chain_reference(_signal(), 3)


class Boom(Exception):
    pass


class MemoryLeakTests(memtest.LeakTestCase):
    live = staticmethod(sluice.live_objects)

    # -- blocks ---------------------------------------------------------------

    def test_block_create_copy_tolist(self):
        def body():
            b = sluice.Block(64, 2)
            c = b.copy()
            assert len(c) == 64 and c.channels == 2
            assert c.tolist() == ZEROS_64x2

        self.churn(body)

    def test_block_from_buffer(self):
        data = _signal()
        mono = array.array("f", [0.5] * 48)
        wrong = array.array("d", [0.5] * 8)

        def body():
            assert _flat(sluice.Block.from_buffer(data)) == list(data)
            sluice.Block.from_buffer(memoryview(data).cast("B").cast("f", (32, 2)))
            assert _flat(sluice.Block.from_buffer(mono)) == list(mono)
            try:
                sluice.Block.from_buffer(wrong)
            except (TypeError, ValueError):
                pass

        self.churn(body)

    def test_constructor_errors(self):
        def body():
            for make in (lambda: sluice.Block(-1), lambda: sluice.Block(4, 0),
                         lambda: sluice.MovingAverage(0), lambda: sluice.Clip(1.0, -1.0)):
                try:
                    make()
                except ValueError:
                    pass

        self.churn(body)

    # -- buffer exports -------------------------------------------------------

    def test_memoryview_export_release(self):
        block = sluice.Block(16, 2)

        def body():
            with memoryview(block) as view:
                assert view.shape == (16, 2)
                assert view.tobytes() == ZERO_BYTES_16x2
            m = memoryview(block)
            m2 = m[1:3]
            del m, m2

        self.churn(body)

    def test_view_outlives_block_and_pipeline(self):
        def body():
            p = sluice.Pipeline([sluice.Gain(2.0)])
            view = memoryview(p.push(sluice.Block.from_buffer(_signal(8, 1))))
            del p
            assert view.tolist() == [[2.0 * x] for x in _signal(8, 1)]
            view.release()

        self.churn(body)

    # numpy's import makes every later leak search about 7x slower (a much
    # larger heap to scan): under Valgrind this test gets a process of its own.
    @memtest.own_process
    def test_numpy_views(self):
        try:
            numpy = memtest.valgrind.import_quietly("numpy")
        except ImportError:
            self.skipTest("numpy is not installed")

        def body():
            b = sluice.Block(32, 2)
            a = numpy.asarray(b)
            a += 1.0
            v = a[::2, 1]
            del b
            assert float(v.sum()) == 16.0
            c = sluice.Block.from_buffer(numpy.ones((8, 2), dtype=numpy.float32))
            numpy.asarray(c).copy()

        self.churn(body, iterations=100)

    # -- pipelines ------------------------------------------------------------

    def test_pipeline_native_stages(self):
        block = sluice.Block.from_buffer(_signal())

        def body():
            p = sluice.Pipeline([sluice.Gain(2.0), sluice.Offset(1.0), sluice.Clip(-4.0, 4.0)])
            p.append(sluice.MovingAverage(3))
            for _ in range(3):
                out = p.push(block)
            p.reset()
            assert len(p) == 4
            assert _flat(out) == EXPECTED_NATIVE

        self.churn(body)

    def test_pipeline_callable_stages(self):
        block = sluice.Block.from_buffer(_signal())

        def body():
            scale = sluice.Gain(0.5)
            p = sluice.Pipeline([lambda b: b.copy(), scale, lambda b: None])
            p.append(lambda b: sluice.Block.from_buffer(memoryview(b)))
            assert _flat(p.push(block)) == [0.5 * x for x in _signal()]

        self.churn(body)

    def test_long_lived_pipeline_push(self):
        p = sluice.Pipeline([sluice.Gain(1.5), lambda b: b])
        block = sluice.Block(4, 1)

        def body():
            out = p.push(block)
            assert out.tolist() == [[0.0]] * 4
            del out

        self.churn(body)

    # -- subscriptions --------------------------------------------------------

    def test_subscribe_cancel(self):
        block = sluice.Block(4, 1)

        def body():
            p = sluice.Pipeline([sluice.Gain(2.0)])
            seen = []
            sub = p.subscribe(seen.append)
            p.push(block)
            sub.cancel()
            sub.cancel()  # idempotent
            p.push(block)
            assert len(seen) == 1 and not sub.active

        self.churn(body)

    def test_cancelled_callbacks_are_released(self):
        # A long-lived pipeline, short-lived subscribers: a callback the pipeline
        # keeps after cancel() grows memory every iteration.
        p = sluice.Pipeline([sluice.Offset(1.0)])
        block = sluice.Block(4, 1)

        def body():
            payload = [0] * 16
            sub = p.subscribe(lambda b: payload.append(len(b)))
            p.push(block)
            sub.cancel()

        self.churn(body)

    def test_subscription_context_manager(self):
        p = sluice.Pipeline()
        block = sluice.Block(2, 1)

        def body():
            got = []
            with p.subscribe(got.append):
                p.push(block)
            p.push(block)
            assert len(got) == 1

        self.churn(body)

    # -- cycles ---------------------------------------------------------------

    def test_cycle_through_callbacks(self):
        # The pipeline's callbacks close over the pipeline itself: only the
        # garbage collector (via __traverse__/__clear__) can free it.
        def body():
            p = sluice.Pipeline()
            p.append(lambda b: (p, b)[1])
            sub = p.subscribe(lambda b: (p, sub))
            p.push(sluice.Block(2, 1))

        self.churn(body)

    # -- exceptions thrown from callbacks in the middle of a push --------------

    def test_exception_in_callable_stage(self):
        block = sluice.Block.from_buffer(_signal(4, 1))

        def fail(b):
            raise Boom("stage")

        p = sluice.Pipeline([sluice.Gain(2.0), fail, sluice.Offset(1.0)])
        ok = sluice.Pipeline([sluice.Gain(2.0)])

        def body():
            try:
                p.push(block)
            except Boom:
                pass
            else:
                raise AssertionError("push did not raise")
            ok.push(block)

        self.churn(body)

    def test_exception_in_subscriber(self):
        block = sluice.Block(4, 1)

        def body():
            p = sluice.Pipeline([sluice.Gain(2.0)])
            p.subscribe(lambda b: None)

            def bad(b):
                raise Boom(b)

            sub = p.subscribe(bad)
            try:
                p.push(block)
            except Boom as e:
                assert e.args[0] is not None
            sub.cancel()
            p.push(block)

        self.churn(body)


if __name__ == "__main__":
    unittest.main()
