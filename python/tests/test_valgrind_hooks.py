"""The Valgrind client requests: per-test leak attribution, and the checks
that samples handed to Python are defined."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

import sluice._native as native

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


class OutsideValgrind(unittest.TestCase):
    def test_requests_are_harmless_no_ops(self):
        if native._valgrind_running():
            self.skipTest("running under Valgrind")
        native._valgrind_marker("sluice-test-begin: nothing")
        native._valgrind_changed_leak_check()

    @unittest.skipUnless(os.path.exists("/usr/include/valgrind/memcheck.h"), "no Valgrind headers")
    def test_compiled_in_where_the_headers_are(self):
        self.assertTrue(native._valgrind_compiled_in())


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class UnderValgrind(unittest.TestCase):
    def setUp(self):
        if not native._valgrind_compiled_in():
            self.skipTest("built without Valgrind's headers")

    def test_marker_and_added_leak_search_reach_the_xml(self):
        code = (
            "import sluice._native as n\n"
            "assert n._valgrind_running()\n"
            "n._valgrind_marker('sluice-test-begin: probe <&>')\n"
            "n._valgrind_changed_leak_check()\n"
        )
        report = _memcheck(code, "--leak-check=full")
        self.assertIn("<clientmsg>", report)
        self.assertIn("sluice-test-begin: probe &lt;&amp;&gt;", report)
        # The changed-leak search writes its loss records before FINISHED.
        self.assertLess(report.index("<clientmsg>"), report.index("<state>FINISHED</state>"))

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
