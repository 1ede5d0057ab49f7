"""The planted defects of cbuf._cbuf, one test each: memtest must catch each
and name its line in _cbuf.c (cargo xtask ci checks)."""

from cbuf import _cbuf

LONG_LIVED = _cbuf.Buffer()


def test_keep_ref():
    s = "".join(["leak", "ed"])  # a new str each call: the kept reference leaks it
    assert _cbuf._keep_ref(s) == "leaked"


def test_lose_block():
    assert _cbuf._lose_block(64) == 64


def test_append_and_keep():
    LONG_LIVED._append_and_keep(b"x" * 8)
    assert len(LONG_LIVED) == 0
