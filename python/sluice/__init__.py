"""sluice: a C++ streaming core with leak-free Python bindings.

Blocks are frames x channels float32 arrays owned by the native core and
shared zero-copy through the buffer protocol (``memoryview(block)``,
``numpy.asarray(block)``). A ``Pipeline`` runs native stages without the GIL
and calls Python stages and subscribers with it.
"""

# The extension's public names (Block, Pipeline, every native stage, ...), as
# its `__all__` lists them: a new stage needs no line here. Type checkers
# read both lines the same way (the stub `_native.pyi` declares `__all__`).
from sluice._native import *  # noqa: F403
from sluice._native import __all__
