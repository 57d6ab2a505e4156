#!/bin/sh
# test_false_alarms.sh - issue 11's CI-sized healthy sweep in `make test`:
# tests/accuracy/false_alarms.sh (20 small healthy traces, N 8..32, randomized
# noise models, seed base 100) must give no finding at all. 1-2 minutes on
# two shared cores. The whole sweeps: make accuracy.
# Owner: the classifier engineer. Run by tests/run.sh (DXT_BUILD = build dir).
set -eu
exec sh "$(dirname "$0")/accuracy/false_alarms.sh" --jobs 2
