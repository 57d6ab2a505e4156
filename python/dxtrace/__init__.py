"""dxtrace: record per-peer wait vectors of GPU all-to-all from Python.

A ctypes binding over libdxtrec (no compiler needed at install time). One
Recorder per rank writes <directory>/rank-<rank>.h5 (dxtrace trace format v1);
`dxt-analyze <directory>` finds the slow rank, receiver or link.

    import dxtrace
    rec = dxtrace.Recorder("trace", rank, world_size, run_id="job-42")
    # after each low_latency_dispatch / low_latency_combine of DeepEP:
    rec.record("dispatch", step, dispatch_wait_recv_cost_stats)
    rec.record("combine", step, combine_wait_recv_cost_stats)
    rec.close()

The cheap path, one call per step for every op, capture-safe (CUDA graphs):

    rec.attach("dispatch", dispatch_wait)   # once: torch CUDA int64 tensors, kept alive
    rec.attach("combine", combine_wait)
    for step in ...:
        ...DeepEP's dispatch and combine...
        rec.step(step)                       # one kernel on the current stream

In an eager loop, Recorder(..., step_every=10) records one step in 10 (the
counters are cumulative: nothing is lost but per-step detail) and a skipped
step() costs one Python test. Inside torch.cuda.graph capture, rec.step() adds
one node to the graph that runs beside each replay's first kernels and records
the previous replay's row (numbered last step + 1, and so on); close takes the
last replay's row.

record() takes torch CUDA tensors (device path: a snapshot queued behind the
work on the current stream, never synchronizing it), CPU tensors, numpy arrays
or sequences of integers (host path: copied at once). DeepEP's stats tensors
are cumulative: pass them as they are, never zero them.

The library is found through $DXTREC_LIB (a path), then build/lib of this
repository, then the system's libdxtrec.so.1.

Owner: the GPU side of dxtrace (python/dxtrace/). Mirrors recorder/dxtrec.h.
"""

import collections
import ctypes
import enum
import numbers
import os
import warnings

import numpy as np

from . import _native

__version__ = "1.1.0"  # the Makefile's VERSION (tests/test_install.sh compares them)
__all__ = ["Recorder", "Result", "Counters", "DxtraceError", "load_library", "STEP_AUTO"]

STEP_AUTO = -(2 ** 63)  # DXTREC_STEP_AUTO: step() numbers the row last step + 1

# recorder/dxtrec.h DXTREC_RESULTS, in order: (name, message)
_RESULTS = (
    ("SUCCESS", "success"),
    ("ERR_INVALID_ARG", "invalid argument"),
    ("ERR_NO_MEMORY", "out of memory"),
    ("ERR_IO", "file or HDF5 error"),
    ("ERR_DROPPED", "ring full: row dropped and counted"),
    ("ERR_CLOSED", "recorder is closed or failed to start"),
    ("ERR_THREAD", "could not start the writer thread"),
    ("ERR_CUDA", "CUDA error"),
    ("ERR_NO_CUDA", "this libdxtrec was built without CUDA"),
)
Result = enum.IntEnum("Result", [(name, i) for i, (name, _) in enumerate(_RESULTS)])
RESULT_MESSAGES = tuple(msg for _, msg in _RESULTS)

UNITS = {"cycles": 0, "ns": 1}             # dxtrec_unit
COUNTINGS = {"cumulative": 0, "delta": 1}  # dxtrec_counting


class DxtraceError(RuntimeError):
    """The recorder could not be opened (bad arguments, no memory, no library)."""


class _Config(ctypes.Structure):  # dxtrec_config, field for field
    _fields_ = [
        ("dir", ctypes.c_char_p),
        ("rank", ctypes.c_int),
        ("world_size", ctypes.c_int),
        ("run_id", ctypes.c_char_p),
        ("node", ctypes.c_char_p),
        ("local_rank", ctypes.c_int),
        ("ops", ctypes.POINTER(ctypes.c_char_p)),
        ("nops", ctypes.c_int),
        ("unit", ctypes.c_int),
        ("clock_hz", ctypes.c_double),
        ("counting", ctypes.c_int),
        ("record_tokens", ctypes.c_int),
        ("flush_interval_s", ctypes.c_double),
        ("ring_capacity", ctypes.c_int),
        ("compress_level", ctypes.c_int),
        ("fsync", ctypes.c_int),
        ("quiet", ctypes.c_int),
    ]


class Counters(ctypes.Structure):  # dxtrec_counters
    _fields_ = [
        ("rows_recorded", ctypes.c_uint64),
        ("rows_written", ctypes.c_uint64),
        ("rows_dropped", ctypes.c_uint64),
        ("last_error", ctypes.c_int),
    ]

    def __repr__(self):
        return ("Counters(rows_recorded=%d, rows_written=%d, rows_dropped=%d, last_error=%s)"
                % (self.rows_recorded, self.rows_written, self.rows_dropped,
                   Result(self.last_error).name))


def _signatures():
    p64 = ctypes.POINTER(ctypes.c_int64)
    sigs = {
        "dxtrec_config_init": (None, [ctypes.POINTER(_Config)]),
        "dxtrec_open": (ctypes.c_int, [ctypes.POINTER(_Config), ctypes.POINTER(ctypes.c_void_p)]),
        "dxtrec_record": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, p64, p64]),
        "dxtrec_record_device": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64,
                                                ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p]),
        "dxtrec_attach_device": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                ctypes.c_void_p]),
        "dxtrec_step_device": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]),
        "dxtrec_flush": (ctypes.c_int, [ctypes.c_void_p]),
        "dxtrec_close": (ctypes.c_int, [ctypes.c_void_p]),
        "dxtrec_get_counters": (None, [ctypes.c_void_p, ctypes.POINTER(Counters)]),
        "dxtrec_last_error": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
        "dxtrec_result_string": (ctypes.c_char_p, [ctypes.c_int]),
        "dxtrec_max_ops": (ctypes.c_int, []),
    }
    return sigs


def load_library():
    """The loaded libdxtrec (loaded once); DxtraceError when none is found."""
    return _native.load_once("DXTREC_LIB", "dxtrec", _signatures, DxtraceError,
                             "set DXTREC_LIB")


def _is_torch_tensor(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr")


def _host_vector(x, n, what):
    """x as a contiguous int64 numpy vector of n elements (TypeError/ValueError)."""
    if _is_torch_tensor(x):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError("%s: integers expected, got dtype %s" % (what, arr.dtype))
    arr = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
    if arr.size != n:
        raise ValueError("%s: %d values expected (world_size), got %d" % (what, n, arr.size))
    return arr


def _raw_stream_getter():
    """The cheapest getter of torch's current stream: device index -> cudaStream_t
    as an integer (torch's C accessor where this torch has it)."""
    import torch
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw

    def current(index, _cs=torch.cuda.current_stream):
        return _cs(index).cuda_stream
    return current


def _current_raw_stream(device_index):
    """torch's current stream of a device as a cudaStream_t integer."""
    return _raw_stream_getter()(device_index)


def _no_cuda_message(what):
    lib = getattr(_native.loaded("dxtrec"), "_name", "libdxtrec")
    return ("dxtrace: %s: %s was built without CUDA (nvcc was not found when it was built), so "
            "CUDA tensors cannot be recorded; rebuild it with `make` where nvcc is found (or "
            "`make NODEPS=1 gpu` on a GPU machine), or set DXTREC_LIB to a CUDA build"
            % (what, lib))


def _check_cuda_tensor(t, n, what):
    import torch
    if t.dtype != torch.int64:
        raise TypeError("%s: torch.int64 expected, got %s" % (what, t.dtype))
    if not t.is_contiguous() or t.numel() != n:
        raise ValueError("%s: a contiguous tensor of %d values expected (world_size), got "
                         "shape %s" % (what, n, tuple(t.shape)))


class Recorder(_native.Handle):
    """One rank's recorder: writes <directory>/rank-<rank, 5 digits>.h5.

    Arguments mirror dxtrec_config (recorder/dxtrec.h). unit: "cycles" (clock64,
    DeepEP's stats) or "ns"; clock_hz: cycles per second, 0: the library fills
    in the GPU's peak SM clock where it sees one; counting: "cumulative"
    (DeepEP) or "delta"; record_tokens: keep a tokens dataset.
    step_every: step(step) records only one step in step_every, the steps s
    with (s + 1) % step_every == 0 (9, 19, 29, ... for 10), and the first
    step() (0, say): a row then holds the counts of the steps since the row
    before, so a window of dxt-analyze that is a multiple of step_every (its
    default windows of 10, 20, 50, 100, ... steps, dxtrace.diagnose's 20)
    sums exactly its own steps (shorter windows get a row every step_every
    steps, each the counts of step_every steps). DeepEP's
    counters are cumulative, so nothing is lost but per-step detail, and the
    launch on the job's stream is paid once in step_every steps; a skipped
    step costs one Python test (~0.1 us). 10 is the recommended value for
    eager loops (below 0.5% of a 100-200 us LL step where 1 costs 3-6%). It
    needs explicit step numbers. In a CUDA graph keep 1: the captured step is
    a node beside the replay's first kernels (see step()), nearly free, and a
    step skipped at capture would be skipped in every replay.

    A file error at open (directory not writable, ...) does not raise: the
    recorder counts rows as dropped and retries; open_result says what
    happened (a warning is issued unless quiet).
    """

    _closed_error = (DxtraceError, "recorder is closed")

    def __init__(self, directory, rank, world_size, run_id="dxtrace",
                 ops=("dispatch", "combine"), unit="cycles", clock_hz=0.0,
                 counting="cumulative", record_tokens=False, node=None, local_rank=-1,
                 flush_interval_s=1.0, ring_capacity=4096, compress_level=1, fsync=False,
                 quiet=False, step_every=1):
        lib = load_library()
        if int(step_every) < 1:
            raise ValueError("step_every must be 1 or more, got %r" % (step_every,))
        self._step_every = int(step_every)
        if unit not in UNITS or counting not in COUNTINGS:
            raise ValueError("unit must be one of %s, counting one of %s"
                             % (sorted(UNITS), sorted(COUNTINGS)))
        self._lib = lib
        self._handle = None
        # the handle as step() passes it (a ctypes object: no conversion per call);
        # its value is None once closed, so that a step() kept by the caller gets
        # ERR_INVALID_ARG from the library, never a freed recorder
        self._step_handle = ctypes.c_void_p(None)
        self._cuda_set_up = False
        self._warned_no_cuda = False
        self._attached = {}  # op index -> (wait, tokens): kept alive until close
        # record()'s CUDA tensors, kept until their copies are surely done: at most
        # the copy pool's slots (DEV_MAX_SLOTS in recorder/dxtrec_cuda.c) are in flight,
        # so a temporary handed to record() is never freed (and reused) under its copy
        self._in_flight = collections.deque(maxlen=1024)
        self.world_size = int(world_size)
        self.ops = tuple(str(o) for o in ops)
        self._op_index = {name: i for i, name in enumerate(self.ops)}
        self._keep = [os.fsencode(directory), str(run_id).encode(),
                      None if node is None else str(node).encode()]
        self._ops_c = (ctypes.c_char_p * max(1, len(self.ops)))(*[o.encode() for o in self.ops])
        cfg = _Config()
        lib.dxtrec_config_init(ctypes.byref(cfg))
        cfg.dir, cfg.run_id, cfg.node = self._keep
        cfg.rank, cfg.world_size, cfg.local_rank = int(rank), self.world_size, int(local_rank)
        cfg.ops, cfg.nops = self._ops_c, len(self.ops)
        max_ops = int(lib.dxtrec_max_ops())
        if not 1 <= len(self.ops) <= max_ops:
            raise ValueError("%d ops given: a recorder holds 1 to %d ops (the trace format's "
                             "limit, DXT_MAX_OPS in format/dxt_format.h); sum layers into fewer "
                             "ops or use several recorders" % (len(self.ops), max_ops))
        cfg.unit, cfg.counting = UNITS[unit], COUNTINGS[counting]
        cfg.clock_hz = float(clock_hz)
        cfg.record_tokens = 1 if record_tokens else 0
        cfg.flush_interval_s = float(flush_interval_s)
        cfg.ring_capacity, cfg.compress_level = int(ring_capacity), int(compress_level)
        cfg.fsync, cfg.quiet = int(bool(fsync)), int(bool(quiet))
        handle = ctypes.c_void_p()
        res = Result(lib.dxtrec_open(ctypes.byref(cfg), ctypes.byref(handle)))
        if not handle.value:
            raise DxtraceError("dxtrec_open(%r, rank %s): %s" % (directory, rank,
                                                                  RESULT_MESSAGES[res]))
        self._handle = handle
        self._step_handle.value = handle.value
        self.open_result = res
        if res != Result.SUCCESS and not quiet:
            warnings.warn("dxtrace: %s" % self.last_error()[1], RuntimeWarning, stacklevel=2)

    # ---- recording ----

    def _op(self, op):
        if isinstance(op, str):
            if op not in self._op_index:
                raise ValueError("unknown op %r (ops: %s)" % (op, ", ".join(self.ops)))
            return self._op_index[op]
        return int(op)

    def record(self, op, step, wait, tokens=None, stream=None):
        """Record one row of op (a name or an index) at step.

        wait, tokens: world_size integers each. torch CUDA tensors (int64,
        contiguous) go through the device path on stream (default: torch's
        current stream of the tensor's device; the recorder keeps a reference
        until the copy is surely done, so a temporary is safe); anything else is
        copied now.
        Returns a Result: SUCCESS, ERR_DROPPED (ring or pool full: counted),
        ERR_CUDA, ... Raises TypeError/ValueError on malformed input."""
        handle, op_i = self._live(), self._op(op)
        if _is_torch_tensor(wait) and wait.is_cuda:
            return self._record_torch_cuda(handle, op_i, step, wait, tokens, stream)
        w = _host_vector(wait, self.world_size, "wait")
        t = None if tokens is None else _host_vector(tokens, self.world_size, "tokens")
        p64 = ctypes.POINTER(ctypes.c_int64)
        return Result(self._lib.dxtrec_record(
            handle, op_i, int(step), w.ctypes.data_as(p64),
            None if t is None else t.ctypes.data_as(p64)))

    def _record_torch_cuda(self, handle, op_i, step, wait, tokens, stream):
        _check_cuda_tensor(wait, self.world_size, "wait")
        tok_ptr = None
        if tokens is not None:
            if not (_is_torch_tensor(tokens) and tokens.device == wait.device):
                raise TypeError("tokens: a CUDA tensor on the device of wait expected")
            _check_cuda_tensor(tokens, self.world_size, "tokens")
            tok_ptr = tokens.data_ptr()
        dev = wait.device.index
        if stream is None:
            stream = _current_raw_stream(dev)
        elif hasattr(stream, "cuda_stream"):
            stream = stream.cuda_stream
        args = (handle, op_i, int(step), wait.data_ptr(), tok_ptr, int(stream))
        self._in_flight.append((wait, tokens))
        if self._cuda_set_up:
            return Result(self._lib.dxtrec_record_device(*args))
        import torch
        with torch.cuda.device(dev):  # the first call sets the pool up on the current device
            res = self._lib.dxtrec_record_device(*args)
        self._cuda_set_up = res != Result.ERR_NO_CUDA
        if res == Result.ERR_NO_CUDA and not self._warned_no_cuda:
            self._warned_no_cuda = True
            warnings.warn(_no_cuda_message("record() of a CUDA tensor"), RuntimeWarning,
                          stacklevel=3)
        return Result(res)

    # ---- the step path: attach once, one step() per step for every op ----

    def attach(self, op, wait, tokens=None):
        """Register op's device counters for step(): wait (and tokens, kept when
        record_tokens) are torch CUDA int64 tensors of world_size values (the
        recorder keeps a reference until close, so they are never freed under
        it) or device addresses as integers (then on the current CUDA device,
        and the caller keeps the memory alive). Attach every op before the
        first step() and outside any graph capture; attaching again replaces,
        wait=None detaches. Raises DxtraceError when the library cannot (no
        CUDA in the build, no GPU, not device memory), ValueError/TypeError on
        malformed tensors."""
        handle, op_i = self._live(), self._op(op)
        if not 0 <= op_i < len(self.ops):
            raise ValueError("op %d out of range (%d ops)" % (op_i, len(self.ops)))
        ptrs, dev = [], None
        for name, t in (("wait", wait), ("tokens", tokens)):
            if t is None:
                ptrs.append(None)
            elif _is_torch_tensor(t):
                if not t.is_cuda:
                    raise TypeError("%s: a CUDA tensor expected (attach records device "
                                    "counters; record() takes host data)" % name)
                _check_cuda_tensor(t, self.world_size, name)
                if dev is not None and t.device.index != dev:
                    raise TypeError("tokens: a CUDA tensor on the device of wait expected")
                dev = t.device.index
                ptrs.append(t.data_ptr())
            elif isinstance(t, numbers.Integral):
                ptrs.append(int(t))
            else:
                raise TypeError("%s: a torch CUDA tensor or a device address (int) expected, "
                                "got %s" % (name, type(t).__name__))
        if ptrs[0] is None and ptrs[1] is not None:
            raise ValueError("tokens without wait")
        if dev is not None:
            import torch
            with torch.cuda.device(dev):  # the first attach makes the ring on this device
                res = Result(self._lib.dxtrec_attach_device(handle, op_i, ptrs[0], ptrs[1]))
        else:
            res = Result(self._lib.dxtrec_attach_device(handle, op_i, ptrs[0], ptrs[1]))
        if res == Result.ERR_NO_CUDA:
            raise DxtraceError(_no_cuda_message("attach()"))
        if res != Result.SUCCESS:
            raise DxtraceError("attach(%r): %s: %s" % (self.ops[op_i], RESULT_MESSAGES[res],
                                                        self.last_error()[1]))
        if ptrs[0] is None:
            self._attached.pop(op_i, None)
        else:
            self._attached[op_i] = (wait, tokens)
        if "step" not in self.__dict__:
            self.step = self._make_step(dev)
        return res

    def _make_step(self, dev, raw=None, handle=None):
        """step() with everything looked up once: the ctypes function (argtypes
        declared), the handle as a ctypes object, torch's current-stream getter
        for the ring's device (raw: another getter, index -> cudaStream_t, and
        handle: another c_void_p, for timing this layer alone: see
        tests/gpu/bench_step.py --python-layer). Per call: one Python frame,
        the stream lookup, one ctypes call; nothing else."""
        fn = self._lib.dxtrec_step_device
        handle = self._step_handle if handle is None else handle
        if raw is None and dev is not None:
            raw = _raw_stream_getter()
        if dev is None:  # raw addresses only: the legacy default stream unless told
            def step(step=STEP_AUTO, stream=None):
                return fn(handle, step, 0 if stream is None else
                          getattr(stream, "cuda_stream", stream))
        else:
            def step(step=STEP_AUTO, stream=None):
                if stream is None:
                    return fn(handle, step, raw(dev))
                return fn(handle, step, getattr(stream, "cuda_stream", stream))
        every = self._step_every
        if every > 1:  # the counters are cumulative: skipped steps lose no wait
            record_step, first = step, True

            def step(step=STEP_AUTO, stream=None):
                nonlocal first
                if (step + 1) % every and not first:  # skipped: these tests, nothing else
                    if step == STEP_AUTO:
                        raise DxtraceError("step_every > 1 needs the step number: step(step)")
                    return 0
                if step == STEP_AUTO:
                    raise DxtraceError("step_every > 1 needs the step number: step(step)")
                first = False
                return record_step(step, stream)
        step.__doc__ = Recorder.step.__doc__
        return step

    def step(self, step=STEP_AUTO, stream=None):
        """Record one row of every attached op at step (an int; STEP_AUTO: the
        last step + 1): one small kernel on stream (default: torch's current
        stream of the attached tensors' device; a raw cudaStream_t integer or
        a torch.cuda.Stream), which copies the counters as they stand after
        the work queued before it. Never synchronizes. Inside a
        torch.cuda.graph capture nothing is queued: the graph gets one node
        with no dependency, which runs beside each replay's first kernels
        (off the job's critical path) and records the row the previous
        replay left: the counters as the replay finds them, numbered on from
        the last step (step is then ignored; a graph with k step() calls
        numbers k steps per replay, one row for its last). The last replay's
        row is taken at close (synchronize first) or by the next eager
        step(), whose row then holds its counts too. Returns an int result (0: Result.SUCCESS; compare with
        Result); a closed recorder gives ERR_INVALID_ARG. Available after the
        first attach()."""
        self._live()
        raise DxtraceError("step() before attach(): attach the ops' counters first")

    def record_device(self, op, step, wait_ptr, tokens_ptr=None, stream=0):
        """Device path with raw pointers (CuPy, Numba, ...): wait_ptr and
        tokens_ptr are device addresses of world_size int64 each, stream a
        cudaStream_t as an integer (0: the legacy default stream). The first
        call sets up the copy pool on the current CUDA device: make it the
        device of the counters."""
        handle = self._live()
        return Result(self._lib.dxtrec_record_device(
            handle, self._op(op), int(step), int(wait_ptr),
            None if tokens_ptr is None else int(tokens_ptr), int(stream)))

    # ---- state, flush, close ----

    @property
    def counters(self):
        c = Counters()
        self._lib.dxtrec_get_counters(self._live(), ctypes.byref(c))
        return c

    def last_error(self):
        """(Result, message) of the last error; (SUCCESS, "") when none."""
        buf = ctypes.create_string_buffer(1024)
        res = self._lib.dxtrec_last_error(self._live(), buf, len(buf))
        return Result(res), buf.value.decode(errors="replace")

    def flush(self):
        """Block until every row recorded so far (host path; device rows whose
        copies completed) is in the file. Returns a Result."""
        return Result(self._lib.dxtrec_flush(self._live()))

    def close(self):
        """Flush, close and compress the file. Idempotent. Returns a Result."""
        if self._handle is None:
            return Result.ERR_CLOSED
        handle, self._handle = self._handle, None
        self._step_handle.value = None  # a step() kept by the caller gets ERR_INVALID_ARG
        self.__dict__.pop("step", None)
        res = Result(self._lib.dxtrec_close(handle))
        self._attached.clear()
        self._in_flight.clear()
        return res
