"""Writes a ckpt-dsa instance of N buffers with random lifetimes (up to
SPAN steps, starts within HORIZON) and sizes, from a fixed seed.
usage: dsa-random.py N HORIZON SPAN > instance.csv"""
import random
import sys

n, horizon, span = (int(a) for a in sys.argv[1:4])
rng = random.Random(1)
lines = ["id,lower,upper,size"]
for i in range(n):
    lower = rng.randrange(horizon)
    lines.append(f"b{i},{lower},{lower + rng.randrange(1, span)},"
                 f"{rng.randrange(1, 1 << 20)}")
sys.stdout.write("\n".join(lines) + "\n")
