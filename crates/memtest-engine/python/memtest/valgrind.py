"""Valgrind client requests from Python, with nothing compiled: no extension
module of the project under test is needed to ask for a leak search.

A client request is a fixed instruction sequence that does nothing natively
and that Valgrind's JIT recognises (``valgrind.h``). This module writes that
sequence, wrapped as a function ``request(args, default)``, into an
executable page and calls it through ctypes; outside Valgrind the call
returns ``default``. x86-64 and AArch64 (Linux) are supported; elsewhere
:func:`supported` is False and every request returns its default.

The checkpoint protocol the engine's judge reads (prefixes in
``protocol.json``): before each test ``<test marker> <test id>``; after a
test's warm-up and after each measured round ``<checkpoint marker>
<round>:<iterations> <test id>`` followed by a leak search that lists the
loss records that changed since the previous search; before the first test
``<checkpoint marker> baseline`` and a quiet search (it lists nothing, and
becomes the reference of the first changed-leak search); after the last
test ``<checkpoint marker> end`` and one more changed-leak search.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import mmap
import os
import sys
from typing import Optional

from . import protocol

# The request function: arguments in the platform's first two argument
# registers (a pointer to six words: request, arg1..arg5; the default).
_CODE = {
    # mov rax, rdi; mov rdx, rsi; the preamble (rol rdi by 3, 13, 61, 51);
    # xchg rbx, rbx (rdx = request(rax)); mov rax, rdx; ret
    "x86_64": bytes.fromhex("4889f8" "4889f2" "48c1c703" "48c1c70d" "48c1c73d" "48c1c733" "4887db" "4889d0" "c3"),
    # mov x4, x0; mov x3, x1; the preamble (ror x12 by 3, 13, 51, 61);
    # orr x10, x10, x10 (x3 = request(x4)); mov x0, x3; ret
    "aarch64": b"".join(
        w.to_bytes(4, "little")
        for w in (
            0xAA0003E4,
            0xAA0103E3,
            0x93CC0D8C,
            0x93CC358C,
            0x93CCCD8C,
            0x93CCF58C,
            0xAA0A014A,
            0xAA0303E0,
            0xD65F03C0,
        )
    ),
}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

_RUNNING_ON_VALGRIND = 0x1001
_PRINTF_VALIST_BY_REF = 0x1403
_MEMCHECK = (ord("M") << 24) | (ord("C") << 16)
_CHECK_MEM_IS_DEFINED = _MEMCHECK + 5
_DO_LEAK_CHECK = _MEMCHECK + 6
_LEAK_CHECK_FULL, _LEAK_CHECK_QUICK = 0, 1
_LEAKS_ALL, _LEAKS_CHANGED = 0, 2

_Args = ctypes.c_size_t * 6
_request = None
_page = None


def _load():
    global _request, _page
    arch = _ARCH.get(os.uname().machine.lower())
    if arch is None or sys.maxsize <= 2**32 or not sys.platform.startswith("linux"):
        return None
    _page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    _page.write(_CODE[arch])
    address = ctypes.addressof(ctypes.c_char.from_buffer(_page))
    # CFUNCTYPE: the GIL is released during the call (a leak search scans all memory).
    _request = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t)(address)
    return _request


def supported() -> bool:
    """Client requests can be made on this platform."""
    return (_request or _load()) is not None


def _call(request: int, *args: int, default: int = 0) -> int:
    fn = _request or _load()
    if fn is None:
        return default
    words = _Args(request, *args, *([0] * (5 - len(args))))
    return fn(words, default)


_running: Optional[bool] = None


def running() -> bool:
    """This process runs under Valgrind (asked once)."""
    global _running
    if _running is None:
        _running = _call(_RUNNING_ON_VALGRIND) > 0
    return _running


def message(text: str) -> None:
    """Writes ``text`` as a client message (``<clientmsg>`` in the XML)."""
    if not running():
        return
    # Valgrind formats the text: a literal % must be doubled. Its va_list is
    # never read for a format without conversions.
    fmt = ctypes.create_string_buffer((text.replace("%", "%%") + "\n").encode("utf-8", "replace"))
    unused_va_list = (ctypes.c_size_t * 4)()
    _call(_PRINTF_VALIST_BY_REF, ctypes.addressof(fmt), ctypes.addressof(unused_va_list))


def changed_leak_check() -> None:
    """A leak search that lists the loss records changed since the previous one."""
    if running():
        _call(_DO_LEAK_CHECK, _LEAK_CHECK_FULL, _LEAKS_CHANGED)


def quick_leak_check() -> None:
    """A leak search that lists nothing, the reference of the next changed one."""
    if running():
        _call(_DO_LEAK_CHECK, _LEAK_CHECK_QUICK, _LEAKS_ALL)


def check_defined(buffer) -> bool:
    """Whether every byte of ``buffer`` (anything with the buffer protocol) is
    defined; under Memcheck an undefined byte is reported here (``ClientCheck``)
    with, under ``--track-origins=yes``, where it was created. True outside
    Memcheck. Use it on memory an extension hands to Python."""
    if not running():
        return True
    view = memoryview(buffer).cast("B")
    if view.nbytes == 0:
        return True
    if view.readonly:
        # from_buffer needs a writable buffer; a read-only one is copied by
        # Python's own code, which copies the definedness too.
        data = ctypes.create_string_buffer(view.tobytes(), view.nbytes)
    else:
        data = (ctypes.c_char * view.nbytes).from_buffer(view)
    return _call(_CHECK_MEM_IS_DEFINED, ctypes.addressof(data), view.nbytes) == 0


# -- the checkpoint protocol ---------------------------------------------------


def test_begins(test_id: str) -> None:
    message(f"{protocol.TEST_MARKER} {test_id}")


def checkpoint(test_id: str, round_: int, iterations: int) -> None:
    """After the warm-up (round 0) and after each measured round."""
    if running():
        message(f"{protocol.CHECKPOINT_MARKER} {round_}:{iterations} {test_id}")
        changed_leak_check()


def baseline() -> None:
    """Before the first test: what start-up and imports allocated is no test's;
    a lost block that no later search lists was allocated before the tests and
    never changed (one-time)."""
    if running():
        gc.collect()
        message(f"{protocol.CHECKPOINT_MARKER} {protocol.BASELINE_LABEL}")
        quick_leak_check()


def end() -> None:
    """After the last test: what changed after the last checkpoint is listed
    too, so only what no search listed is one-time."""
    if running():
        gc.collect()
        message(f"{protocol.CHECKPOINT_MARKER} {protocol.END_LABEL}")
        changed_leak_check()


def import_quietly(name: str):
    """``importlib.import_module(name)``, then a quiet leak search: what the
    import allocated is not listed by the test's first checkpoint (it is not
    the test's doing, and a big import would fill the report)."""
    module = importlib.import_module(name)
    if running():
        gc.collect()
        quick_leak_check()
    return module
