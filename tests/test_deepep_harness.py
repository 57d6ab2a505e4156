#!/usr/bin/python3
"""test_deepep_harness.py - what CI can check of the DeepEP harness without a GPU:
the fault language and case matrix of samples/deepep/ep_deepep.py, its command-line
errors (status 2), samples/deepep/observe.py on a committed DeepEP trace (it must give
back the committed truth.json), and the judge of the real-trace test
(tests/real_truth.py) on hand-made reports. The GPU runs are tests/gpu/run_deepep.sh.

Owner: the DeepEP harness. Needs Debian's python3-numpy and python3-h5py.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "samples", "deepep"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import ep_deepep  # noqa: E402
import real_truth  # noqa: E402

TRACE = os.path.join(ROOT, "samples", "traces", "deepep-ep2-slow-path-20us")


def load_json(path):
    with open(path) as fh:
        return json.load(fh)


class FaultLanguage(unittest.TestCase):
    def test_defaults_and_items(self):
        f = ep_deepep.parse_fault("slow_source,rank=3,us=20,ops=dispatch,onset=5", 100)
        self.assertEqual((f["rank"], f["us"], f["ops"], f["onset"], f["end"]),
                         (3, 20.0, ["dispatch"], 5, 99))

    def test_errors_say_what(self):
        for text, word in (("slow_rank,rank=1", "kind"), ("slow_source,rank=1,speed=3", "bad item"),
                           ("slow_source,us=3", "rank"), ("slow_path,src=1,dst=1", "src and dst"),
                           ("slow_source,rank=1,ops=send", "ops")):
            with self.assertRaises(ValueError) as e:
                ep_deepep.parse_fault(text, 100)
            self.assertIn(word, str(e.exception))

    def test_duty(self):
        f = ep_deepep.parse_fault("slow_source,rank=0,onset=10,end=49,period=10,duty=0.3", 100)
        on = [s for s in range(100) if ep_deepep.fault_on(f, s)]
        self.assertEqual(on, [s for s in range(10, 50) if (s - 10) % 10 < 3])


class CaseMatrix(unittest.TestCase):
    def test_every_case_parses_and_names_are_unique(self):
        for n in (2, 4, 8):
            cases = ep_deepep.case_matrix(n, 800)
            names = [c[0] for c in cases]
            self.assertEqual(len(names), len(set(names)))
            for _, faults in cases:
                for text in faults:
                    f = ep_deepep.parse_fault(text, 800)
                    for e in ep_deepep.expected_findings(f):
                        self.assertIn(e["pattern"], ("row", "column", "cell"))
                        self.assertTrue(0 <= e.get("rank", e.get("src", 0)) < n)

    def test_command_line_errors_exit_2(self):
        script = os.path.join(ROOT, "samples", "deepep", "ep_deepep.py")
        for args in ([], ["--case", "x", "--fault", "slow_rank"], ["--steps", "many"]):
            r = subprocess.run([sys.executable, script] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("error", r.stderr)


class Observe(unittest.TestCase):
    def test_recomputes_the_committed_truth(self):
        with tempfile.TemporaryDirectory() as tmp:
            case = os.path.join(tmp, "case")
            shutil.copytree(TRACE, case)
            committed = load_json(os.path.join(TRACE, "truth.json"))
            r = subprocess.run([sys.executable, os.path.join(ROOT, "samples", "deepep", "observe.py"),
                                case], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            again = load_json(os.path.join(case, "truth.json"))
            self.assertEqual(again["expected"], committed["expected"])
            self.assertEqual(again["unplanned"], committed["unplanned"])
            self.assertTrue(all(e["observed"]["shows"] for e in again["expected"]))
            self.assertIn("echo", again["faults"][0])


def finding(kind, op, first, **where):
    return dict(kind=kind, op=op, first_step=first, last_step=799, **where)


class Judge(unittest.TestCase):
    truth = {"world_size": 4, "ops": ["dispatch", "combine"],
             "faults": [{"kind": "slow_path", "src": 3, "dst": 0, "onset": 300}],
             "expected": [
                 {"kind": "slow_path", "op": "dispatch", "src": 3, "dst": 0, "onset": 300,
                  "observed": {"shows": True}},
                 {"kind": "slow_path", "op": "combine", "src": 3, "dst": 0, "onset": 300,
                  "observed": {"shows": False}}],
             "unplanned": [{"kind": "slow_source", "op": "combine", "rank": 1}]}

    def judge(self, findings):
        report = {"world_size": 4, "window_steps": 10, "findings": findings}
        with open(os.devnull, "w") as null:
            saved, sys.stdout = sys.stdout, null
            try:
                return real_truth.judge(self.truth, report, "t")
            finally:
                sys.stdout = saved

    def test_right_allowed_false_missed(self):
        right = finding("slow_path", "dispatch", 305, src=3, dst=0)
        self.assertTrue(self.judge([right]))
        self.assertTrue(self.judge([right, finding("slow_path", "combine", 300, src=3, dst=0)]))
        self.assertTrue(self.judge([right, finding("slow_source", "combine", 0, rank=1)]))
        self.assertTrue(self.judge([right, finding("slow_source", "combine", 310, rank=3)]))
        self.assertFalse(self.judge([]))                                     # missed
        self.assertFalse(self.judge([finding("slow_path", "dispatch", 500, src=3, dst=0)]))  # late
        self.assertFalse(self.judge([right, finding("slow_source", "dispatch", 0, rank=2)]))

    def test_late_host_regime(self):
        """A late host's regime allows a finding only over half of its steps or more."""
        right = finding("slow_path", "dispatch", 305, src=3, dst=0)
        saved = self.truth["unplanned"]
        self.truth["unplanned"] = [{"kind": "slow_source", "op": "dispatch", "rank": 2,
                                    "first_step": 100, "last_step": 279}]
        try:
            inside = dict(finding("slow_source", "dispatch", 90, rank=2), last_step=299)
            self.assertTrue(self.judge([right, inside]))
            self.assertFalse(self.judge([right, finding("slow_source", "dispatch", 90, rank=2)]))
        finally:
            self.truth["unplanned"] = saved


if __name__ == "__main__":
    unittest.main(verbosity=2)
