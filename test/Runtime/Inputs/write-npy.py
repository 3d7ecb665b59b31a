#!/usr/bin/env python3
"""Writes a .npy file (format 1.0) without numpy, for tests.
usage: write-npy.py OUT DTYPE ROWSxCOLS VALUE...   (DTYPE: i4 or f8)"""
import struct
import sys

out, dtype, shape_text, *values = sys.argv[1:]
shape = tuple(int(d) for d in shape_text.split("x"))
assert dtype in ("i4", "f8") and len(values) == shape[0] * shape[1]
header = "{'descr': '<%s', 'fortran_order': False, 'shape': (%d, %d), }" % (
    dtype, *shape)
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
body = b"".join(struct.pack("<i" if dtype == "i4" else "<d",
                            int(v) if dtype == "i4" else float(v))
                for v in values)
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) +
            header.encode("latin1") + body)
