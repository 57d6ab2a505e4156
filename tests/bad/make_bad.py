#!/usr/bin/python3
"""make_bad.py - writes dxtrace's bad-input corpus into a directory.

Owner: reliability (tests/bad/). Used by tests/test_bad_inputs.py; run it by hand
to look at the cases:

    /usr/bin/python3 tests/bad/make_bad.py OUT_DIR [--synth build/bin/dxt-synth]

Every case is one entry OUT_DIR/<name> (a trace directory, a file, a FIFO or a
symlink) that dxt-analyze is pointed at; tests/bad/expected.tsv says the exit
code and message each must give. Most cases put one bad file among good ranks
("mixed"): the analysis of the good ones must complete and report the skip.

The good trace follows shared/contracts/trace-format.md: N=4 ranks, ops
dispatch and combine, 40 steps, cumulative cycles with clock_hz. With --synth
the truncation cases cut a file written by libdxtrec itself (dxt-synth), so
they test the recorder's real layout; without it, an h5py file.
Only Debian's python3 with python3-numpy and python3-h5py is used.
"""
import os
import random
import shutil
import subprocess
import sys

import h5py
import numpy as np

WORLD = 4
STEPS = 40
OPS = ("dispatch", "combine")
RUN_ID = "bad-corpus"
CLOCK_HZ = 1.98e9


def good_arrays(rank, op):
    """Cumulative waits of `rank` for each peer; rank 2 is a slow source."""
    rng = np.random.default_rng(1000 * rank + op)
    per_step = rng.integers(1000, 2000, size=(STEPS, WORLD)).astype(np.int64)
    per_step[:, 2] *= 3
    wait = np.cumsum(per_step, axis=0)
    step = np.arange(STEPS, dtype=np.int64)
    tokens = np.cumsum(rng.integers(10, 20, size=(STEPS, WORLD)), axis=0).astype(np.int64)
    time_ns = 1_700_000_000_000_000_000 + step * 1_000_000
    return step, wait, tokens, time_ns


def write_rank(path, rank, world=WORLD, run_id=RUN_ID, attrs=None, drop_attrs=(),
               op_edit=None, ops=OPS):
    """One contract-conforming rank file; attrs overrides root attributes,
    drop_attrs removes some, op_edit(group, op_index) changes an op group."""
    root = {"format": "dxtrace", "format_version": np.int64(1), "run_id": run_id,
            "rank": np.int64(rank), "world_size": np.int64(world),
            "node": "node-%d" % (rank // 2), "local_rank": np.int64(rank % 2),
            "clock_hz": float(CLOCK_HZ)}
    root.update(attrs or {})
    with h5py.File(path, "w") as f:
        for key, value in root.items():
            if key not in drop_attrs:
                f.attrs[key] = value
        ops_group = f.create_group("ops")
        for k, name in enumerate(ops):
            g = ops_group.create_group(name)
            step, wait, tokens, time_ns = good_arrays(rank, k)
            if world != WORLD:
                wait = np.resize(wait, (STEPS, world))
                tokens = np.resize(tokens, (STEPS, world))
            chunks = (8, wait.shape[1])
            w = g.create_dataset("wait", data=wait, chunks=chunks, maxshape=(None, wait.shape[1]))
            w.attrs["unit"] = "cycles"
            w.attrs["counting"] = "cumulative"
            g.create_dataset("step", data=step, chunks=(8,), maxshape=(None,))
            g.create_dataset("time_ns", data=time_ns, chunks=(8,), maxshape=(None,))
            t = g.create_dataset("tokens", data=tokens, chunks=chunks,
                                 maxshape=(None, wait.shape[1]))
            t.attrs["counting"] = "cumulative"
            if op_edit:
                op_edit(g, k)


def good_trace(d, ranks=range(WORLD), **kw):
    os.makedirs(d, exist_ok=True)
    for r in ranks:
        write_rank(os.path.join(d, "rank-%05d.h5" % r), r, **kw)


def mixed(out, name, bad_rank, **kw):
    """A trace whose rank bad_rank is written with kw (the others good)."""
    d = os.path.join(out, name)
    good_trace(d, ranks=[r for r in range(WORLD) if r != bad_rank])
    write_rank(os.path.join(d, "rank-%05d.h5" % bad_rank), bad_rank, **kw)
    return d


def replace_dataset(g, name, data, **attrs):
    del g[name]
    if data is None:
        return
    ds = g.create_dataset(name, data=data)
    for k, v in attrs.items():
        ds.attrs[k] = v


def edit_wait(fn, op_only=0):
    def edit(g, k):
        if k != op_only:
            return
        wait = g["wait"][...]
        fn(g, wait)
    return edit


# ---- the cases: name -> function(out, name) ---------------------------------

def case_empty_dir(out, name):
    os.makedirs(os.path.join(out, name))


def case_dir_only_other_files(out, name):
    d = os.path.join(out, name)
    os.makedirs(d)
    with open(os.path.join(d, "README.txt"), "w") as f:
        f.write("not a trace\n")


def case_missing_path(out, name):
    pass  # nothing is created: the path does not exist


def case_zero_length_file(out, name):
    open(os.path.join(out, name), "wb").close()


def case_zero_length_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    open(os.path.join(d, "rank-00003.h5"), "wb").close()


def case_random_bytes_file(out, name):
    with open(os.path.join(out, name), "wb") as f:
        f.write(random.Random(7).randbytes(4096))


def case_random_bytes_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    with open(os.path.join(d, "rank-00003.h5"), "wb") as f:
        f.write(random.Random(8).randbytes(10000))


def case_hdf5_signature_then_garbage(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    with open(os.path.join(d, "rank-00003.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + random.Random(9).randbytes(3000))


def case_other_tool_file(out, name):
    with h5py.File(os.path.join(out, name), "w") as f:
        f.create_dataset("data", data=np.arange(100.0))
        f.attrs["creator"] = "some other tool"


def case_other_tool_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    with h5py.File(os.path.join(d, "model-weights.h5"), "w") as f:
        f.create_group("layer0").create_dataset("kernel", data=np.ones((8, 8)))


def missing_attr(attr):
    def make(out, name):
        mixed(out, name, 1, drop_attrs=(attr,))
    return make


def bad_attr(attr, value, bad_rank=1):
    def make(out, name):
        mixed(out, name, bad_rank, attrs={attr: value})
    return make


def case_world_size_mismatch(out, name):
    mixed(out, name, 3, world=5)


def case_rank_out_of_range(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    write_rank(os.path.join(d, "rank-00007.h5"), 7)


def case_duplicate_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d)
    write_rank(os.path.join(d, "copy-of-rank-1.h5"), 1)


def case_missing_rank(out, name):
    good_trace(os.path.join(out, name), ranks=[0, 1, 3])


def case_two_run_ids(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1])
    good_trace(d, ranks=[2, 3], run_id="another-run")


def case_huge_world_size_file(out, name):
    write_rank(os.path.join(out, name), 0, attrs={"world_size": np.int64(1 << 40)})


def case_huge_world_consistent(out, name):
    """world_size 2^20 (the reader's maximum) with datasets of that width and no
    rows: a tiny file whose N x N matrix would need 8 TiB."""
    n = 1 << 20
    d = os.path.join(out, name)
    os.makedirs(d)
    with h5py.File(os.path.join(d, "rank-00000.h5"), "w") as f:
        for key, value in {"format": "dxtrace", "format_version": np.int64(1),
                           "run_id": RUN_ID, "rank": np.int64(0),
                           "world_size": np.int64(n)}.items():
            f.attrs[key] = value
        g = f.create_group("ops").create_group("dispatch")
        w = g.create_dataset("wait", shape=(2, n), maxshape=(None, n), dtype=np.int64,
                             chunks=(1, 4096), compression="gzip")
        w[0, :8] = np.arange(8)
        w[1, :8] = np.arange(8) * 2
        w.attrs["unit"] = "ns"
        w.attrs["counting"] = "cumulative"
        g.create_dataset("step", data=np.arange(2, dtype=np.int64), maxshape=(None,))


def case_huge_row_count(out, name):
    """A wait dataset claiming 2^40 rows (chunks never written: the file is tiny)."""
    def edit(g, k):
        for ds, width in (("wait", WORLD), ("step", 0)):
            del g[ds]
            shape = (1 << 40, width) if width else (1 << 40,)
            chunks = (1024, width) if width else (1024,)
            created = g.create_dataset(ds, shape=shape, maxshape=(None,) + shape[1:],
                                       dtype=np.int64, chunks=chunks)
            if ds == "wait":
                created.attrs["unit"] = "cycles"
                created.attrs["counting"] = "cumulative"
            else:
                created[:STEPS] = np.arange(STEPS)
        del g["time_ns"]
        del g["tokens"]
    mixed(out, name, 2, op_edit=edit)


def wait_values(fn):
    def make(out, name):
        def edit(g, k):
            wait = g["wait"][...]
            fn(wait)
            g["wait"][...] = wait
        mixed(out, name, 1, op_edit=edit)
    return make


def set_negative(wait):
    wait[5:, :] = -wait[5:, :]


def set_overflowing(wait):
    wait[3, :] = np.iinfo(np.int64).min
    wait[4, :] = np.iinfo(np.int64).max
    wait[5, :] = np.iinfo(np.int64).min + 1


def set_max(wait):
    wait[:, :] = np.iinfo(np.int64).max


def steps_edit(steps):
    def make(out, name):
        def edit(g, k):
            g["step"][...] = np.array(steps, dtype=np.int64)
        mixed(out, name, 1, op_edit=edit)
    return make


def dataset_edit(ds, data_fn, **attrs):
    def make(out, name):
        def edit(g, k):
            if k == 0:
                replace_dataset(g, ds, data_fn(g), **attrs)
        mixed(out, name, 1, op_edit=edit)
    return make


def wait_attr(attr, value):
    def make(out, name):
        def edit(g, k):
            if value is None:
                del g["wait"].attrs[attr]
            else:
                g["wait"].attrs[attr] = value
        mixed(out, name, 1, op_edit=edit)
    return make


def case_no_ops_group(out, name):
    mixed(out, name, 1, ops=())
    with h5py.File(os.path.join(out, name, "rank-00001.h5"), "a") as f:
        del f["ops"]


def case_empty_ops_group(out, name):
    mixed(out, name, 1, ops=())


def case_too_many_ops(out, name):
    mixed(out, name, 1, ops=tuple("op%d" % k for k in range(257)))  # DXT_MAX_OPS + 1


def case_ops_not_group(out, name):
    mixed(out, name, 1, ops=())
    with h5py.File(os.path.join(out, name, "rank-00001.h5"), "a") as f:
        f["ops"].create_dataset("dispatch", data=np.arange(3))


def case_lzf_filter(out, name):
    """A filter the C library does not have (h5py's own LZF)."""
    def edit(g, k):
        wait = g["wait"][...]
        del g["wait"]
        w = g.create_dataset("wait", data=wait, chunks=(8, WORLD), compression="lzf")
        w.attrs["unit"] = "cycles"
        w.attrs["counting"] = "cumulative"
    mixed(out, name, 1, op_edit=edit)


def case_corrupt_last_chunk(out, name):
    """gzip chunks of 8 rows; the bytes of wait's last chunk overwritten (a partial
    chunk flushed just before a kill): the rows before it must be kept."""
    def edit(g, k):
        wait = g["wait"][...]
        del g["wait"]
        w = g.create_dataset("wait", data=wait, chunks=(8, WORLD), compression="gzip",
                             maxshape=(None, WORLD))
        w.attrs["unit"] = "cycles"
        w.attrs["counting"] = "cumulative"
    path = os.path.join(mixed(out, name, 1, op_edit=edit), "rank-00001.h5")
    with h5py.File(path, "r") as f:
        dset = f["ops/dispatch/wait"]
        info = dset.id.get_chunk_info(dset.id.get_num_chunks() - 1)
        offset, size = info.byte_offset, info.size
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes((7 * k + 3) % 256 for k in range(size)))


def case_dropped_rows(out, name):
    """Not bad: a rank whose recorder dropped rows (ring full); the report must say so."""
    def edit(g, k):
        if k == 0:
            g.attrs["rows_dropped"] = np.int64(1204)
            g.attrs["dropped_first_step"] = np.int64(10)
            g.attrs["dropped_last_step"] = np.int64(20)
    mixed(out, name, 1, op_edit=edit)


def case_negative_drop_count(out, name):
    def edit(g, k):
        g.attrs["rows_dropped"] = np.int64(-5)
        g.attrs["dropped_first_step"] = np.int64(30)
        g.attrs["dropped_last_step"] = np.int64(3)
    mixed(out, name, 1, op_edit=edit)


def case_fifo_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    os.mkfifo(os.path.join(d, "rank-00003.h5"))


def case_fifo_file(out, name):
    os.mkfifo(os.path.join(out, name))


def case_dir_named_h5(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    os.makedirs(os.path.join(d, "rank-00003.h5"))


def case_dangling_symlink(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    os.symlink("does-not-exist.h5", os.path.join(d, "rank-00003.h5"))


def case_symlink_loop_rank(out, name):
    d = os.path.join(out, name)
    good_trace(d, ranks=[0, 1, 2])
    os.symlink("loop-b.h5", os.path.join(d, "loop-a.h5"))
    os.symlink("loop-a.h5", os.path.join(d, "loop-b.h5"))


def case_symlink_loop_path(out, name):
    os.symlink(name, os.path.join(out, name))


def case_dir_symlink_loop(out, name):
    d = os.path.join(out, name)
    good_trace(d)
    os.symlink(".", os.path.join(d, "again.h5"))


def text(content):
    def make(out, name):
        with open(os.path.join(out, name), "w") as f:
            f.write(content)
    return make


def log_rows(rows):
    return "".join("rank=%d [%s]\n" % (r, " ".join(str(v) for v in vals)) for r, vals in rows)


GOOD_LOG = log_rows([(r, [100 + r * 4 + j for j in range(4)]) for r in range(4)])


def case_log_wide_row(out, name):
    """One row of 60000 values: the N x N matrix would be 28 GiB."""
    with open(os.path.join(out, name), "w") as f:
        f.write("rank=0 [" + " ".join("1" for _ in range(60000)) + "]\n")


def case_matrix_wide_row(out, name):
    with open(os.path.join(out, name), "w") as f:
        f.write(" ".join("1" for _ in range(65536)) + "\n")


def truncations(out, synth):
    """Cut one rank's file at many offsets; each cut is its own case."""
    base = os.path.join(out, ".truncate-base")
    if synth and os.path.exists(base + "-synth") is False:
        subprocess.run([synth, "-q", "-n", str(WORLD), "-r", "2", "-t", str(STEPS), "-s", "3",
                        "--run-id", RUN_ID, "-o", base + "-synth"], check=True)
        src_dir = base + "-synth"
    else:
        src_dir = base
        good_trace(src_dir)
    src = os.path.join(src_dir, "rank-00003.h5")
    size = os.path.getsize(src)
    with open(src, "rb") as f:
        data = f.read()
    names = []
    for frac in (0, 8, 48, 96, 512, 1024, 2048, 4096, size // 4, size // 2, (3 * size) // 4,
                 size - 4096, size - 512, size - 1):
        cut = max(0, min(size - 1, frac))
        name = "truncated_at_%d" % cut
        if name in names:
            continue
        d = os.path.join(out, name)
        os.makedirs(d)
        for r in range(WORLD - 1):
            shutil.copy(os.path.join(src_dir, "rank-%05d.h5" % r), d)
        with open(os.path.join(d, "rank-00003.h5"), "wb") as f:
            f.write(data[:cut])
        names.append(name)
    return names


I64 = np.int64
CASES = {
    "empty_dir": case_empty_dir,
    "dir_only_other_files": case_dir_only_other_files,
    "missing_path": case_missing_path,
    "zero_length_file": case_zero_length_file,
    "zero_length_rank": case_zero_length_rank,
    "random_bytes_file": case_random_bytes_file,
    "random_bytes_rank": case_random_bytes_rank,
    "hdf5_signature_then_garbage": case_hdf5_signature_then_garbage,
    "other_tool_file.h5": case_other_tool_file,
    "other_tool_rank": case_other_tool_rank,
    "missing_format": missing_attr("format"),
    "missing_format_version": missing_attr("format_version"),
    "missing_run_id": missing_attr("run_id"),
    "missing_rank": missing_attr("rank"),
    "missing_world_size": missing_attr("world_size"),
    "format_not_dxtrace": bad_attr("format", "netcdf"),
    "format_version_2": bad_attr("format_version", I64(2)),
    "world_size_string": bad_attr("world_size", "4"),
    "rank_float": bad_attr("rank", 1.5),
    "rank_array": bad_attr("rank", np.array([1, 2], dtype=np.int64)),
    "run_id_integer": bad_attr("run_id", I64(42)),
    "clock_hz_negative": bad_attr("clock_hz", -1.0),
    "clock_hz_string": bad_attr("clock_hz", "fast"),
    "world_size_zero": bad_attr("world_size", I64(0)),
    "world_size_negative": bad_attr("world_size", I64(-4)),
    "rank_negative": bad_attr("rank", I64(-1)),
    "world_size_mismatch": case_world_size_mismatch,
    "rank_out_of_range": case_rank_out_of_range,
    "duplicate_rank": case_duplicate_rank,
    "missing_rank_file": case_missing_rank,
    "two_run_ids": case_two_run_ids,
    "two_run_ids_pick_one": case_two_run_ids,
    "huge_world_size_file.h5": case_huge_world_size_file,
    "huge_world_consistent": case_huge_world_consistent,
    "huge_row_count": case_huge_row_count,
    "negative_waits": wait_values(set_negative),
    "negative_drop_count": case_negative_drop_count,
    "overflowing_waits": wait_values(set_overflowing),
    "int64_max_waits": wait_values(set_max),
    "steps_backwards": steps_edit(list(range(20)) + list(range(10, 30))),
    "steps_repeated": steps_edit([0] * STEPS),
    "steps_negative": steps_edit(list(range(-STEPS, 0))),
    "steps_extreme": steps_edit([np.iinfo(np.int64).min, -1] + list(range(STEPS - 3)) +
                                [np.iinfo(np.int64).max]),
    "wait_1d": dataset_edit("wait", lambda g: np.arange(STEPS, dtype=np.int64),
                            unit="cycles", counting="cumulative"),
    "wait_3d": dataset_edit("wait", lambda g: np.zeros((STEPS, WORLD, 2), dtype=np.int64),
                            unit="cycles", counting="cumulative"),
    "wait_wrong_width": dataset_edit("wait", lambda g: np.zeros((STEPS, WORLD + 1), np.int64),
                                     unit="cycles", counting="cumulative"),
    "wait_float": dataset_edit("wait", lambda g: g["wait"][...].astype(np.float64),
                               unit="cycles", counting="cumulative"),
    "wait_string": dataset_edit("wait", lambda g: np.array([[b"x"] * WORLD] * STEPS),
                                unit="cycles", counting="cumulative"),
    "step_2d": dataset_edit("step", lambda g: np.zeros((STEPS, 2), dtype=np.int64)),
    "step_shorter": dataset_edit("step", lambda g: np.arange(STEPS // 2, dtype=np.int64)),
    "step_missing": dataset_edit("step", lambda g: None),
    "tokens_wrong_shape": dataset_edit("tokens", lambda g: np.zeros((STEPS, 2), np.int64),
                                       counting="cumulative"),
    "time_ns_2d": dataset_edit("time_ns", lambda g: np.zeros((STEPS, 2), np.int64)),
    "unit_ms": wait_attr("unit", "ms"),
    "unit_missing": wait_attr("unit", None),
    "unit_integer": wait_attr("unit", I64(3)),
    "counting_sometimes": wait_attr("counting", "sometimes"),
    "counting_missing": wait_attr("counting", None),
    "no_ops_group": case_no_ops_group,
    "empty_ops_group": case_empty_ops_group,
    "too_many_ops": case_too_many_ops,
    "op_not_a_group": case_ops_not_group,
    "lzf_filter": case_lzf_filter,
    "corrupt_last_chunk": case_corrupt_last_chunk,
    "dropped_rows": case_dropped_rows,
    "fifo_rank": case_fifo_rank,
    "fifo_file": case_fifo_file,
    "dir_named_h5": case_dir_named_h5,
    "dangling_symlink": case_dangling_symlink,
    "symlink_loop_rank": case_symlink_loop_rank,
    "symlink_loop_path": case_symlink_loop_path,
    "dir_symlink_loop": case_dir_symlink_loop,
    "log_ragged.log": text(GOOD_LOG + log_rows([(0, [1, 2, 3]), (1, [1, 2]), (2, [5]),
                                                (3, [1, 2, 3, 4, 5])]) + GOOD_LOG),
    "log_non_numeric.log": text(GOOD_LOG + "rank=1 [1 2 x 4]\nrank=2 [nan 1 2 3]\n"
                                "rank=3 [1e999 1 1 1]\n" + GOOD_LOG),
    "log_only_bad_rows.log": text("rank=0 [a b c]\nrank=1 [--]\n"),
    "log_unclosed.log": text("rank=0 [1 2 3 4\nrank=1 [1 2 3 4]\n"),
    "log_huge_rank.log": text(GOOD_LOG + "rank=99999999999999999999 [1 2 3 4]\n"
                              "rank=65535 [1 2 3 4]\n" + GOOD_LOG),
    "log_wide_row.log": case_log_wide_row,
    "matrix_ragged.txt": text("1 2 3\n4 5\n7 8 9\n"),
    "matrix_non_numeric.txt": text("1 2 3\n4 five 6\n7 8 9\n"),
    "matrix_nan.txt": text("1 2\nnan 4\n"),
    "matrix_overflow.txt": text("1e308 1e308\n1e308 1e308\n1e308 1e308\n1e308 1e308\n"),
    "matrix_incomplete.txt": text("1 2 3\n4 5 6\n7 8 9\n1 2 3\n"),
    "matrix_wide_row.txt": case_matrix_wide_row,
    "text_only_comments.txt": text("# nothing here\n\n# at all\n"),
    "binary_nul.bin": text("\0\0\0\x01\x02 1 2\0\n"),
}


def generate(out, synth=None):
    """Write every case into out; returns the case names (truncations included)."""
    os.makedirs(out, exist_ok=True)
    for name, make in CASES.items():
        make(out, name)
    return list(CASES) + truncations(out, synth)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 1
    synth = argv[argv.index("--synth") + 1] if "--synth" in argv else None
    names = generate(argv[1], synth)
    print("%d cases in %s" % (len(names), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
