"""The bindings' boundary checks: samples handed to Python are checked to be
defined (``VALGRIND_CHECK_MEM_IS_DEFINED``), so an uninitialised one is
reported where Python gets it. (memtest's markers and leak searches are
tested with memtest's Python package.)"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET


try:
    import numpy
except ImportError:
    numpy = None


def _memcheck(code, *args):
    """Runs ``code`` in this interpreter under Memcheck; the XML report's text."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "out.xml")
        env = dict(os.environ, PYTHONMALLOC="malloc")
        subprocess.run(
            ["valgrind", "--xml=yes", f"--xml-file={xml}", *args, sys.executable, "-c", code],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
        )
        with open(xml, encoding="utf-8") as f:
            return f.read()


def _client_checks(report):
    """The ``ClientCheck`` errors of a report: (stack functions, auxwhat texts)."""
    found = []
    for error in ET.fromstring(report).iter("error"):
        if error.findtext("kind") == "ClientCheck":
            stack = error.find("stack")
            fns = [f.findtext("fn") or "" for f in stack.iter("frame")] if stack is not None else []
            found.append((fns, [a.text or "" for a in error.iter("auxwhat")]))
    return found


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class UnderValgrind(unittest.TestCase):
    def test_boundary_checks_pass_what_the_core_wrote(self):
        # Every place where samples become visible to Python: a push's output,
        # a callable stage's input, a buffer view, tolist().
        code = (
            "import array, sluice\n"
            "b = sluice.Block.from_buffer(array.array('f', [1.0, -2.0, 3.0]))\n"
            "p = sluice.Pipeline([sluice.Gain(2.0), lambda blk: blk, sluice.Offset(1.0)])\n"
            "out = p.push(b)\n"
            "with memoryview(out) as view:\n"
            "    assert view.tolist() == [[3.0], [-3.0], [7.0]]\n"
            "assert out.tolist() == [[3.0], [-3.0], [7.0]]\n"
        )
        self.assertEqual(_client_checks(_memcheck(code)), [])

    @unittest.skipIf(numpy is None, "numpy is not installed")
    def test_undefined_samples_are_reported_where_python_gets_them(self):
        # numpy.empty's memory is never written: copied into a Block, it
        # passes Memcheck silently until tolist() checks it. Large enough to
        # bypass numpy's cache of small buffers (which may hold old data).
        code = (
            "import numpy, sluice\n"
            "b = sluice.Block.from_buffer(numpy.empty(2048, dtype=numpy.float32))\n"
            "b.tolist()\n"
        )
        checks = _client_checks(_memcheck(code, "--track-origins=yes"))
        self.assertEqual(len(checks), 1, checks)
        fns, aux = checks[0]
        self.assertTrue(any("tolist" in f for f in fns), fns)
        self.assertTrue(any("created by a heap allocation" in a for a in aux), aux)


if __name__ == "__main__":
    unittest.main()
