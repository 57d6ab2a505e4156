#!/usr/bin/python3
"""test_step_every.py - Recorder(step_every=K): the steps step() records (the
first, then those with (s + 1) % K == 0) and what dxt-analyze makes of a trace
with a row every K steps: its windows of K, 2K, 5K steps hold exactly the wait
of a trace with a row every step (--matrices divides by a window's rows, the
classifier by its steps: the test takes the steps) (the counters are cumulative: a row holds the
counts of the steps since the row before), its windows start at the same
steps, and a slow source stands out the same.

No GPU: the rows are recorded through the host path (record()) at the steps
the step() closure picks, found with a stand-in for the library's call.

Owner: the GPU side of dxtrace (python/dxtrace, the Recorder). Needs
$DXT_BUILD/bin/dxt-analyze and libdxtrec.so.
"""
import os
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
ANALYZE = os.path.join(REPO, BUILD, "bin", "dxt-analyze")
LIB = os.path.join(REPO, BUILD, "lib", "libdxtrec.so")
if not (os.path.exists(ANALYZE) and os.path.exists(LIB)):
    print("SKIP test_step_every: %s or %s not built" % (ANALYZE, LIB))
    sys.exit(0)
with open(LIB, "rb") as f:  # a sanitized library cannot be loaded into a plain python3
    if any(name in f.read() for name in (b"libasan.so", b"libtsan.so")):
        print("SKIP test_step_every: %s is built with a sanitizer" % LIB)
        sys.exit(0)
sys.path.insert(0, os.path.join(REPO, "python"))
os.environ["DXT_ANALYZE"] = ANALYZE
os.environ["DXTREC_LIB"] = LIB

import numpy as np  # noqa: E402
import dxtrace  # noqa: E402
from dxtrace import analysis  # noqa: E402

N, STEPS, K, SLOW, ONSET = 4, 400, 10, 2, 200


def picked_steps(every, steps):
    """The steps a step_every=every closure passes to the library."""
    with tempfile.TemporaryDirectory() as tmp:
        rec = dxtrace.Recorder(os.path.join(tmp, "t"), 0, N, quiet=True, step_every=every)
        calls, lib = [], rec._lib
        rec._lib = types.SimpleNamespace(dxtrec_step_device=lambda h, s, st: calls.append(s) or 0)
        try:
            step = rec._make_step(0, raw=lambda index: 0)
        finally:
            rec._lib = lib
        for s in steps:
            step(s)
        rec.close()
    return calls


def write_trace(directory, steps_kept):
    """N ranks' cumulative wait (rank SLOW's sends slow from ONSET on), rows at steps_kept."""
    rng = np.random.default_rng(7)
    inc = rng.integers(1000, 2000, size=(STEPS, N, N)).astype(np.int64)
    inc[ONSET:, :, SLOW] *= 4  # every rank waits longer for SLOW
    cum = np.cumsum(inc, axis=0)
    keep = set(steps_kept)
    for r in range(N):
        with dxtrace.Recorder(directory, r, N, run_id="every", ops=("dispatch",), unit="ns",
                              quiet=True) as rec:
            for s in range(STEPS):
                if s in keep:
                    row = cum[s, r].copy()
                    row[r] = 0
                    rec.record("dispatch", s, row)


class StepEveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.every = os.path.join(cls.tmp.name, "every")
        cls.all = os.path.join(cls.tmp.name, "all")
        cls.picked = picked_steps(K, range(STEPS))
        write_trace(cls.all, range(STEPS))
        write_trace(cls.every, cls.picked)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_steps_picked(self):
        self.assertEqual(self.picked, [0] + list(range(K - 1, STEPS, K)))
        self.assertEqual(picked_steps(K, range(1000, 1030)), [1000, 1009, 1019, 1029])
        self.assertEqual(picked_steps(1, range(5)), list(range(5)))

    def test_windows_equal(self):
        # --matrices gives a window's wait per row (a row per step assumed): times the
        # window's rows over its steps, the wait per step, which is what the classifier
        # takes (it divides by the window's steps)
        picked = np.array(self.picked)
        for window in (K, 2 * K, 5 * K):
            a = analysis.matrices(self.all, "dispatch", window=window)
            e = analysis.matrices(self.every, "dispatch", window=window)
            self.assertEqual(list(a.first_steps), list(e.first_steps), "window %d" % window)
            rows = np.array([((picked >= f) & (picked <= la)).sum()
                             for f, la in zip(e.first_steps, e.last_steps)])
            per_step = e.wait * (rows / (e.last_steps - e.first_steps + 1))[:, None, None]
            np.testing.assert_allclose(per_step, a.wait, rtol=1e-9, err_msg="window %d" % window)

    def test_finding_the_same(self):
        found = []
        for trace in (self.all, self.every):
            report = analysis.analyze(trace, window=2 * K)
            found.append([(f["kind"], f.get("rank")) for f in report["findings"]])
        self.assertEqual(found[0], found[1])
        self.assertIn(("slow_source", SLOW), found[1])


if __name__ == "__main__":
    unittest.main()
