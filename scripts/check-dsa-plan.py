#!/usr/bin/env python3
"""Checks a ckpt-dsa output CSV on its own: every buffer of the input has an
offset, and no two buffers live at the same time overlap in memory.
Prints the height and height / LOAD; exits 1 on any violation."""
import csv
import sys


def main(input_path, output_path):
    with open(input_path) as f:
        original = {r["id"]: r for r in csv.DictReader(f)}
    with open(output_path) as f:
        rows = list(csv.DictReader(f))
    if set(r["id"] for r in rows) != set(original):
        print("the output does not have the input's buffers")
        return 1
    buffers = []
    for r in rows:
        o = original[r["id"]]
        if (r["lower"], r["upper"], r["size"]) != (o["lower"], o["upper"], o["size"]):
            print(f"buffer {r['id']}: lifetime or size changed")
            return 1
        offset = int(r["offset"])
        if offset < 0:
            print(f"buffer {r['id']}: negative offset")
            return 1
        buffers.append((int(r["lower"]), int(r["upper"]), int(r["size"]), offset, r["id"]))
    for i, (l1, u1, s1, o1, n1) in enumerate(buffers):
        for l2, u2, s2, o2, n2 in buffers[i + 1:]:
            if l1 < u2 and l2 < u1 and o1 < o2 + s2 and o2 < o1 + s1:
                print(f"buffers {n1} and {n2} are live together and overlap")
                return 1
    events = sorted([(l, s) for l, u, s, o, n in buffers] + [(u, -s) for l, u, s, o, n in buffers])
    live = load = 0
    for _, delta in events:
        live += delta
        load = max(load, live)
    height = max(o + s for l, u, s, o, n in buffers)
    print(f"valid: {len(buffers)} buffers, height {height}, height/LOAD {height / load:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
