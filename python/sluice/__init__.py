"""sluice: a C++ streaming core with leak-free Python bindings.

Blocks are frames x channels float32 arrays owned by the native core and
shared zero-copy through the buffer protocol (``memoryview(block)``,
``numpy.asarray(block)``). A ``Pipeline`` runs native stages without the GIL
and calls Python stages and subscribers with it.
"""

from sluice._native import (
    Block,
    Clip,
    Gain,
    MovingAverage,
    NativeStage,
    Offset,
    Pipeline,
    Subscription,
    live_objects,
)

__all__ = [
    "Block",
    "Clip",
    "Gain",
    "MovingAverage",
    "NativeStage",
    "Offset",
    "Pipeline",
    "Subscription",
    "live_objects",
]
