#!/usr/bin/env python3
"""Swaps a directory for a symlink and back, over and over, until killed (rule D4's attacker).

Usage: swap-directory.py DIRECTORY OUTSIDE SEED

Waits until DIRECTORY exists, then loops: rename DIRECTORY to DIRECTORY.away, put a symlink to
OUTSIDE in its place, wait, remove the symlink, rename DIRECTORY.away back, wait. The waits are
drawn from SEED (0 to 3 ms), so a run can be repeated. Every step may fail (the process that
writes into the tree races it too); a failed step is skipped, never fatal. Prints the number of
swaps done when it gets SIGTERM.
"""
import os
import random
import signal
import sys
import time

directory, outside, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
away = directory + '.away'
rng = random.Random(seed)
swaps = 0


def stop(_signal, _frame):
    print(swaps, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    if not os.path.isdir(directory) or os.path.islink(directory):
        time.sleep(0.0002)
        continue
    try:
        os.rename(directory, away)
    except OSError:
        time.sleep(0.0002)
        continue
    try:
        os.symlink(outside, directory)
        swaps += 1
    except OSError:
        pass
    time.sleep(rng.uniform(0, 0.003))
    try:
        if os.path.islink(directory):
            os.unlink(directory)
        os.rename(away, directory)
    except OSError:
        pass
    time.sleep(rng.uniform(0, 0.003))
