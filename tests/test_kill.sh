#!/bin/sh
# test_kill.sh - kill tests of the recorder: dxt-synth --rate (4 ranks, so 4
# recorder writer threads) is killed with SIGKILL at 20 random moments (fixed
# seed); every file must then open with h5py, h5dump and dxt-analyze and hold
# every row recorded more than one flush interval before the kill, none
# repeated or torn. The work is in tests/bad/kill_check.py (about 40 s).
# Owner: reliability.
#   DXT_KILLS=N overrides the number of kills.
set -eu
BUILD=${DXT_BUILD:-build}
exec /usr/bin/python3 tests/bad/kill_check.py "$BUILD" "${DXT_KILLS:-20}" 2026
