#!/usr/bin/python3
"""test_chunk_paths.py - dxt-analyze decodes compressed chunks itself
(analyzer/input/load_rows.c, chunk_decode.c): the same trace written with
every filter pipeline HDF5 gives (none, deflate, shuffle, shuffle + deflate,
with fletcher32, odd chunk rows, int32 values) must give the same per-window
matrices as the uncompressed one, with 1 and 3 decoding threads; pipelines the
fast path does not know go through HDF5 (never wrong data). A corrupt chunk in
the middle of a file (validation reads only the tail) is an error naming the
file, dataset and chunk: exit 3, no crash.

Owner: the loader (issue 15). Env: DXT_BUILD (default build).
Only Debian's python3 with python3-numpy and python3-h5py.
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

WORLD = 6
STEPS = 300
OPS = ("dispatch", "combine")

VARIANTS = {
    "plain": dict(),
    "deflate": dict(compression="gzip", compression_opts=1),
    "shuffle": dict(shuffle=True),
    "shuffle_deflate": dict(shuffle=True, compression="gzip", compression_opts=4),
    "fletcher32": dict(shuffle=True, compression="gzip", fletcher32=True),
    "odd_chunks": dict(shuffle=True, compression="gzip", chunk_rows=7),
    "int32": dict(shuffle=True, compression="gzip", dtype=np.int32),
}


def arrays(rank, op):
    rng = np.random.default_rng(100 * rank + op)
    per_step = rng.integers(1000, 5000, size=(STEPS, WORLD)).astype(np.int64)
    per_step[:, 1] *= 2
    tokens = rng.integers(0, 300, size=(STEPS, WORLD)).astype(np.int64)
    return np.cumsum(per_step, axis=0), np.cumsum(tokens, axis=0)


def write_trace(d, variant):
    kw = dict(VARIANTS[variant])
    rows = kw.pop("chunk_rows", 32)
    dtype = kw.pop("dtype", np.int64)
    os.makedirs(d)
    for rank in range(WORLD):
        with h5py.File(os.path.join(d, "rank-%05d.h5" % rank), "w") as f:
            for key, value in (("format", "dxtrace"), ("format_version", np.int64(1)),
                               ("run_id", "chunks"), ("rank", np.int64(rank)),
                               ("world_size", np.int64(WORLD)), ("node", "n%d" % (rank // 3)),
                               ("clock_hz", 1.98e9)):
                f.attrs[key] = value
            for k, name in enumerate(OPS):
                g = f.create_group("ops/" + name)
                wait, tokens = arrays(rank, k)
                g.create_dataset("step", data=np.arange(STEPS, dtype=np.int64), chunks=(rows,),
                                 maxshape=(None,))
                for dname, data in (("wait", wait), ("tokens", tokens)):
                    ds = g.create_dataset(dname, data=data.astype(dtype), chunks=(rows, WORLD),
                                          maxshape=(None, WORLD), **kw)
                    ds.attrs["counting"] = "cumulative"
                    if dname == "wait":
                        ds.attrs["unit"] = "cycles"


def analyze(build, d, threads):
    env = dict(os.environ, DXT_THREADS=str(threads))
    return subprocess.run([os.path.join(build, "bin", "dxt-analyze"), d, "--format", "csv",
                           "--matrices", "--window", "10"], capture_output=True, text=True,
                          env=env, timeout=120)


def corrupt_chunk(path, op, chunk):
    """Overwrite the middle of one stored chunk of wait with other bytes."""
    with h5py.File(path, "r") as f:
        info = f["ops/%s/wait" % op].id.get_chunk_info(chunk)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + info.size // 4)
        f.write(bytes((37 * i + 11) % 256 for i in range(info.size // 2)))


def main():
    build = os.environ.get("DXT_BUILD", "build")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        want = None
        for variant in VARIANTS:
            d = os.path.join(tmp, variant)
            write_trace(d, variant)
            for threads in (1, 3):
                r = analyze(build, d, threads)
                if r.returncode != 0:
                    failures.append("%s, %d threads: exit %d: %s" % (variant, threads,
                                                                     r.returncode, r.stderr))
                    continue
                if want is None:
                    want = r.stdout
                    if len(want.splitlines()) < 100:
                        failures.append("plain: too few matrix lines")
                elif r.stdout != want:
                    failures.append("%s, %d threads: matrices differ from the plain trace"
                                    % (variant, threads))
        d = os.path.join(tmp, "shuffle_deflate")
        corrupt_chunk(os.path.join(d, "rank-00002.h5"), "combine", 3)
        for threads in (1, 3):
            r = analyze(build, d, threads)
            msg = "rank-00002.h5: dataset 'ops/combine/wait': chunk 3 cannot be decoded"
            if r.returncode != 3 or msg not in r.stderr:
                failures.append("corrupt chunk, %d threads: exit %d (want 3), stderr %r"
                                % (threads, r.returncode, r.stderr))
    for f in failures:
        print("FAIL:", f)
    print("%d variants x 2 thread counts, corrupt chunk: %s" %
          (len(VARIANTS), "ok" if not failures else "%d failure(s)" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
