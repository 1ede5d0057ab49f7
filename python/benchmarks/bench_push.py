"""Benchmark: per-call overhead of Pipeline.push and Gain throughput vs numpy.

Run with `cargo xtask bench` (builds the release wheel into the venv first),
or by hand with an installed sluice: `python python/benchmarks/bench_push.py`.
Prints numbers; asserts nothing.
"""

import argparse
import json
import sys
import timeit

import numpy as np

import sluice


def best_per_call(stmt, number, repeat):
    """Best of `repeat` runs of `number` calls, in seconds per call."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="pushes per timing run (overhead)")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs; the best is reported")
    parser.add_argument("--frames", type=int, default=1 << 20, help="frames of the throughput block")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)

    tiny = sluice.Block(1)
    gain = sluice.Pipeline([sluice.Gain(1.5)])
    empty = sluice.Pipeline()
    push_ns = best_per_call(lambda: gain.push(tiny), args.calls, args.repeat) * 1e9
    empty_ns = best_per_call(lambda: empty.push(tiny), args.calls, args.repeat) * 1e9
    len_ns = best_per_call(lambda: len(gain), args.calls, args.repeat) * 1e9

    data = np.random.default_rng(1).standard_normal(args.frames).astype(np.float32)
    block = sluice.Block.from_buffer(data)
    factor = np.float32(1.5)
    big_calls = max(1, 200_000_000 // (args.frames * 4))
    mb = args.frames * 4 / 1e6
    sluice_s = best_per_call(lambda: gain.push(block), big_calls, args.repeat)
    numpy_s = best_per_call(lambda: data * factor, big_calls, args.repeat)
    out = np.empty_like(data)
    numpy_inplace_s = best_per_call(lambda: np.multiply(data, factor, out=out), big_calls, args.repeat)
    np.testing.assert_allclose(np.asarray(gain.push(block))[:, 0], data * factor, rtol=1e-6)

    results = {
        "python": sys.version.split()[0],
        "push_1frame_gain_ns": round(push_ns, 1),
        "push_1frame_empty_pipeline_ns": round(empty_ns, 1),
        "len_pipeline_ns": round(len_ns, 1),
        "gain_frames": args.frames,
        "sluice_gain_mb_s": round(mb / sluice_s, 1),
        "numpy_multiply_mb_s": round(mb / numpy_s, 1),
        "numpy_multiply_out_mb_s": round(mb / numpy_inplace_s, 1),
        "sluice_vs_numpy": round(numpy_s / sluice_s, 3),
    }
    if args.json:
        print(json.dumps(results))
        return
    print(f"push, 1-frame block, one Gain stage:  {push_ns:8.1f} ns/call")
    print(f"push, 1-frame block, empty pipeline:  {empty_ns:8.1f} ns/call")
    print(f"len(pipeline) (call floor):           {len_ns:8.1f} ns/call")
    print(f"Gain on {args.frames} frames (push, new block): {mb / sluice_s:8.1f} MB/s")
    print(f"numpy data * factor (new array):      {mb / numpy_s:8.1f} MB/s")
    print(f"numpy multiply(out=...) (in place):   {mb / numpy_inplace_s:8.1f} MB/s")
    print(f"sluice / numpy (new array):           {numpy_s / sluice_s:8.3f}x")


if __name__ == "__main__":
    main()
