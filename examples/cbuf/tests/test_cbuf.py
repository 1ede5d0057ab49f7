import pytest

import cbuf


def test_append_and_tobytes():
    b = cbuf.Buffer(b"ab")
    b.append(b"cd")
    b.append(bytearray(b"ef"))
    assert b.tobytes() == b"abcdef"
    assert len(b) == 6


def test_clear_keeps_working():
    b = cbuf.Buffer()
    for _ in range(10):
        b.append(b"x" * 100)
    b.clear()
    assert len(b) == 0 and b.tobytes() == b""


def test_append_rejects_non_buffers():
    with pytest.raises(TypeError):
        cbuf.Buffer().append("not bytes")


def test_join():
    assert cbuf.join(["a", "b", "c"], "-") == "a-b-c"
    assert cbuf.join([f"{i}" for i in range(5)], "") == "01234"


def test_join_errors():
    with pytest.raises(TypeError):
        cbuf.join(["a", 1], "-")
    with pytest.raises(TypeError):
        cbuf.join(None, "-")


LONG_LIVED = cbuf.Buffer()


def test_a_long_lived_buffer():
    LONG_LIVED.append(b"0123456789")
    assert LONG_LIVED.tobytes() == b"0123456789"
    LONG_LIVED.clear()
