#!/usr/bin/python3
"""test_step_every.py - Recorder(step_every=K): the steps step() records (the
first, then those with (s + 1) % K == 0) and what dxt-analyze makes of a trace
with a row every K steps: its windows of K, 2K, 5K steps hold exactly the wait
of a trace with a row every step (the counters are cumulative: a row holds the
counts of the steps since the row before, so --matrices and the report's
typical wait divide by the steps a rank's rows cover, not by its rows), its
windows start at the same steps, the report's typical wait per step and worst
cells are the same, and a slow source stands out the same; the default window
is no shorter than K (its onset on the row that shows it), --follow's too. Dropped rows: the
steps of a recorded drop are not steps covered, with or without step_every.

No GPU: the rows are recorded through the host path (record()) at the steps
the step() closure picks, found with a stand-in for the library's call.

Owner: the GPU side of dxtrace (python/dxtrace, the Recorder). Needs
$DXT_BUILD/bin/dxt-analyze and libdxtrec.so.
"""
import json
import os
import sys
import subprocess
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
        # --matrices gives a window's wait per step its rows cover: the same with a row
        # every K steps as with a row every step (csv keeps 6 significant digits)
        for window in (K, 2 * K, 5 * K):
            a = analysis.matrices(self.all, "dispatch", window=window)
            e = analysis.matrices(self.every, "dispatch", window=window)
            self.assertEqual(list(a.first_steps), list(e.first_steps), "window %d" % window)
            np.testing.assert_allclose(e.wait, a.wait, rtol=1e-5, err_msg="window %d" % window)

    def test_windows_off_the_rows(self):
        # windows that do not end on a row (7 steps; from 3): a row's wait over the steps
        # it covers, so the whole run's wait per step is the same
        for args in ({"window": 7}, {"window": 7, "first_step": 3}):
            a = analysis.matrices(self.all, "dispatch", **args)
            e = analysis.matrices(self.every, "dispatch", **args)
            off = ~np.eye(N, dtype=bool)
            ma, me = np.nanmean(a.wait[:, off], axis=0), np.nanmean(e.wait[:, off], axis=0)
            np.testing.assert_allclose(me, ma, rtol=0.05, err_msg=str(args))

    def test_typical_wait_equal(self):
        reports = [analysis.analyze(t, window=2 * K) for t in (self.all, self.every)]
        ops = [r["ops"][0] for r in reports]
        for key in ("intra_node_median", "inter_node_median"):
            if ops[0][key] is None:
                self.assertIsNone(ops[1][key], key)
                continue
            self.assertAlmostEqual(ops[1][key] / ops[0][key], 1.0, places=6, msg=key)
        texts = [subprocess.run([ANALYZE, t, "--window", str(2 * K)], capture_output=True,
                                text=True).stdout for t in (self.all, self.every)]
        typical = [[line for line in t.splitlines() if "typical wait per step" in line]
                   for t in texts]
        self.assertTrue(typical[0])
        self.assertEqual(typical[0], typical[1])

    def test_default_window(self):
        # the default window is no shorter than the steps between rows (K here, 5 with a
        # row every step): no window without a row, the onset on the row that shows it
        windows = {}
        for name, trace in (("all", self.all), ("every", self.every)):
            report = analysis.analyze(trace)
            windows[name] = report["window_steps"]
            onsets = [f["first_step"] for f in report["findings"]
                      if (f["kind"], f.get("rank")) == ("slow_source", SLOW)]
            self.assertEqual(onsets, [ONSET], name)
        self.assertEqual(windows, {"all": 5, "every": K})

    def test_follow_window(self):
        # --follow's default window (20 steps) is no shorter than the steps between rows
        # either: a row every 50 steps gives windows of 50
        trace = os.path.join(self.tmp.name, "every50")
        write_trace(trace, picked_steps(50, range(STEPS)))
        p = subprocess.run([ANALYZE, "--follow", trace, "--interval", "0.1", "--format", "json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        start = p.stdout.rindex("{", 0, p.stdout.rindex('"format": "dxtrace-report"'))
        report = json.loads(p.stdout[start:])  # the final report, after any window line
        self.assertEqual(report["window_steps"], 50)

    def test_finding_the_same(self):
        found = []
        for trace in (self.all, self.every):
            report = analysis.analyze(trace, window=2 * K)
            found.append([(f["kind"], f.get("rank")) for f in report["findings"]])
        self.assertEqual(found[0], found[1])
        self.assertIn(("slow_source", SLOW), found[1])


if __name__ == "__main__":
    unittest.main()
