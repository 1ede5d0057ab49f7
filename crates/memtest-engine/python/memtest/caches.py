"""Empty CPython's own caches before a reading, as ``regrtest -R`` does between
its runs: what a cache keeps is bounded, but it fills over thousands of calls
(the type attribute cache keeps a reference to every distinct name object it
has looked up: a binding that makes a new ``str`` per call fills it for about
4,000 calls) and would read as growth in rounds of a few hundred.

Only modules already imported are touched: clearing must not import anything
while measuring. What the test's own code caches (an ``lru_cache`` of its
own, a module-level list) is not cleared: that is what a leak test is for.
"""

from __future__ import annotations

import sys


def _call(module: str, *path: str) -> None:
    obj = sys.modules.get(module)
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return
    try:
        obj()
    except Exception:  # a cache we cannot clear is only a cache not cleared
        pass


def clear() -> None:
    """Empties the interpreter's and the standard library's caches."""
    clear_internal = getattr(sys, "_clear_internal_caches", None)  # 3.13+
    if clear_internal is not None:
        clear_internal()
    else:
        sys._clear_type_cache()
    _call("re", "purge")
    _call("struct", "_clearcache")
    _call("linecache", "clearcache")
    _call("ctypes", "_reset_cache")
    _call("urllib.parse", "clear_cache")
    _call("fnmatch", "_compile_pattern", "cache_clear")
    _call("_strptime", "_regex_cache", "clear")
    _call("inspect", "_filesbymodname", "clear")
    typing = sys.modules.get("typing")
    for f in getattr(typing, "_cleanups", ()):
        try:
            f()
        except Exception:
            pass
    abc = sys.modules.get("collections.abc")
    if abc is not None:
        for name in getattr(abc, "__all__", ()):
            cls = getattr(abc, name, None)
            clear_abc = getattr(cls, "_abc_caches_clear", None)
            if clear_abc is not None:
                clear_abc()
