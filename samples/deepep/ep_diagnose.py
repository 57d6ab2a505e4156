#!/usr/bin/env python3
"""ep_diagnose.py - live diagnosis of DeepEP's own LL dispatch + combine with
`from dxtrace import diagnose as ds`, exactly as DeepXTrace's README wires
DeepXTrace in: the stats tensors come from Diagnose.get_stats_ll_stats_tensor(),
DeepEP's kernels add to them, and diagnose_ll_sync() is called every step (sync
mode) or a background thread diagnoses every few seconds (async mode).

    python3 ep_diagnose.py --ranks 4 --out live --mode sync             # healthy + slow rank
    python3 ep_diagnose.py --ranks 2 --out live --mode async --interval 2

Cases: `healthy`, and `slow-source` (rank N-1 sleeps --us before its ops from step
--onset on). Per case OUT/<mode>-<case>/ holds the trace (one file per rank, written
by the Diagnose instance), rank 0's log diagnose_rank0.log, and on rank 0
results.json: every diagnosis rank 0 returned (sync) with its step, the onset, the
first diagnosis naming the slow rank. Then the per-step cost: interleaved blocks of
steps with and without diagnose_ll_sync() (sync) or with the async thread running,
median of --bench-blocks each: OUT/<mode>-overhead-rank<r>.json.

Reuses ep_deepep.py's step, routing and fault injection (same folder). Needs what it
needs: torch with CUDA, deep_ep (commit 567632d, with fault_delay.patch), dxtrace
(python/) with libdxtrec and libdxtanalysis built.

Owner: the DeepEP harness (samples/deepep/).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ep_deepep  # noqa: E402  (the harness: Step, Injector, routings, faults)


def use_stats(step_obj, ds_obj):
    """Point the harness's step at the Diagnose instance's stats tensors."""
    dispatch, combine = ds_obj.get_stats_ll_stats_tensor()
    step_obj.dispatch_wait, step_obj.combine_wait = dispatch, combine


def summarize(results, onset, slow_rank):
    """First diagnosis naming slow_rank as a slow source, and any finding before onset."""
    first, early = None, []
    for entry in results:
        for op_result in entry["result"] or []:
            cols = [c[0] for c in op_result.get("abnormal_cols", [])]
            rows = [r[0] for r in op_result.get("abnormal_rows", [])]
            points = [p[:2] for p in op_result.get("abnormal_points", [])]
            if entry["step"] < onset and (cols or rows or points):
                early.append({"step": entry["step"], "cols": cols, "rows": rows,
                              "points": points})
            if slow_rank in cols and first is None and entry["step"] >= onset:
                first = entry["step"]
    return {"first_diagnosis_naming_slow_rank": first, "abnormal_before_onset": early}


def run_case(args, rank, n, step_obj, group, name, faults, lib, cycles_per_us):
    import torch
    import torch.distributed as dist
    from dxtrace import diagnose as ds
    directory = os.path.join(args.out, "%s-%s" % (args.mode, name))
    if rank == 0:
        os.makedirs(directory, exist_ok=True)
    dist.barrier(group=group)
    os.environ["DEEPEP_DIAGNOSE_LOG_PATH"] = directory
    os.environ["DEEPEP_DIAGNOSE_WARMING_TIME"] = str(args.interval)
    d = ds.Diagnose(group=group, interval=args.interval, enable_async=args.mode == "async",
                    trace_dir=directory, run_id="live-%s-%s-ep%d" % (args.mode, name, n))
    use_stats(step_obj, d)
    if args.mode == "async":
        d.start_async_diagnose()
    inject = ep_deepep.Injector(rank, faults, lib, cycles_per_us)
    pool = ep_deepep.routings(args, rank, n, -1, 1.0)
    results = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        step_obj.run(step, None, pool[step % len(pool)], inject)
        if args.mode == "sync":
            res = d.diagnose_ll_sync(diagnose_step=args.sync_step)
            if res and rank == 0:
                results.append({"step": step, "result": res})
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    inject.clear()
    d.close()
    dist.barrier(group=group)
    if rank == 0:
        onset = faults[0]["onset"] if faults else args.steps
        out = {"case": name, "mode": args.mode, "ranks": n, "steps": args.steps,
               "seconds": round(elapsed, 3), "faults": [f.get("spec", "") for f in faults],
               "onset": onset, "diagnoses": results}
        out.update(summarize(results, onset, n - 1))
        with open(os.path.join(directory, "results.json"), "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return elapsed


def overhead(args, rank, n, step_obj, group):
    """Per-step time with and without live diagnosis, interleaved blocks, medians."""
    import torch
    import torch.distributed as dist
    from dxtrace import diagnose as ds
    directory = os.path.join(args.out, "%s-overhead" % args.mode)
    if rank == 0:
        os.makedirs(directory, exist_ok=True)
    dist.barrier(group=group)
    os.environ["DEEPEP_DIAGNOSE_LOG_PATH"] = directory
    d = ds.Diagnose(group=group, interval=args.interval, enable_async=args.mode == "async",
                    trace_dir=directory, run_id="live-overhead-ep%d" % n)
    use_stats(step_obj, d)
    if args.mode == "async":
        d.start_async_diagnose()
    pool = ep_deepep.routings(args, rank, n, -1, 1.0)
    times = {"off": [], "on": []}
    step = 0
    for block in range(2 * args.bench_blocks + 2):
        mode = "on" if block % 2 else "off"
        torch.cuda.synchronize()
        dist.barrier(group=group)
        t0 = time.perf_counter()
        for _ in range(args.bench_steps):
            step_obj.run(step, None, pool[step % len(pool)], None)
            if mode == "on" and args.mode == "sync":
                d.diagnose_ll_sync(diagnose_step=args.sync_step)
            step += 1
        torch.cuda.synchronize()
        if block >= 2:
            times[mode].append((time.perf_counter() - t0) / args.bench_steps * 1e6)
    d.close()
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    out = {"rank": rank, "mode": args.mode, "off_us": round(off, 3), "on_us": round(on, 3),
           "overhead_pct": round((on - off) / off * 100, 3),
           "note": "async: the thread runs in both modes; sync: diagnose_ll_sync() per step",
           "off_blocks_us": [round(t, 2) for t in times["off"]],
           "on_blocks_us": [round(t, 2) for t in times["on"]]}
    with open(os.path.join(args.out, "%s-overhead-rank%d.json" % (args.mode, rank)), "w") as fh:
        json.dump(out, fh, indent=1)


def worker(local_rank, args, cases):
    import ctypes
    import torch
    import torch.distributed as dist
    n = args.ranks
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % args.port,
                            world_size=n, rank=local_rank,
                            device_id=torch.device("cuda", local_rank))
    group = dist.new_group(list(range(n)))
    import deep_ep
    import deep_ep_cpp
    buf = deep_ep.Buffer(group, 0, deep_ep.Buffer.get_low_latency_rdma_size_hint(
        args.tokens, args.hidden, n, args.experts_per_rank * n), low_latency_mode=True,
        num_qps_per_rank=args.experts_per_rank, allow_nvlink_for_low_latency_mode=True,
        explicitly_destroy=True)
    lib = ctypes.CDLL(deep_ep_cpp.__file__)
    cycles_per_us = ep_deepep.sleep_cycles_per_us()
    step_obj = ep_deepep.Step(args, local_rank, n, buf)
    try:
        for name, faults in cases:
            run_case(args, local_rank, n, step_obj, group, name, faults, lib, cycles_per_us)
        if args.bench_blocks > 0:
            overhead(args, local_rank, n, step_obj, group)
    finally:
        dist.barrier(group=group)
        buf.destroy()
        dist.destroy_process_group()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, default=0, help="GPUs to use (default: all)")
    p.add_argument("--mode", choices=("sync", "async"), default="sync")
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--onset", type=int, default=1200, help="slow rank from this step")
    p.add_argument("--us", type=float, default=20.0, help="the slow rank's delay per op")
    p.add_argument("--sync-step", type=int, default=300, help="diagnose every K steps (sync)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between async rounds")
    p.add_argument("--bench-blocks", type=int, default=9)
    p.add_argument("--bench-steps", type=int, default=200)
    p.add_argument("--out", default="deepep-live")
    p.add_argument("--port", type=int, default=29531)
    # what ep_deepep.Step reads
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--hidden", type=int, default=7168)
    p.add_argument("--experts-per-rank", type=int, default=8)
    p.add_argument("--topk", type=int, default=8)
    p.add_argument("--fp8", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sync", action=argparse.BooleanOptionalAction, default=True,
                   help="synchronize at the end of each step (as a training step does)")
    args = p.parse_args(argv)
    args.hook = args.async_finish = False
    args.tokens_stats = False
    args.record_path = "none"
    return p, args


def main(argv=None):
    p, args = parse_args(argv)
    import torch
    import torch.multiprocessing as mp
    gpus = torch.cuda.device_count()
    args.ranks = args.ranks or gpus
    if args.ranks < 2 or args.ranks > gpus:
        p.error("--ranks %d: this machine has %d GPUs (need 2 or more)" % (args.ranks, gpus))
    slow = "slow_source,rank=%d,us=%g,onset=%d" % (args.ranks - 1, args.us, args.onset)
    cases = [("healthy", []),
             ("slow-source", [dict(ep_deepep.parse_fault(slow, args.steps), spec=slow)])]
    os.makedirs(args.out, exist_ok=True)
    mp.spawn(worker, args=(args, cases), nprocs=args.ranks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
