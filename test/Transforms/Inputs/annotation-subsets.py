"""Writes one module per subset of a layer's ops annotated
ckpt.remat = "recompute", split by "// -----" for ckpt-opt
--split-input-file. usage: annotation-subsets.py GRAPH.mlir LAYER N
(the first N forward ops of layer LAYER; 2^N modules)."""
import sys

graph, layer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(graph).read().split("\n")
tag = "{xf.layer = %s :" % layer
ops = [i for i, line in enumerate(lines) if tag in line][:count]
modules = []
for mask in range(1 << len(ops)):
    module = list(lines)
    for bit, index in enumerate(ops):
        if mask >> bit & 1:
            module[index] = module[index].replace(
                tag, '{ckpt.remat = "recompute", xf.layer = %s :' % layer, 1)
    modules.append("\n".join(module))
sys.stdout.write("\n// -----\n".join(modules))
