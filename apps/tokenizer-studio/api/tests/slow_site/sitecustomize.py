"""Test-only start-up hook: slows dataset reading so a job is surely running when a test kills it.

Loaded only when a test puts this folder on PYTHONPATH; the server is still `python -m app`.
"""

import os
import time

_DELAY = float(os.environ.get("TS_TEST_READ_DELAY_S", "0"))

if _DELAY > 0:
    from app import corpus

    _original = corpus.CorpusStream._iter_source

    def _slow_iter_source(self, source):
        for text in _original(self, source):
            time.sleep(_DELAY)
            yield text

    corpus.CorpusStream._iter_source = _slow_iter_source
