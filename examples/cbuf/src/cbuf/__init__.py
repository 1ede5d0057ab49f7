"""cbuf: a growable byte buffer and a string joiner, in C."""

from cbuf._cbuf import Buffer, join

__all__ = ["Buffer", "join"]
