#!/usr/bin/env python3
"""Runs a command and fails unless it succeeds within the time limit and
its peak resident memory stays under LIMIT_MIB (the address space is not
capped, so that sanitizer builds, which reserve terabytes of it, run too).

usage: peak-rss.py LIMIT_MIB COMMAND [ARGS...]
"""
import resource
import subprocess
import sys

limit_mib = int(sys.argv[1])
command = sys.argv[2:]
result = subprocess.run(command, timeout=600)
if result.returncode != 0:
    sys.exit(f"peak-rss: {command[0]} exited with {result.returncode}")
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
if peak_mib > limit_mib:
    sys.exit(f"peak-rss: {command[0]} peaked at {peak_mib} MiB, over the "
             f"{limit_mib} MiB limit")
print(f"peak-rss: under {limit_mib} MiB")
