#!/usr/bin/env python3
"""ep_deepep.py - DeepEP's own low-latency (LL) dispatch + combine on the GPUs of one
machine, recorded with dxtrace exactly as the README tells users to, with injected faults.

One process per GPU (torch.multiprocessing), NCCL for the process group, DeepEP's
NVSHMEM buffer over NVLink. Each case runs --steps steps of dispatch + combine with
DeepEP's `dispatch_wait_recv_cost_stats` / `combine_wait_recv_cost_stats` and writes
OUT/CASE/rank-*.h5 through `dxtrace.Recorder` plus OUT/CASE/truth.json (rank 0).

    python3 ep_deepep.py --ranks 4 --out traces --matrix          # the case matrix
    python3 ep_deepep.py --ranks 2 --out t --case healthy          # one healthy case
    python3 ep_deepep.py --ranks 2 --out t --case slow \
        --fault slow_source,rank=1,us=20,onset=300                 # one faulty case
    python3 ep_deepep.py --ranks 2 --bench                         # recording overhead
    python3 ep_deepep.py --ranks 2 --bench --graph                 # the same, CUDA graphs
    python3 ep_deepep.py --ranks 2 --bench --bench-variants sync,graph,nosync  # several
    python3 ep_deepep.py --ranks 2 --graph                         # captured + replayed

Faults (`--fault KIND,key=value,...`; keys: rank, src, dst, us, ops, onset, end, period,
duty, factor):
  slow_source       torch.cuda._sleep of `us` on rank's stream before its ops (a late GPU)
  slow_destination  every other rank's release of data to `rank` waits `us` inside DeepEP's
                    kernels (fault_delay.patch; as behind a slow NIC)
  slow_path         rank `src`'s release of data to `dst` waits `us` (a slow link)
  load_imbalance    the experts of `rank` get `factor` x more of every rank's tokens (a hot
                    expert), no delay
onset/end in steps (end -1: to the last step); period/duty: on for duty x period steps of
every period (intermittent bursts). DeepEP must be built with fault_delay.patch for the
two in-kernel kinds (tests/gpu/run_deepep.sh does it).

Needs: torch with CUDA, deep_ep on PYTHONPATH (commit 567632d, see samples/deepep/README.md),
dxtrace on PYTHONPATH (python/) and libdxtrec built with CUDA.

Owner: the DeepEP harness (samples/deepep/).
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

FAULT_KINDS = ("slow_source", "slow_destination", "slow_path", "load_imbalance")
OPS = ("dispatch", "combine")
DEEPEP_COMMIT = "567632d"


# ---------------------------------------------------------------- faults, cases --------

def parse_fault(text, steps):
    """'kind,key=value,...' -> dict with every key filled in."""
    kind, *pairs = text.split(",")
    if kind not in FAULT_KINDS:
        raise ValueError("fault %r: kind must be one of %s" % (text, ", ".join(FAULT_KINDS)))
    f = {"kind": kind, "rank": -1, "src": -1, "dst": -1, "us": 0.0, "ops": list(OPS),
         "onset": 0, "end": -1, "period": 0, "duty": 1.0, "factor": 1.0}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in f or key == "kind":
            raise ValueError("fault %r: bad item %r (keys: %s)" % (text, pair, ", ".join(f)))
        if key == "ops":
            f["ops"] = [o for o in value.split("+") if o]
            if not f["ops"] or any(o not in OPS for o in f["ops"]):
                raise ValueError("fault %r: ops must be dispatch, combine or dispatch+combine" % text)
        elif key in ("us", "duty", "factor"):
            f[key] = float(value)
        else:
            f[key] = int(value)
    if f["end"] < 0:
        f["end"] = steps - 1
    if kind == "slow_path" and (f["src"] < 0 or f["dst"] < 0 or f["src"] == f["dst"]):
        raise ValueError("fault %r: slow_path needs src and dst, different" % text)
    if kind != "slow_path" and f["rank"] < 0:
        raise ValueError("fault %r: needs rank=" % text)
    return f


def fault_on(f, step):
    if not f["onset"] <= step <= f["end"]:
        return False
    if f["period"] <= 0 or f["duty"] >= 1.0:
        return True
    return (step - f["onset"]) % f["period"] < f["duty"] * f["period"]


def case_matrix(n, steps):
    """The cases tests/gpu/run_deepep.sh records for n ranks: (name, [fault text])."""
    onset = steps * 3 // 8
    last = n - 1
    mid = 1 if n > 2 else 0
    cases = [("healthy", [])]
    for us in (3, 20):
        cases.append(("slow-source-%dus" % us, ["slow_source,rank=%d,us=%d,onset=%d" % (last, us, onset)]))
    cases.append(("slow-source-dispatch-20us",
                  ["slow_source,rank=%d,us=20,ops=dispatch,onset=%d" % (mid, onset)]))
    cases.append(("slow-source-from-0-10us", ["slow_source,rank=%d,us=10,onset=0" % last]))
    cases.append(("intermittent-10us", ["slow_source,rank=%d,us=10,onset=%d,period=40,duty=0.3"
                                        % (mid, onset)]))
    for us in (5, 20):
        cases.append(("slow-destination-%dus" % us,
                      ["slow_destination,rank=%d,us=%d,onset=%d" % (mid, us, onset)]))
        cases.append(("slow-path-%dus" % us,
                      ["slow_path,src=%d,dst=0,us=%d,onset=%d" % (last, us, onset)]))
    cases.append(("load-imbalance-4x", ["load_imbalance,rank=%d,factor=4,onset=%d" % (mid, onset)]))
    return cases


def expected_findings(f):
    """What a correct analysis reports for fault f: one entry per op."""
    out = []
    for op in f["ops"]:
        e = {"kind": f["kind"], "op": op, "first_step": f["onset"], "last_step": f["end"],
             "onset": f["onset"], "end": f["end"], "duty": f["duty"] if f["period"] > 0 else 1.0}
        if f["kind"] == "slow_path":
            e.update(src=f["src"], dst=f["dst"], pattern="cell")
        elif f["kind"] == "load_imbalance":  # the hot rank receives more, then sends more back
            e.update(rank=f["rank"], pattern="row" if op == "dispatch" else "column")
        else:
            e.update(rank=f["rank"],
                     pattern="column" if f["kind"] == "slow_source" else "row")
        out.append(e)
    return out


# ---------------------------------------------------------------- one rank ------------

class Injector:
    """Applies this rank's share of the faults at each step."""

    def __init__(self, rank, faults, deep_ep_lib, cycles_per_us):
        self.rank, self.faults = rank, faults
        self.cycles_per_us = cycles_per_us
        self.set_fault = None
        kernel_faults = [f for f in faults if f["kind"] in ("slow_destination", "slow_path")]
        if kernel_faults:
            if len(kernel_faults) > 1:
                raise ValueError("one in-kernel fault (slow_destination/slow_path) per case")
            self.set_fault = deep_ep_lib.dxt_set_ll_fault
            self.set_fault.argtypes = [ctypes.c_int] * 4
        self.kernel_state = None

    def source_sleep(self, step, op):
        import torch
        for f in self.faults:
            if f["kind"] == "slow_source" and f["rank"] == self.rank and op in f["ops"] \
                    and fault_on(f, step):
                torch.cuda._sleep(int(f["us"] * self.cycles_per_us))

    def hot(self, step):
        return any(f["kind"] == "load_imbalance" and fault_on(f, step) for f in self.faults)

    def kernel_faults(self, step):
        if self.set_fault is None:
            return
        f = next(f for f in self.faults if f["kind"] in ("slow_destination", "slow_path"))
        state = fault_on(f, step)
        if state == self.kernel_state:
            return
        self.kernel_state = state
        src = f["src"] if f["kind"] == "slow_path" else -1
        dst = f["dst"] if f["kind"] == "slow_path" else f["rank"]
        mask = sum(1 << OPS.index(o) for o in f["ops"])
        rc = self.set_fault(src, dst, int(f["us"] * 1000) if state else 0, mask)
        if rc != 0:
            raise RuntimeError("dxt_set_ll_fault: cudaError %d (DeepEP built without "
                               "fault_delay.patch?)" % rc)

    def clear(self):
        if self.set_fault is not None:
            self.set_fault(-1, -1, 0, 0)
            self.kernel_state = None


def sleep_cycles_per_us():
    """torch.cuda._sleep's cycles per microsecond, measured with CUDA events."""
    import torch
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(1000000)  # warm up
    start.record()
    torch.cuda._sleep(20000000)
    stop.record()
    stop.synchronize()
    return 20000000 / (start.elapsed_time(stop) * 1000.0)


def routings(args, rank, n, hot_rank, factor):
    """A pool of 16 top-k routings of this rank's tokens (varying load), all on the GPU:
    (topk_idx, topk_weights, (token, expert) pairs per owning rank)."""
    import torch
    import deep_ep
    experts = args.experts_per_rank * n
    g = torch.Generator(device="cuda")
    g.manual_seed(1000 + rank)
    pool = []
    for _ in range(16):
        scores = torch.rand((args.tokens, experts), generator=g, device="cuda") + 0.05
        if hot_rank >= 0:
            lo = hot_rank * args.experts_per_rank
            scores[:, lo:lo + args.experts_per_rank] *= factor
        idx = torch.topk(scores, args.topk, dim=-1).indices.to(deep_ep.topk_idx_t)
        weights = torch.rand((args.tokens, args.topk), generator=g, device="cuda")
        pairs = (idx.long() // args.experts_per_rank).flatten().bincount(minlength=n)
        pool.append((idx, weights.float(), pairs))
    return pool


class Step:
    """One rank's per-step work: dispatch, record, combine, record (the README's recipe)."""

    def __init__(self, args, rank, n, buf):
        import torch
        self.args, self.rank, self.n, self.buf = args, rank, n, buf
        self.experts = args.experts_per_rank * n
        self.x = torch.randn((args.tokens, args.hidden), dtype=torch.bfloat16, device="cuda")
        self.y = torch.randn((args.experts_per_rank, args.tokens * n, args.hidden),
                             dtype=torch.bfloat16, device="cuda")
        self.dispatch_wait = torch.zeros(n, dtype=torch.int64, device="cuda")
        self.combine_wait = torch.zeros(n, dtype=torch.int64, device="cuda")
        self.dispatch_tokens = torch.zeros(n, dtype=torch.int64, device="cuda")
        self.combine_tokens = torch.zeros(n, dtype=torch.int64, device="cuda")

    def reset(self):
        for t in (self.dispatch_wait, self.combine_wait, self.dispatch_tokens, self.combine_tokens):
            t.zero_()

    def _finish(self, event, hook):
        if self.args.hook:
            hook()                       # the waits are measured inside hook()
        elif self.args.async_finish:
            event.current_stream_wait()  # the kernel ran on DeepEP's stream

    def run(self, step, rec, routing, inject):
        import torch
        a = self.args
        topk_idx, topk_weights, pairs_per_rank = routing
        if inject:
            inject.kernel_faults(step)
            inject.source_sleep(step, "dispatch")
        _, _, handle, event, hook = self.buf.low_latency_dispatch(
            self.x, topk_idx, a.tokens, self.experts, use_fp8=a.fp8,
            dispatch_wait_recv_cost_stats=self.dispatch_wait,
            async_finish=a.async_finish and not a.hook, return_recv_hook=a.hook)
        self._finish(event, hook)
        tokens = None
        if a.tokens_stats:  # per source: the receive layout's counts, summed over experts
            self.dispatch_tokens += (handle[1] & 0xFFFFFFFF).sum(0)
            tokens = self.dispatch_tokens
        if rec is not None and a.record_path == "record":
            rec.record("dispatch", step, self.dispatch_wait, tokens)
        if inject:
            inject.source_sleep(step, "combine")
        _, event, hook = self.buf.low_latency_combine(
            self.y, topk_idx, topk_weights, handle,
            combine_wait_recv_cost_stats=self.combine_wait,
            async_finish=a.async_finish and not a.hook, return_recv_hook=a.hook)
        self._finish(event, hook)
        if a.tokens_stats:  # what comes back from each rank: my (token, expert) pairs on it
            self.combine_tokens += pairs_per_rank
            tokens = self.combine_tokens
        if rec is not None:
            if a.record_path == "record":
                rec.record("combine", step, self.combine_wait, tokens)
            else:  # one call for every op: the counters attached at open_recorder
                rec.step(step)
        if a.sync and not torch.cuda.is_current_stream_capturing():
            torch.cuda.synchronize()  # the end of a training step (loss.item()): all start together


def open_recorder(args, directory, rank, n, run_id, step_obj, every=None):
    """The README's recipe: a Recorder per rank; for the step path, DeepEP's stats tensors
    (and the token counts) attached once, then one rec.step() per step."""
    import dxtrace
    rec = dxtrace.Recorder(directory, rank, n, run_id=run_id, ops=OPS,
                           record_tokens=args.tokens_stats, node=args.node,
                           step_every=args.record_every if every is None else every)
    if args.record_path == "step":
        tokens = args.tokens_stats
        rec.attach("dispatch", step_obj.dispatch_wait, step_obj.dispatch_tokens if tokens else None)
        rec.attach("combine", step_obj.combine_wait, step_obj.combine_tokens if tokens else None)
    return rec


def run_case(args, rank, n, step_obj, name, faults, lib, cycles_per_us, group):
    import torch
    import torch.distributed as dist
    directory = os.path.join(args.out, name)
    if rank == 0:
        os.makedirs(directory, exist_ok=True)
    dist.barrier(group=group)
    hot = next((f for f in faults if f["kind"] == "load_imbalance"), None)
    normal = routings(args, rank, n, -1, 1.0)
    skewed = routings(args, rank, n, hot["rank"], hot["factor"]) if hot else normal
    inject = Injector(rank, faults, lib, cycles_per_us)
    step_obj.reset()
    rec = open_recorder(args, directory, rank, n, "deepep-%s-ep%d" % (name, n), step_obj)
    t0 = time.perf_counter()
    for step in range(args.steps):
        pool = skewed if inject.hot(step) else normal
        step_obj.run(step, rec, pool[step % len(pool)], inject)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    inject.clear()
    counters = rec.counters
    rec.close()
    dist.barrier(group=group)
    if rank == 0:
        write_truth(args, directory, name, n, faults, elapsed)
    return counters, elapsed


def write_truth(args, directory, name, n, faults, elapsed):
    import torch
    truth = {
        "format": "dxtrace-truth", "version": 1, "source": "deepep-ll",
        "deepep_commit": DEEPEP_COMMIT, "device": torch.cuda.get_device_name(),
        "run_id": "deepep-%s-ep%d" % (name, n), "case": name, "world_size": n,
        "per_node": n, "steps": args.steps, "ops": list(OPS), "unit": "cycles",
        "counting": "cumulative",
        "config": {"tokens": args.tokens, "hidden": args.hidden, "sync": args.sync,
                   "record_path": args.record_path, "graph": name.startswith("graph"),
                   "record_every": args.record_every,
                   "experts_per_rank": args.experts_per_rank, "topk": args.topk,
                   "fp8": args.fp8, "hook": args.hook, "async_finish": args.async_finish,
                   "tokens_recorded": args.tokens_stats},
        "seconds": round(elapsed, 3),
        "faults": [dict(f, spec=f.get("spec", "")) for f in faults],
        "expected": [e for f in faults for e in expected_findings(f)],
    }
    with open(os.path.join(directory, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)


# --bench-variants: name -> what it sets (on top of the command line's other options)
BENCH_VARIANTS = {
    "sync": dict(sync=True, record_path="step", record_every=1, hook=False, graph=False),
    "nosync": dict(sync=False, record_path="step", record_every=1, hook=False, graph=False),
    "every10": dict(sync=True, record_path="step", record_every=10, hook=False, graph=False),
    "nosync-every10": dict(sync=False, record_path="step", record_every=10, hook=False,
                           graph=False),
    "record": dict(sync=True, record_path="record", record_every=1, hook=False, graph=False),
    "hook": dict(sync=True, record_path="step", record_every=1, hook=True, graph=False),
    "graph": dict(sync=True, record_path="step", record_every=1, hook=False, graph=True),
    "graph-nosync": dict(sync=False, record_path="step", record_every=1, hook=False, graph=True),
    # the graph without the recorder; rec.step() after each replay, one row in 10 (the
    # counters are cumulative: a row after replay k holds every step up to k)
    "graph-every10": dict(sync=True, record_path="step", record_every=10, hook=False,
                          graph=True, graph_outside=True),
    "graph-nosync-every10": dict(sync=False, record_path="step", record_every=10, hook=False,
                                 graph=True, graph_outside=True),
    # the step kernel with programmatic dependent launch (DXTREC_STEP_PDL=1, an experiment;
    # a captured step is a root node of the graph, never launched: PDL does not apply there)
    "sync-pdl": dict(sync=True, record_path="step", record_every=1, hook=False, graph=False,
                     pdl=True),
}


def bench_variants(args):
    """[(name, args of the variant)]: --bench-variants, or the command line as given."""
    if not args.bench_variants:
        return [("given", args)]
    out = []
    for name in args.bench_variants.split(","):
        if name not in BENCH_VARIANTS:
            raise ValueError("--bench-variants: %r is none of %s" % (name, ", ".join(BENCH_VARIANTS)))
        out.append((name, argparse.Namespace(**dict(vars(args), **BENCH_VARIANTS[name]))))
    return out


def timed_blocks(args, group, run_block):
    """Interleaved blocks, recording off and on (the first pair warms up): the
    per-step times of each block, in us, by mode."""
    import torch
    import torch.distributed as dist
    times = {"off": [], "on": []}
    for block in range(2 * args.bench_blocks + 2):
        mode = "on" if block % 2 else "off"
        torch.cuda.synchronize()
        dist.barrier(group=group)
        t0 = time.perf_counter()
        run_block(mode)
        torch.cuda.synchronize()
        if block >= 2:
            times[mode].append((time.perf_counter() - t0) / args.bench_steps * 1e6)
    return times


def eager_blocks(args, rank, n, step_obj, rec):
    """run_block for eager steps: each step launched from Python, routings varying."""
    pool = routings(args, rank, n, -1, 1.0)
    state = {"step": 0}

    def run_block(mode):
        for _ in range(args.bench_steps):
            step = state["step"]
            step_obj.run(step, rec if mode == "on" else None, pool[step % len(pool)], None)
            state["step"] = step + 1
    return run_block


def graph_blocks(args, rank, n, step_obj, rec, group):
    """run_block for CUDA graphs: one step (dispatch + combine, and rec.step() in the
    "on" graph) captured twice, replayed (and synchronized after each replay with
    --sync). Both graphs use the same DeepEP buffers, one at a time. graph_outside:
    neither graph holds the recorder; "on" calls rec.step() after each replay."""
    import torch
    import torch.distributed as dist
    routing = routings(args, rank, n, -1, 1.0)[0]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture, not recorded
        for step in range(3):
            step_obj.run(step, None, routing, None)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    dist.barrier(group=group)
    outside = getattr(args, "graph_outside", False)
    graphs = {}
    for mode in ("off", "on"):
        graphs[mode] = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graphs[mode]):
            step_obj.run(0, rec if mode == "on" and not outside else None, routing, None)
    torch.cuda.synchronize()
    state = {"replay": 0}

    def run_block(mode):
        g = graphs[mode]
        for _ in range(args.bench_steps):
            g.replay()
            if outside and mode == "on":
                rec.step(state["replay"])
                state["replay"] += 1
            if args.sync:
                torch.cuda.synchronize()
    return run_block


def bench(args, rank, n, step_obj, group, name="given"):
    """Step time with recording on vs off: interleaved blocks, median per mode."""
    import torch.distributed as dist
    directory = os.path.join(args.out, "bench-scratch", name)
    if rank == 0:
        os.makedirs(directory, exist_ok=True)
    dist.barrier(group=group)
    step_obj.args = args
    step_obj.reset()
    # a graph replays the captured step: one step in K cannot be skipped there (but
    # can be outside it: graph_outside)
    every = 1 if args.graph and not getattr(args, "graph_outside", False) else None
    pdl = getattr(args, "pdl", False)
    if pdl:  # read by the recorder at its first attach
        os.environ["DXTREC_STEP_PDL"] = "1"
    try:
        rec = open_recorder(args, directory, rank, n, "deepep-bench-%s-ep%d" % (name, n),
                            step_obj, every=every)
    finally:
        if pdl:
            os.environ.pop("DXTREC_STEP_PDL", None)
    if args.graph:
        times = timed_blocks(args, group, graph_blocks(args, rank, n, step_obj, rec, group))
    else:
        times = timed_blocks(args, group, eager_blocks(args, rank, n, step_obj, rec))
    counters = rec.counters
    rec.close()
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    return {"rank": rank, "variant": name, "graph": bool(args.graph), "sync": bool(args.sync),
            "pdl": bool(pdl),
            "hook": bool(args.hook), "record_path": args.record_path,
            "record_every": every or args.record_every,
            "graph_outside": bool(getattr(args, "graph_outside", False)),
            "off_us": round(off, 3), "on_us": round(on, 3),
            "overhead_pct": round((on - off) / off * 100, 3),
            "blocks": args.bench_blocks, "steps_per_block": args.bench_steps,
            "rows_written": counters.rows_written, "rows_dropped": counters.rows_dropped,
            "off_blocks_us": [round(t, 2) for t in times["off"]],
            "on_blocks_us": [round(t, 2) for t in times["on"]]}


def graph_case(args, rank, n, step_obj, group):
    """DeepEP's LL dispatch + combine and rec.step() captured into one CUDA graph
    (torch.cuda.graph), replayed --steps times: every replay must add one row per op
    (the root node records the previous replay's row; close takes the last)."""
    import torch
    import torch.distributed as dist
    name = "graph-healthy"
    directory = os.path.join(args.out, name)
    if rank == 0:
        os.makedirs(directory, exist_ok=True)
    dist.barrier(group=group)
    routing = routings(args, rank, n, -1, 1.0)[0]
    step_obj.reset()
    # every replay runs the captured step: one step in K cannot be skipped there
    rec = open_recorder(args, directory, rank, n, "deepep-%s-ep%d" % (name, n), step_obj, every=1)
    warm = 3
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up steps outside the capture, recorded too
        for step in range(warm):
            step_obj.run(step, rec, routing, None)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    dist.barrier(group=group)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step_obj.run(0, rec, routing, None)  # the step number comes from the device counter
    torch.cuda.synchronize()
    dist.barrier(group=group)
    t0 = time.perf_counter()
    for _ in range(args.steps - warm):
        graph.replay()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    counters = rec.counters
    rec.close()
    dist.barrier(group=group)
    if rank == 0:
        write_truth(args, directory, name, n, [], elapsed)
    return {"case": name, "rank": rank, "seconds": round(elapsed, 3),
            "replays": args.steps - warm, "rows_written": counters.rows_written,
            "rows_dropped": counters.rows_dropped}


def worker(local_rank, args, cases):
    import torch
    import torch.distributed as dist
    n = args.ranks
    os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % args.port,
                            world_size=n, rank=local_rank,
                            device_id=torch.device("cuda", local_rank))
    group = dist.new_group(list(range(n)))
    import deep_ep
    experts = args.experts_per_rank * n
    buf = deep_ep.Buffer(group, 0, deep_ep.Buffer.get_low_latency_rdma_size_hint(
        args.tokens, args.hidden, n, experts), low_latency_mode=True,
        num_qps_per_rank=args.experts_per_rank, allow_nvlink_for_low_latency_mode=True,
        explicitly_destroy=True)
    import deep_ep_cpp
    lib = ctypes.CDLL(deep_ep_cpp.__file__)
    cycles_per_us = sleep_cycles_per_us()
    step_obj = Step(args, local_rank, n, buf)
    results = []
    try:
        for name, faults in cases:
            counters, elapsed = run_case(args, local_rank, n, step_obj, name, faults, lib,
                                         cycles_per_us, group)
            results.append({"case": name, "rank": local_rank, "seconds": round(elapsed, 3),
                            "rows_written": counters.rows_written,
                            "rows_dropped": counters.rows_dropped})
        if args.graph and not args.bench:
            results.append(graph_case(args, local_rank, n, step_obj, group))
        if args.bench:
            for name, variant in bench_variants(args):
                results.append(bench(variant, local_rank, n, step_obj, group, name))
            step_obj.args = args
    finally:
        dist.barrier(group=group)
        buf.destroy()
        dist.destroy_process_group()
    with open(os.path.join(args.out, "rank%d-results.json" % local_rank), "w") as fh:
        json.dump(results, fh, indent=1)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", type=int, default=0, help="GPUs to use (default: all)")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--tokens", type=int, default=128, help="max tokens per rank")
    p.add_argument("--hidden", type=int, default=7168)
    p.add_argument("--experts-per-rank", type=int, default=8)
    p.add_argument("--topk", type=int, default=8)
    p.add_argument("--fp8", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--hook", action="store_true", help="return_recv_hook=True")
    p.add_argument("--async-finish", action="store_true")
    p.add_argument("--sync", action=argparse.BooleanOptionalAction, default=True,
                   help="wait for the GPU at the end of every step, as a training step that "
                        "reads its loss does (without it, Python launch races between the "
                        "processes make some ranks wait 100-300 us per step for others)")
    p.add_argument("--tokens-stats", action=argparse.BooleanOptionalAction, default=True,
                   help="record per-source token counts (load imbalance)")
    p.add_argument("--out", default="deepep-traces")
    p.add_argument("--case", default=None, help="name of the one case to run")
    p.add_argument("--fault", action="append", default=[], help="KIND,key=value,...")
    p.add_argument("--matrix", action="store_true", help="run the case matrix")
    p.add_argument("--record-path", choices=("step", "record"), default="step",
                   help="step: counters attached once, one rec.step() per step (capture-safe); "
                        "record: rec.record() per op (the older path)")
    p.add_argument("--record-every", type=int, default=1, metavar="K",
                   help="step path: record one step in K (the counters are cumulative)")
    p.add_argument("--graph", action="store_true",
                   help="also run a case captured into a CUDA graph and replayed (step path); "
                        "with --bench: measure the overhead on graph replays instead")
    p.add_argument("--bench", action="store_true", help="measure the recording overhead")
    p.add_argument("--bench-variants", default="", metavar="LIST",
                   help="with --bench: several overhead measurements in one run, comma-"
                        "separated, each with its own recorder: " + ", ".join(BENCH_VARIANTS) +
                        " (sync: the step path with a per-step sync; graph: one step "
                        "captured in a CUDA graph and replayed)")
    p.add_argument("--bench-blocks", type=int, default=9)
    p.add_argument("--bench-steps", type=int, default=200)
    p.add_argument("--node", default=None, help="node name for the trace (default: host)")
    p.add_argument("--port", type=int, default=29511)
    p.add_argument("--version", action="version", version="ep_deepep (dxtrace) 1")
    args = p.parse_args(argv)
    return p, args


def build_cases(args, n):
    """[(name, [fault dict])] of the run: the matrix for n ranks and/or the one --case."""
    cases = []
    if args.matrix:
        cases = [(name, [dict(parse_fault(t, args.steps), spec=t) for t in faults])
                 for name, faults in case_matrix(n, args.steps)]
    if args.case:
        cases.append((args.case, [dict(parse_fault(t, args.steps), spec=t) for t in args.fault]))
    return cases


def main(argv=None):
    p, args = parse_args(argv)
    try:  # check the command line before starting anything
        cases = build_cases(args, max(args.ranks, 2))
    except ValueError as e:
        p.error(str(e))
    if not cases and not args.bench and not args.graph:
        p.error("nothing to run: give --case NAME [--fault ...], --matrix, --graph or --bench")
    if args.record_every < 1:
        p.error("--record-every %d: 1 or more" % args.record_every)
    if args.graph and (args.record_path != "step" or args.hook):
        p.error("--graph needs --record-path step and no --hook")
    if args.bench_variants and not args.bench:
        p.error("--bench-variants needs --bench")
    try:
        bench_variants(args)
    except ValueError as e:
        p.error(str(e))
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError as e:
        print("ep_deepep: needs torch with CUDA (%s)" % e, file=sys.stderr)
        return 1
    gpus = torch.cuda.device_count()
    args.ranks = args.ranks or gpus
    if args.ranks < 2 or args.ranks > gpus:
        p.error("--ranks %d: this machine has %d GPUs (need 2 or more)" % (args.ranks, gpus))
    cases = build_cases(args, args.ranks)
    os.makedirs(args.out, exist_ok=True)
    mp.spawn(worker, args=(args, cases), nprocs=args.ranks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
