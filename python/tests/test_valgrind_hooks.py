"""The Valgrind client requests used for per-test leak attribution."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import sluice._native as native


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
    def test_marker_and_added_leak_search_reach_the_xml(self):
        if not native._valgrind_compiled_in():
            self.skipTest("built without Valgrind's headers")
        code = (
            "import sluice._native as n\n"
            "assert n._valgrind_running()\n"
            "n._valgrind_marker('sluice-test-begin: probe <&>')\n"
            "n._valgrind_changed_leak_check()\n"
        )
        with tempfile.TemporaryDirectory() as tmp:
            xml = os.path.join(tmp, "out.xml")
            env = dict(os.environ, PYTHONMALLOC="malloc")
            subprocess.run(
                ["valgrind", "--xml=yes", f"--xml-file={xml}", "--leak-check=full",
                 sys.executable, "-c", code],
                check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300,
            )
            with open(xml, encoding="utf-8") as f:
                report = f.read()
        self.assertIn("<clientmsg>", report)
        self.assertIn("sluice-test-begin: probe &lt;&amp;&gt;", report)
        # The changed-leak search writes its loss records before FINISHED.
        self.assertLess(report.index("<clientmsg>"), report.index("<state>FINISHED</state>"))


if __name__ == "__main__":
    unittest.main()
