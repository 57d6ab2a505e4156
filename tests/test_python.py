#!/usr/bin/python3
"""test_python.py - the dxtrace Python binding (python/dxtrace) on the host
path: numpy arrays, lists, bad input, counters, errors, the context manager,
and what ends up in the file (read back with h5py). Also checks that the
binding's copy of the config struct and result list matches the library.

Owner: the GPU side of dxtrace. Skips (exit 0, with a message) when
build/lib/libdxtrec.so (or $DXTREC_LIB) is missing. The torch/CUDA half runs on
a GPU machine: tests/gpu/test_torch.py.
"""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
LIB = os.environ.get("DXTREC_LIB") or os.path.join(REPO, BUILD, "lib", "libdxtrec.so")

if not os.path.exists(LIB):
    print("SKIP test_python: %s not built (make %s/lib/libdxtrec.so)" % (LIB, BUILD))
    sys.exit(0)
with open(LIB, "rb") as lib_file:
    lib_bytes = lib_file.read()
if b"libasan.so" in lib_bytes or b"libtsan.so" in lib_bytes:
    # a sanitized library cannot be loaded into a plain python3 (the runtime must come first)
    print("SKIP test_python: %s is built with a sanitizer; the plain build tests the binding" % LIB)
    sys.exit(0)
os.environ["DXTREC_LIB"] = LIB
sys.path.insert(0, os.path.join(REPO, "python"))

import numpy as np  # noqa: E402
import h5py  # noqa: E402
import dxtrace  # noqa: E402

N = 8


def read_op(path, op):
    with h5py.File(path, "r") as f:
        g = f["ops"][op]
        out = {k: g[k][()] for k in g.keys()}
        out["attrs"] = dict(f.attrs)
        out["unit"] = g["wait"].attrs["unit"]
        out["counting"] = g["wait"].attrs["counting"]
        return out


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="dxt-py-")
        self.dir = os.path.join(self.tmp.name, "trace")

    def tearDown(self):
        self.tmp.cleanup()

    def test_results_match_library(self):
        lib = dxtrace.load_library()
        for code, msg in enumerate(dxtrace.RESULT_MESSAGES):
            self.assertEqual(lib.dxtrec_result_string(code).decode(), msg)
        self.assertEqual(lib.dxtrec_result_string(len(dxtrace.RESULT_MESSAGES)).decode(),
                         "unknown result")

    def test_config_round_trip(self):
        # every field of the mirrored struct lands where the library reads it
        with dxtrace.Recorder(self.dir, 3, N, run_id="py-cfg", ops=("a", "b", "c"), unit="ns",
                              clock_hz=1.5e9, counting="delta", record_tokens=True,
                              node="node-x", local_rank=2, flush_interval_s=0.5,
                              ring_capacity=64, compress_level=0, quiet=True) as rec:
            self.assertEqual(rec.open_result, dxtrace.Result.SUCCESS)
            self.assertEqual(rec.record("c", 7, list(range(N)), tokens=[1] * N),
                             dxtrace.Result.SUCCESS)
        d = read_op(os.path.join(self.dir, "rank-00003.h5"), "c")
        a = d["attrs"]
        self.assertEqual(int(a["rank"]), 3)
        self.assertEqual(int(a["world_size"]), N)
        self.assertEqual(int(a["local_rank"]), 2)
        self.assertEqual(as_str(a["run_id"]), "py-cfg")
        self.assertEqual(as_str(a["node"]), "node-x")
        self.assertAlmostEqual(float(a["clock_hz"]), 1.5e9)
        self.assertEqual(as_str(d["unit"]), "ns")
        self.assertEqual(as_str(d["counting"]), "delta")
        self.assertEqual(d["wait"].tolist(), [list(range(N))])
        self.assertEqual(d["tokens"].tolist(), [[1] * N])
        self.assertEqual(d["step"].tolist(), [7])

    def test_rows_numpy_lists_and_int_ops(self):
        rng = np.random.default_rng(5)
        waits = np.cumsum(rng.integers(0, 1000, size=(20, N)), axis=0)
        with dxtrace.Recorder(self.dir, 0, N, run_id="py-rows", quiet=True) as rec:
            for step in range(20):
                w = waits[step]
                arg = w.tolist() if step % 3 == 0 else (w.astype(np.int32) if step % 3 == 1
                                                         else w)
                self.assertEqual(rec.record(0, step, arg), dxtrace.Result.SUCCESS)
                self.assertEqual(rec.record("combine", step, w * 2), dxtrace.Result.SUCCESS)
            self.assertEqual(rec.flush(), dxtrace.Result.SUCCESS)
            c = rec.counters
            self.assertEqual((c.rows_recorded, c.rows_written, c.rows_dropped), (40, 40, 0))
        path = os.path.join(self.dir, "rank-00000.h5")
        disp, comb = read_op(path, "dispatch"), read_op(path, "combine")
        np.testing.assert_array_equal(disp["wait"], waits)
        np.testing.assert_array_equal(comb["wait"], waits * 2)
        self.assertEqual(disp["step"].tolist(), list(range(20)))
        self.assertTrue((np.diff(disp["time_ns"]) >= 0).all())
        self.assertEqual(as_str(disp["unit"]), "cycles")
        self.assertEqual(as_str(disp["counting"]), "cumulative")

    def test_bad_input(self):
        with dxtrace.Recorder(self.dir, 0, N, quiet=True) as rec:
            with self.assertRaises(ValueError):
                rec.record(0, 0, [1] * (N - 1))
            with self.assertRaises(ValueError):
                rec.record(0, 0, np.zeros(N + 1, dtype=np.int64))
            with self.assertRaises(TypeError):
                rec.record(0, 0, np.zeros(N, dtype=np.float64))
            with self.assertRaises(ValueError):
                rec.record("nope", 0, [0] * N)
            self.assertEqual(rec.record(5, 0, [0] * N), dxtrace.Result.ERR_INVALID_ARG)
            with self.assertRaises(ValueError):
                rec.record(0, 0, [0] * N, tokens=[0] * 3)
            self.assertEqual(rec.counters.rows_recorded, 0)
        with self.assertRaises(dxtrace.DxtraceError):
            dxtrace.Recorder(self.dir, N, N, quiet=True)  # rank out of range
        with self.assertRaises(ValueError):
            dxtrace.Recorder(self.dir, 0, N, unit="ms")

    def test_closed_recorder(self):
        rec = dxtrace.Recorder(self.dir, 1, N, quiet=True)
        self.assertEqual(rec.close(), dxtrace.Result.SUCCESS)
        self.assertTrue(rec.closed)
        self.assertEqual(rec.close(), dxtrace.Result.ERR_CLOSED)
        with self.assertRaises(dxtrace.DxtraceError):
            rec.record(0, 0, [0] * N)
        with self.assertRaises(dxtrace.DxtraceError):
            rec.counters

    def test_unwritable_directory_does_not_raise(self):
        blocker = os.path.join(self.tmp.name, "file")
        open(blocker, "w").close()
        with dxtrace.Recorder(os.path.join(blocker, "trace"), 0, N, quiet=True) as rec:
            self.assertEqual(rec.open_result, dxtrace.Result.ERR_IO)
            code, msg = rec.last_error()
            self.assertEqual(code, dxtrace.Result.ERR_IO)
            self.assertIn("trace", msg)

    def test_device_path_without_gpu(self):
        # raw device pointers on a machine without a GPU: an error, counted, no crash
        if os.path.exists("/dev/nvidia0"):
            self.skipTest("a GPU is present: tests/gpu/test_torch.py covers the device path")
        with dxtrace.Recorder(self.dir, 0, N, quiet=True) as rec:
            res = rec.record_device(0, 0, 0x1000, None, 0)
            self.assertIn(res, (dxtrace.Result.ERR_CUDA, dxtrace.Result.ERR_NO_CUDA))
            if res == dxtrace.Result.ERR_CUDA:  # a CUDA build: the row is counted as dropped
                self.assertEqual(rec.counters.rows_dropped, 1)

    def test_step_path_errors(self):
        # step() before attach(); attach() of a raw address on a machine without a GPU
        # (a CUDA build: no device) or in a build without CUDA: loud, with what to do
        if os.path.exists("/dev/nvidia0"):
            self.skipTest("a GPU is present: tests/gpu/test_graph.py covers the step path")
        with dxtrace.Recorder(self.dir, 0, N, quiet=True) as rec:
            with self.assertRaisesRegex(dxtrace.DxtraceError, "attach"):
                rec.step(0)
            with self.assertRaises(dxtrace.DxtraceError) as cm:
                rec.attach("dispatch", 0x1000)
            self.assertRegex(str(cm.exception), "built without CUDA|CUDA")
            with self.assertRaises(ValueError):
                rec.attach("nope", 0x1000)
            with self.assertRaises(ValueError):
                rec.attach("combine", None, 0x1000)
            with self.assertRaises(TypeError):
                rec.attach("combine", np.zeros(N, dtype=np.int64))
        with self.assertRaisesRegex(dxtrace.DxtraceError, "closed"):
            rec.attach("dispatch", 0x1000)

    def test_step_closure_and_closed_handle(self):
        # step() as attach() builds it (here with a stand-in stream getter: no GPU
        # needed): the arguments reach the library (before any attach it says so),
        # step_every skips, and once closed a kept step() passes NULL (no freed
        # recorder touched) and gets ERR_INVALID_ARG
        invalid = int(dxtrace.Result.ERR_INVALID_ARG)
        with dxtrace.Recorder(self.dir, 0, N, quiet=True) as rec:
            step = rec._make_step(0, raw=lambda index: 0x1234)
            # an open recorder before any attach: ERR_INVALID_ARG; a libdxtrec built
            # without CUDA (no nvcc at build time) says so instead, with ERR_NO_CUDA
            open_rc = step(5)
            cuda = open_rc == invalid
            if not cuda:
                self.assertEqual(open_rc, int(dxtrace.Result.ERR_NO_CUDA))
            self.assertEqual(step(), open_rc)
            self.assertEqual(step(6, stream=0), open_rc)
            if cuda:
                self.assertIn("before any dxtrec_attach_device", rec.last_error()[1])
            legacy = rec._make_step(None)
            self.assertEqual(legacy(7), open_rc)
        self.assertIsNone(rec._step_handle.value)
        closed_rc = invalid if cuda else open_rc  # the stub of a CUDA-less build checks nothing
        self.assertEqual(step(8), closed_rc)
        self.assertEqual(legacy(9), closed_rc)
        with dxtrace.Recorder(self.dir, 0, N, quiet=True, step_every=4) as rec:
            step = rec._make_step(0, raw=lambda index: 0)
            self.assertEqual(step(5), open_rc)  # the first step() is recorded
            self.assertEqual(step(6), 0)  # skipped: (6 + 1) % 4 != 0
            self.assertEqual(step(8), 0)
            self.assertEqual(step(7), open_rc)  # recorded: the last step of 4..7
            with self.assertRaisesRegex(dxtrace.DxtraceError, "step number"):
                step()

    def test_op_limit_named(self):
        # a 58-layer model asks for 116 ops: refused at once, naming the limit
        limit = dxtrace.load_library().dxtrec_max_ops()
        self.assertGreaterEqual(limit, 116)
        ops = ["dispatch.l%d" % i for i in range(limit)]
        with dxtrace.Recorder(self.dir, 0, N, ops=ops, quiet=True, compress_level=0) as rec:
            self.assertEqual(rec.record(ops[-1], 0, [1] * N), dxtrace.Result.SUCCESS)
        path = os.path.join(self.dir, "rank-00000.h5")
        self.assertEqual(read_op(path, ops[-1])["wait"].shape, (1, N))
        with self.assertRaisesRegex(ValueError, "%d ops given.*1 to %d ops" % (limit + 1, limit)):
            dxtrace.Recorder(self.dir, 0, N, ops=ops + ["one.more"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
