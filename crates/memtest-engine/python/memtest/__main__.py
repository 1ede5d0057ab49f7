"""``python -m memtest``: the entry points the memtest engine calls.

* ``echo-run FILE``: read a run description and write it back as this
  package understood it (the engine's round-trip test);
* ``sample-result``: a result line with every field set (the same test);
* ``unittest list|run ...``: the unittest runner (``memtest.unittest_runner``).
"""

import json
import sys

from . import checker, protocol, unittest_runner


def main(argv):
    if len(argv) == 2 and argv[0] == "echo-run":
        print(json.dumps(protocol.load(argv[1]).to_json(), sort_keys=True))
        return 0
    if argv == ["sample-result"]:
        print(json.dumps(checker.sample_result_line(), sort_keys=True))
        return 0
    if argv[:1] == ["unittest"]:
        return unittest_runner.main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
