#!/bin/sh
# test_synth.sh - dxt-synth end to end: the trace it writes through libdxtrec
# is readable with h5py by the contract's names, truth.json parses, delta and
# cumulative counting agree, ns and cycles agree, gaps / resets / --no-tokens
# show in the files, bad options exit 2 naming the bad part; the realistic
# model: a trace written a block of ranks at a time equals the one written at
# once, --drop-prob loses rows in 8-step blocks, truth.json holds the noise
# model and the launch skew.
# Owner: the simulator engineer. Run by tests/run.sh (DXT_BUILD = build dir).
set -eu
BUILD=${DXT_BUILD:-build}
SYNTH=$BUILD/bin/dxt-synth
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

[ -x "$SYNTH" ] || fail "$SYNTH not built"

# --- help and usage errors -------------------------------------------------------
"$SYNTH" --help >"$TMP/help" || fail "--help exit $?"
grep -q "Fault SPEC" "$TMP/help" || fail "--help does not document the fault syntax"
grep -q "Exit status" "$TMP/help" || fail "--help does not document the exit status"
expect_usage() { # needle, args...
    needle=$1; shift
    rc=0; "$SYNTH" -q -o "$TMP/bad" "$@" 2>"$TMP/err" || rc=$?
    [ "$rc" = 2 ] || fail "dxt-synth $*: exit $rc, want 2"
    grep -q -- "$needle" "$TMP/err" ||
        fail "dxt-synth $*: message '$(cat "$TMP/err")' lacks '$needle'"
}
expect_usage "rank 99" -n 8 --fault slow_source:rank=99
expect_usage "'abc' for rank" --fault slow_source:rank=abc
expect_usage "unknown key 'colour'" --fault slow_path:src=1,dst=2,colour=red
expect_usage "'foo'" --unit foo
expect_usage "'sometimes'" --counting sometimes
expect_usage "'-3'" --steps -3
expect_usage "unexpected argument" extra
expect_usage "'--version'" --version
expect_usage "unknown noise knob 'colour'" --noise colour=1
expect_usage "'99' for jitter" --noise jitter=99
expect_usage "'0.9'" --drop-prob 0.9
"$SYNTH" --help | grep -q "skew_ranks" || fail "--help does not list the noise knobs"
[ ! -e "$TMP/bad" ] || fail "a usage error still wrote a trace"

# --- one trace per counting / unit, same seed ------------------------------------
common="-q -n 8 -r 4 -t 120 -s 5 --run-id synth-test --noise calm \
  --fault slow_source:rank=2,onset=40,x=1.5 --fault slow_path:src=1,dst=6,op=combine,x=2,duty=0.5"
# shellcheck disable=SC2086
"$SYNTH" $common -o "$TMP/cum" || fail "cumulative run exit $?"
# shellcheck disable=SC2086
"$SYNTH" $common -o "$TMP/cum2" || fail "second cumulative run exit $?"
# shellcheck disable=SC2086
"$SYNTH" $common -o "$TMP/delta" --counting delta || fail "delta run exit $?"
# shellcheck disable=SC2086
"$SYNTH" $common -o "$TMP/ns" --counting delta --unit ns || fail "ns run exit $?"
# shellcheck disable=SC2086
"$SYNTH" $common -o "$TMP/gap" --gap-every 5 --reset-at 60 --no-tokens || fail "gap run exit $?"

"$PY" - "$TMP" <<'EOF'
import glob, json, os, sys
import h5py
import numpy as np

tmp = sys.argv[1]
N, T = 8, 120

def load(name):
    files = sorted(glob.glob(os.path.join(tmp, name, "*.h5")))
    assert len(files) == N, f"{name}: {len(files)} files, want {N}"
    ranks = {}
    for path in files:
        with h5py.File(path, "r") as f:
            a = f.attrs
            def s(v): return v.decode() if isinstance(v, bytes) else str(v)
            assert s(a["format"]) == "dxtrace", path
            assert int(a["format_version"]) == 1, path
            assert s(a["run_id"]) == "synth-test", path
            assert int(a["world_size"]) == N, path
            r = int(a["rank"])
            assert s(a["node"]) == f"node-{r // 4}", path
            assert int(a["local_rank"]) == r % 4, path
            ops = {}
            for op in ("dispatch", "combine"):
                g = f["ops"][op]
                w = g["wait"]
                assert w.dtype == np.int64 and w.ndim == 2 and w.shape[1] == N, (path, op, w.shape)
                step = g["step"][:]
                assert len(step) == w.shape[0] and np.all(np.diff(step) > 0), (path, op)
                ops[op] = dict(wait=w[:], step=step, unit=s(w.attrs["unit"]),
                               counting=s(w.attrs["counting"]),
                               tokens=g["tokens"][:] if "tokens" in g else None)
            ranks[r] = dict(ops=ops, clock_hz=float(a["clock_hz"]) if "clock_hz" in a else 0.0)
    assert sorted(ranks) == list(range(N))
    return ranks

cum, cum2, delta, ns, gap = (load(n) for n in ("cum", "cum2", "delta", "ns", "gap"))
for r in range(N):
    for op in ("dispatch", "combine"):
        c, d, n_, g = (x[r]["ops"][op] for x in (cum, delta, ns, gap))
        assert c["wait"].shape == (T, N) and c["unit"] == "cycles" and c["counting"] == "cumulative"
        assert d["counting"] == "delta" and n_["unit"] == "ns"
        assert np.array_equal(c["wait"], cum2[r]["ops"][op]["wait"]), "same seed, other trace"
        assert np.all(c["wait"] >= 0) and np.all(np.diff(c["wait"], axis=0) >= 0)
        # cumulative rows are running sums of the delta rows (exactly, integers)
        assert np.array_equal(np.cumsum(d["wait"], axis=0), c["wait"]), (r, op)
        assert np.array_equal(np.cumsum(d["tokens"], axis=0), c["tokens"]), (r, op)
        # cycles = ns * 1.98 (each value rounded on its own)
        assert np.all(np.abs(d["wait"] / 1.98 - n_["wait"]) <= 1.0), (r, op)
        # gaps: every 5th step missing; the next row carries the skipped step
        assert list(g["step"]) == [s for s in range(T) if (s + 1) % 5], (r, op, g["step"][:12])
        assert g["tokens"] is None, "--no-tokens still wrote tokens"
        before = list(g["step"]).index(58)  # 59 is a gap
        # reset at 60: the counters restart from zero (row 60 = step 60 alone)
        assert np.all(g["wait"][before + 1] == d["wait"][60]), (r, op)
        assert np.all(g["wait"][before + 1] < g["wait"][before]), (r, op)
    assert cum[r]["clock_hz"] == 1.98e9 and ns[r]["clock_hz"] == 0.0
    # combine tokens are the dispatch tokens sent back (per step, delta)
for r in range(N):
    for j in range(N):
        assert np.array_equal(delta[r]["ops"]["combine"]["tokens"][:, j],
                              delta[j]["ops"]["dispatch"]["tokens"][:, r])

# the slow source shows: column 2 after onset over before, others flat
d = np.stack([delta[r]["ops"]["dispatch"]["wait"] for r in range(N)], axis=1)  # T x N x N
col = lambda m, j: sum(m[i, j] for i in range(N) if i != j)
before, after = d[:40].mean(axis=0), d[40:].mean(axis=0)
ratio2, ratio5 = col(after, 2) / col(before, 2), col(after, 5) / col(before, 5)
assert 1.35 < ratio2 < 1.65 and 0.9 < ratio5 < 1.1, (ratio2, ratio5)

truth = json.load(open(os.path.join(tmp, "cum", "truth.json")))
assert truth["format"] == "dxtrace-truth" and truth["world_size"] == N and truth["steps"] == T
assert truth["run_id"] == "synth-test" and truth["counting"] == "cumulative"
assert [n["name"] for n in truth["nodes"]] == ["node-0", "node-1"]
assert len(truth["faults"]) == 2
exp = truth["expected"]
kinds = sorted((e["kind"], e["op"]) for e in exp)
assert kinds == [("slow_path", "combine"), ("slow_source", "combine"),
                 ("slow_source", "dispatch")], kinds
src = [e for e in exp if e["kind"] == "slow_source"][0]
assert src["rank"] == 2 and src["first_step"] == 40 and src["last_step"] == T - 1
path = [e for e in exp if e["kind"] == "slow_path"][0]
assert path["src"] == 1 and path["dst"] == 6 and path["duty"] == 0.5
print("ok")
EOF
# --- the realistic model: blocks of ranks (in 3 processes), dropped rows, truth ----
real="-q -n 12 -r 4 -t 64 -s 9 --noise skew_ranks=0.5,spike_prob=0.01 --counting delta"
# shellcheck disable=SC2086
"$SYNTH" $real -o "$TMP/whole" --block 12 || fail "--block 12 exit $?"
# shellcheck disable=SC2086
"$SYNTH" $real -o "$TMP/blocks" --block 5 --jobs 3 || fail "--block 5 --jobs 3 exit $?"
# shellcheck disable=SC2086
"$SYNTH" $real -o "$TMP/drop" --block 5 --drop-prob 0.3 || fail "--drop-prob exit $?"
"$PY" - "$TMP" <<'EOF'
import json, os, sys
import h5py
import numpy as np

tmp = sys.argv[1]
def rows(name, r, op):
    with h5py.File(os.path.join(tmp, name, "rank-%05d.h5" % r), "r") as f:
        g = f["ops"][op]
        return g["step"][:], g["wait"][:]
lost = 0
for r in range(12):
    for op in ("dispatch", "combine"):
        sw, ww = rows("whole", r, op)
        sb, wb = rows("blocks", r, op)
        assert np.array_equal(sw, sb) and np.array_equal(ww, wb), ("blocks differ", r, op)
        sd, wd = rows("drop", r, op)
        missing = sorted(set(range(64)) - set(sd.tolist()))
        lost += len(missing)
        assert all(len([m for m in missing if m // 8 == b]) in (0, 8) for b in range(8)), missing
        # a lost row's counts land in the next recorded row (delta counting)
        assert np.array_equal(wd.sum(axis=0), ww[: sd[-1] + 1].sum(axis=0)), (r, op)
assert 0 < lost < 12 * 2 * 64, lost
truth = json.load(open(os.path.join(tmp, "whole", "truth.json")))
assert truth["noise"]["skew_ranks"] == 0.5 and truth["spike_prob"] == 0.01
skews = truth["static"]["launch_skew"]
assert skews and all(s["op"] == "dispatch" and 2000 <= s["ns"] <= 10000 for s in skews), skews
print("realistic ok")
EOF
# --- --rate paces the writing: 12 steps at 40 steps/s take about 0.3 s ------------
start=$(date +%s%N)
"$SYNTH" -q -o "$TMP/rate" -n 4 -r 2 -t 12 --rate 40 || fail "--rate run exit $?"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -ge 250 ] || fail "--rate 40 wrote 12 steps in $ms ms"
[ -f "$TMP/rate/truth.json" ] || fail "--rate run wrote no truth.json"
echo "test_synth: ok"
