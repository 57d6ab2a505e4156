#!/bin/sh
# false_alarms.sh - the CI-sized healthy sweep of issue 11: 20 small healthy
# traces (N 8..32, 150-300 steps) with randomized noise models from seed base
# 100; fails on any finding (or any trace that does not run). About a minute on
# two cores. The whole sweep: make accuracy (tests/accuracy/sweep.py).
# Owner: the simulator engineer. DXT_BUILD = build dir.
set -eu
exec /usr/bin/python3 "$(dirname "$0")/sweep.py" healthy --small --count 20 --seed-base 100 \
    --jobs 2 --worst 5 "$@"
