#!/usr/bin/python3
"""test_doc_snippets.py - every code snippet of the docs runs, so that the docs
stay true: the fenced ```python and ```c blocks of README.md, format/FORMAT.md
and samples/README.md.

- Python blocks run with Debian's /usr/bin/python3 in a directory holding a
  synthetic trace in trace/. Blocks for a GPU job (they use torch or DeepEP's
  buffer) run against stand-ins for torch, DeepEP and the recorder, defined
  here, and the job's own variables (rank, num_ranks, x, ...): anything else
  the snippet uses must come from its own imports (a missing `import os` fails).
  The h5py reader of FORMAT.md must also see the counters as cumulative.
- C blocks compile (-fsyntax-only) against recorder/dxtrec.h inside a main()
  that declares the job's variables.
- ```sh and ```text blocks are commands and outputs tested elsewhere (make
  demo, make test, the GPU scripts) and are not run here.

Owner: the users engineer (docs). Needs $DXT_BUILD/bin/dxt-synth.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
SYNTH = os.path.join(REPO, BUILD, "bin", "dxt-synth")
DOCS = ["README.md", "format/FORMAT.md", "samples/README.md"]

# The stand-ins for a GPU job: torch, DeepEP's buffer, the recorder, the job's variables.
GPU_PRELUDE = '''
import sys
from unittest import mock
torch = mock.MagicMock(name="torch")
sys.modules["torch"] = torch
sys.modules["dxtrace"] = mock.MagicMock(name="dxtrace")
buffer = mock.MagicMock(name="buffer")
buffer.low_latency_dispatch.return_value = tuple(mock.MagicMock() for _ in range(5))
buffer.low_latency_combine.return_value = tuple(mock.MagicMock() for _ in range(3))
rank, num_ranks, steps, job_id = 0, 8, 3, "job-1"
loader = [mock.MagicMock(), mock.MagicMock()]
x = y = topk_idx = topk_weights = mock.MagicMock()
num_max_tokens, num_experts = 128, 32
del mock
'''

C_WRAP = '''#include <stddef.h>
#include <stdint.h>
%s
int main(void)
{
    int rank = 0, n = 4;
    int64_t step = 0;
    const char *job_id = "job-1";
    const int64_t *d_dispatch_wait = NULL, *d_combine_wait = NULL;
    void *stream = NULL;
%s
    (void)rank; (void)n; (void)step; (void)job_id; (void)d_dispatch_wait; (void)d_combine_wait;
    (void)stream;
    return 0;
}
'''


def blocks(path):
    """(language, first line number, code) of every fenced block."""
    text = open(os.path.join(REPO, path)).read()
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        yield m.group(1), text[:m.start()].count("\n") + 1, m.group(2)


def run_python(code, cwd, gpu):
    extra = ""
    if "cumulative" in code and "h5py" in code:
        extra = "\nassert cumulative, 'the reader does not see the counters as cumulative'\n"
    src = (GPU_PRELUDE if gpu else "") + code + extra
    env = dict(os.environ, JOB_ID="job-1")
    r = subprocess.run(["/usr/bin/python3", "-c", src], cwd=cwd, capture_output=True, text=True,
                       timeout=120, env=env)
    return r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[-1:] 


def run_c(code, tmp):
    top = "\n".join(l for l in code.splitlines() if l.startswith("#"))
    body = "\n".join("    " + l for l in code.splitlines() if not l.startswith("#"))
    path = os.path.join(tmp, "snippet.c")
    with open(path, "w") as f:
        f.write(C_WRAP % (top, body))
    r = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-fsyntax-only",
                        "-I" + os.path.join(REPO, "recorder"), path],
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0, r.stderr.strip().splitlines()[:3]


def main():
    failures = ran = 0
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([SYNTH, "-q", "-o", os.path.join(tmp, "trace"), "-n", "4", "-r", "2", "-t", "50"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL dxt-synth: %s" % r.stderr)
            return 1
        for doc in DOCS:
            for lang, line, code in blocks(doc):
                if lang == "python":
                    gpu = "torch" in code or "buffer." in code
                    ok, why = run_python(code, tmp, gpu)
                elif lang == "c":
                    ok, why = run_c(code, tmp)
                else:
                    continue
                ran += 1
                failures += not ok
                print("%s %s:%d (%s%s)%s" % ("ok  " if ok else "FAIL", doc, line, lang,
                                             ", GPU stand-ins" if lang == "python" and gpu else "",
                                             "" if ok else ": " + " | ".join(why)))
    print("%d snippets, %d failed" % (ran, failures))
    return 1 if failures or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
