"""Client requests with nothing compiled: under Valgrind the markers, the
checkpoint leak searches and the definedness check reach the XML report;
outside it every request is a no-op."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

from memtest import valgrind

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class OutsideValgrind(unittest.TestCase):
    def test_requests_are_no_ops(self):
        if valgrind.running():
            self.skipTest("running under Valgrind")
        self.assertTrue(valgrind.supported())
        valgrind.test_begins("t")
        valgrind.checkpoint("t", 0, 5)
        valgrind.baseline()
        self.assertTrue(valgrind.check_defined(b"abc"))


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class UnderValgrind(unittest.TestCase):
    def test_markers_searches_and_checks_reach_the_xml(self):
        code = (
            "import ctypes\n"
            "from memtest import valgrind as v\n"
            "assert v.running()\n"
            "v.baseline()\n"
            "v.test_begins('tests/t.py::test_a[50% <&>]')\n"
            "malloc = ctypes.CDLL(None).malloc; malloc.restype = ctypes.c_void_p\n"
            "kept = [malloc(64) for _ in range(3)]\n"
            "v.checkpoint('tests/t.py::test_a', 1, 3)\n"
            "assert v.check_defined(b'defined')\n"
            "assert not v.check_defined((ctypes.c_char * 16).from_address(malloc(16)))\n"
            "v.end()\n"
        )
        with tempfile.TemporaryDirectory() as tmp:
            xml = os.path.join(tmp, "out.xml")
            env = dict(os.environ, PYTHONMALLOC="malloc", PYTHONPATH=PACKAGE)
            subprocess.run(
                ["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes", f"--xml-file={xml}",
                 sys.executable, "-c", code],
                check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
            )
            root = ET.parse(xml).getroot()
        messages = [m.findtext("text").strip() for m in root.iter("clientmsg")]
        self.assertEqual(
            messages,
            [
                "memtest-checkpoint: baseline",
                "memtest-test: tests/t.py::test_a[50% <&>]",
                "memtest-checkpoint: 1:3 tests/t.py::test_a",
                "memtest-checkpoint: end",
            ],
        )
        kinds = [e.findtext("kind") for e in root.iter("error")]
        self.assertEqual(kinds.count("ClientCheck"), 1, kinds)
        # The checkpoint's leak search listed the three blocks (an intermediate search).
        self.assertTrue(any(k.startswith("Leak_") for k in kinds), kinds)


if __name__ == "__main__":
    unittest.main()
