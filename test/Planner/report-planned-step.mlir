// The report describes the plan a step carries, not one of its own: this
// hand-made plan leaves %c in a gap of its own (an arena of 256 bytes where
// 192 suffice), and the report says 256. A step without a plan is planned
// by the report itself (192).
// RUN: rm -rf %t && mkdir -p %t
// RUN: ckpt-opt %s --ckpt-report="json=%t/planned.json table=false" -o /dev/null
// RUN: FileCheck %s --check-prefix=PLANNED < %t/planned.json
// PLANNED: "arena_bytes": 256,
// PLANNED: "lower_bound_bytes": 192,
// RUN: sed -E -e 's/attributes [{]ckpt[.]memory = [{][^}]*[}][}] [{]/{/' -e 's/ [{]ckpt[.]offsets = [^}]*[}]//' %s > %t/unplanned.mlir
// RUN: not grep 'ckpt[.][mo]' %t/unplanned.mlir
// RUN: ckpt-opt %t/unplanned.mlir --ckpt-report="json=%t/fresh.json table=false" -o /dev/null
// RUN: FileCheck %s --check-prefix=FRESH < %t/fresh.json
// FRESH: "arena_bytes": 192,
// FRESH: "lower_bound_bytes": 192,

func.func @train_step(%x: tensor<16xf32>, %dy: tensor<16xf32>) -> tensor<16xf32>
    attributes {ckpt.memory = {arena_bytes = 256 : i64, peak_bytes = 192 : i64, alignment = 64 : i64}} {
  %a = xf.gelu %x {ckpt.offsets = array<i64: 0>} : tensor<16xf32>
  %b = xf.gelu %a {ckpt.offsets = array<i64: 64>} : tensor<16xf32>
  %c = xf.gelu %a {ckpt.offsets = array<i64: 192>} : tensor<16xf32>
  %d = xf.add %b, %c {ckpt.offsets = array<i64: 0>} : tensor<16xf32>
  %e = xf.add %d, %dy {ckpt.offsets = array<i64: -1>} : tensor<16xf32>
  return %e : tensor<16xf32>
}

// A corrupt plan is an error, not a report.
// RUN: sed -e 's/array<i64: 192>/array<i64: 64>/' %s > %t/corrupt.mlir
// RUN: not ckpt-opt %t/corrupt.mlir --ckpt-report="table=false" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CORRUPT
// CORRUPT: error: 'xf.gelu' op result #0 (bytes [64, 128) of the arena, live over steps [2, 4)) overlaps a tensor live at the same time
