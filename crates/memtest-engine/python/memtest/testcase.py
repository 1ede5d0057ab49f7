"""unittest support: :class:`LeakTestCase`, whose tests check a body they
choose (``self.churn(body)``) instead of being repeated whole, as the
unittest runner repeats a plain ``TestCase``'s tests."""

from __future__ import annotations

import unittest
from typing import Callable, Mapping, Optional

from . import session as _session
from .checker import Result


class LeakTestCase(unittest.TestCase):
    """A test case whose tests each churn a body through the leak check.

    ``live`` (a class attribute, e.g. ``staticmethod(mylib.live_objects)``)
    overrides the run's live-objects hook for this class."""

    live: Optional[Callable[[], Mapping[str, int]]] = None
    #: The runner runs these tests once: each checks what it churns.
    memtest_explicit = True

    def churn(self, body: Callable[[], object], **config) -> Result:
        session = _session.get()
        live = type(self).live
        return session.check(
            body,
            name=self._testMethodName,
            test_id=self.id(),
            live=live if live is not None else session.live,
            **config,
        )
