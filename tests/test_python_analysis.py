#!/usr/bin/python3
"""test_python_analysis.py - dxtrace.analysis, the notebook API over
dxt-analyze: the report as a dict equals `dxt-analyze --format json`, the
per-window matrices come back as numpy arrays with the slow source's column
high, read_wait differences cumulative counters, failures raise AnalysisError
with dxt-analyze's message.

Owner: the users engineer. Needs $DXT_BUILD/bin/dxt-synth and dxt-analyze.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
sys.path.insert(0, os.path.join(REPO, "python"))
os.environ["DXT_ANALYZE"] = os.path.join(REPO, BUILD, "bin", "dxt-analyze")

import numpy as np  # noqa: E402
from dxtrace import analysis  # noqa: E402


class AnalysisTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.trace = os.path.join(cls.tmp.name, "trace")
        subprocess.run([os.path.join(REPO, BUILD, "bin", "dxt-synth"), "-q", "-o", cls.trace,
                        "-n", "16", "-t", "300", "--fault", "slow_source:rank=5,onset=100,x=3"],
                       check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_report(self):
        report = analysis.analyze(self.trace, ops=["dispatch"])
        cli = json.loads(subprocess.run([os.environ["DXT_ANALYZE"], self.trace, "--op",
                                         "dispatch", "--format", "json"], capture_output=True,
                                        text=True, check=True).stdout)
        self.assertEqual(report, cli)
        first = report["findings"][0]
        self.assertEqual((first["kind"], first["rank"]), ("slow_source", 5))

    def test_matrices(self):
        m = analysis.matrices(self.trace, "dispatch", window=50)
        self.assertEqual(m.wait.shape, (6, 16, 16))
        self.assertEqual(list(m.first_steps), [0, 50, 100, 150, 200, 250])
        self.assertTrue(np.all(np.isnan(np.diagonal(m.wait, axis1=1, axis2=2))))
        late = m.wait[-1]
        others = np.nanmedian(np.delete(late, 5, axis=1))
        self.assertGreater(np.nanmedian(late[:, 5]), 1.5 * others)

    def test_read_wait(self):
        steps, wait = analysis.read_wait(os.path.join(self.trace, "rank-00000.h5"), "dispatch")
        self.assertEqual(wait.shape, (len(steps), 16))
        self.assertTrue(np.all(wait >= 0))  # differenced, not cumulative sums

    def test_errors(self):
        with self.assertRaises(analysis.AnalysisError) as cm:
            analysis.analyze(os.path.join(self.tmp.name, "nowhere"))
        self.assertEqual(cm.exception.exit_code, 1)
        self.assertIn("nowhere", str(cm.exception))
        with self.assertRaises(analysis.AnalysisError) as cm:
            analysis.analyze(self.trace, window=0)
        self.assertEqual(cm.exception.exit_code, 2)


if __name__ == "__main__":
    unittest.main()
