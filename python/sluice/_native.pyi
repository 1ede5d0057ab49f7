from typing import Callable, Dict, Iterable, Optional, Union, final

from typing_extensions import Buffer, Self, disjoint_base

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

@final
class Block:
    """A frames x channels block of float32 samples, frame-major, owned by the core."""

    def __new__(cls, frames: int, channels: int = 1) -> Self: ...
    @staticmethod
    def from_buffer(obj: Buffer) -> Block:
        """Copy a C-contiguous float32 buffer: 1-D is one channel, 2-D is (frames, channels)."""
    @property
    def frames(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def exports(self) -> int:
        """Number of buffer views currently exported."""
    def __len__(self) -> int: ...
    def copy(self) -> Block: ...
    def tolist(self) -> list[list[float]]: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

@disjoint_base
class NativeStage:
    """Base class of the stages that run in native code without the GIL."""

# The native stages: one class per row of sluice-core's stage table.

@final
class Gain(NativeStage):
    def __new__(cls, factor: float) -> Self: ...
    @property
    def factor(self) -> float: ...

@final
class Offset(NativeStage):
    def __new__(cls, value: float) -> Self: ...
    @property
    def value(self) -> float: ...

@final
class Clip(NativeStage):
    def __new__(cls, lo: float, hi: float) -> Self: ...
    @property
    def lo(self) -> float: ...
    @property
    def hi(self) -> float: ...

@final
class MovingAverage(NativeStage):
    def __new__(cls, window: int) -> Self: ...
    @property
    def window(self) -> int: ...

# A stage argument: a native stage or a callable f(Block) -> Block | None.
# Only for type checkers (not at run time).
_StageLike = Union[NativeStage, Callable[[Block], Optional[Block]]]

@final
class Subscription:
    @property
    def active(self) -> bool: ...
    def cancel(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> bool: ...

@final
class Pipeline:
    def __new__(cls, stages: Iterable[_StageLike] = ()) -> Self: ...
    def append(self, stage: _StageLike) -> None: ...
    def __len__(self) -> int: ...
    def reset(self) -> None: ...
    def push(self, block: Block) -> Block: ...
    def subscribe(self, callback: Callable[[Block], object]) -> Subscription: ...

def live_objects() -> Dict[str, int]: ...
