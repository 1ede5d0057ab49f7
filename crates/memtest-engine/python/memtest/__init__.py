"""memtest: leak tests for Python bindings of native code.

The ``memtest`` command builds a project with debug information, then runs
its tests twice: in-process under tracemalloc, the C heap, descriptors and
threads (the fast stage), and under Valgrind memcheck with a leak search
after every round (the Valgrind stage). This package is the part that runs
inside the test processes:

* :func:`check` (``memtest.checker``): run a body in rounds and decide
  whether it leaks, the way CPython's ``regrtest -R`` and psleak decide;
* the pytest plugin (``memtest.pytest_plugin``, ``pytest --memtest``): every
  selected test is a leak test; markers ``memtest_skip``,
  ``memtest_own_process``, ``memtest_iterations``, ``memtest_fixtures_once``;
* unittest: :class:`LeakTestCase` and ``python -m memtest unittest``,
  and the decorators :func:`skip`, :func:`own_process`, :func:`iterations`;
* ``memtest.valgrind``: Valgrind client requests with nothing compiled
  (markers, leak searches, ``check_defined``) and the checkpoint protocol.
"""

from .checker import LeakError, Result, check
from .marks import iterations, own_process, skip
from .protocol import Config
from .testcase import LeakTestCase

__all__ = ["Config", "LeakError", "LeakTestCase", "Result", "check", "iterations", "own_process", "skip"]
