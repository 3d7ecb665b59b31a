#!/usr/bin/env python3
"""Tensor-parallel shards of .npy parameter and gradient files (no numpy).

  tp-shards.py split FULL_DIR OUT_DIR T [glu]      FULL_DIR/<name>.npy -> OUT_DIR/rank<r>/
  tp-shards.py compare FULL_DIR RANKS_DIR T [glu]  gathers RANKS_DIR/rank<r>/ and
                                                   compares with FULL_DIR

Megatron's layout: QKV and fc1 (weights and biases) split their rows,
proj and fc2 weights their columns (a shared expert's too), the word
embedding and the output layer their vocabulary rows (when T divides the
vocabulary; otherwise they stay whole, as the compiler then keeps them);
everything else, the routed experts and their router included, is
replicated. With a
gated MLP (glu) fc1's rows are [gate; up] and each rank holds its slice of
both halves, [gate_r; up_r]."""
import math
import os
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    length = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + length].decode()
    descr = header.split("'descr': '")[1][:3]
    shape = tuple(int(x) for x in header.split("'shape': (")[1].split(")")[0].split(",") if x.strip())
    fmt = {"<f4": "f", "<f8": "d"}[descr]
    count = math.prod(shape)
    values = list(struct.unpack("<%d%s" % (count, fmt), data[10 + length:10 + length + count * struct.calcsize(fmt)]))
    return shape, values, descr


def write(path, shape, values, descr):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape) if len(shape) != 1 else "%d," % shape[0])
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    fmt = {"<f4": "f", "<f8": "d"}[descr]
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


VOCAB = ("embedding.word_embeddings.weight", "output_layer.weight")


def split_dim(name, shape, t):
    # Routed experts and their router are replicated (no expert parallelism).
    if ".experts." in name or ".router." in name:
        return None
    if name in VOCAB:
        return 0 if shape[0] % t == 0 else None
    if ".linear_qkv." in name or ".linear_fc1." in name:
        return 0
    if name.endswith(".linear_proj.weight") or name.endswith(".linear_fc2.weight"):
        return 1
    return None


def glu_piece(shape, values, t, r):
    half = shape[0] // 2
    n, inner = half // t, math.prod(shape[1:])
    gate = values[r * n * inner:(r + 1) * n * inner]
    up = values[(half + r * n) * inner:(half + (r + 1) * n) * inner]
    return (2 * n,) + tuple(shape[1:]), gate + up


def glu_gather(pieces):
    shape0, _ = pieces[0]
    half = len(pieces[0][1]) // 2
    gates = [v for _, vs in pieces for v in vs[:half]]
    ups = [v for _, vs in pieces for v in vs[half:]]
    return (shape0[0] * len(pieces),) + tuple(shape0[1:]), gates + ups


def piece(shape, values, dim, t, r):
    if dim == 0:
        n = shape[0] // t
        inner = math.prod(shape[1:])
        return (n,) + tuple(shape[1:]), values[r * n * inner:(r + 1) * n * inner]
    cols = shape[1] // t
    out = []
    for row in range(shape[0]):
        start = row * shape[1] + r * cols
        out.extend(values[start:start + cols])
    return (shape[0], cols), out


def gather(pieces, dim):
    shape0, _ = pieces[0]
    if dim == 0:
        values = [v for _, vs in pieces for v in vs]
        return (shape0[0] * len(pieces),) + tuple(shape0[1:]), values
    rows, cols = shape0
    values = []
    for row in range(rows):
        for _, vs in pieces:
            values.extend(vs[row * cols:(row + 1) * cols])
    return (rows, cols * len(pieces)), values


def main():
    mode, full, ranks, t = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    glu = len(sys.argv) > 5 and sys.argv[5] == "glu"

    def is_glu(name):
        return glu and ".linear_fc1." in name
    names = sorted(f[:-4] for f in os.listdir(full) if f.endswith(".npy"))
    if mode == "split":
        for r in range(t):
            os.makedirs(os.path.join(ranks, "rank%d" % r), exist_ok=True)
        for name in names:
            shape, values, descr = read(os.path.join(full, name + ".npy"))
            dim = split_dim(name, shape, t)
            for r in range(t):
                if dim is None:
                    s, v = shape, values
                elif is_glu(name):
                    s, v = glu_piece(shape, values, t, r)
                else:
                    s, v = piece(shape, values, dim, t, r)
                write(os.path.join(ranks, "rank%d" % r, name + ".npy"), s, v, descr)
        print("split %d parameters over %d ranks" % (len(names), t))
        return 0
    worst, worst_name = 0.0, ""
    for name in names:
        shape, expected, _ = read(os.path.join(full, name + ".npy"))
        pieces = [read(os.path.join(ranks, "rank%d" % r, name + ".npy"))[:2] for r in range(t)]
        dim = split_dim(name, shape, t)
        if dim is None:
            candidates = pieces  # Replicated: every rank must agree.
        elif is_glu(name):
            candidates = [glu_gather(pieces)]
        else:
            candidates = [gather(pieces, dim)]
        for got_shape, got in candidates:
            if tuple(got_shape) != tuple(shape):
                print("%s: shape %s, expected %s" % (name, got_shape, shape))
                return 1
            norm = math.sqrt(sum(v * v for v in expected)) or 1.0
            diff = math.sqrt(sum((a - b) ** 2 for a, b in zip(got, expected)))
            if diff / norm > worst:
                worst, worst_name = diff / norm, name
    print("gathered gradients of %d parameters; worst relative difference %.2e (%s)" %
          (len(names), worst, worst_name))
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
