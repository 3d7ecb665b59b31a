"""Reads the merged output of several ckpt-run ranks and checks that every
line is whole: each of ckpt-run's line kinds starts its own line and never
appears inside another. Prints the line count and the first broken line."""
import re
import sys

STARTS = ("rank ", "program: ", "loss: ", "gradient norms:", "step time: ",
          "memory: ", "arena: ", "first step: ")
lines = sys.stdin.read().splitlines()
broken = [line for line in lines
          if not (line.startswith(STARTS) or re.match(r"^  \S+ +\S+$", line))
          or any(kind in line[1:] for kind in STARTS if kind != "rank ")]
print(f"{len(lines)} lines, {len(broken)} broken")
for line in broken[:1]:
    print("broken:", line)
