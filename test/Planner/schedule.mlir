// RUN: ckpt-opt %s --ckpt-schedule | FileCheck %s

// A recompute region placed early is moved to just before its first reader.
// CHECK-LABEL: func.func @train_step
// CHECK:      %[[G:.*]] = xf.gelu %arg0 {ckpt.remat = "recompute"}
// CHECK-NEXT: %[[H:.*]] = xf.gelu %[[G]]
// CHECK-NEXT: %[[D:.*]] = xf.add %arg1, %arg1 {xf.phase = "backward"}
// CHECK-NEXT: %[[R:.*]] = ckpt.recompute(%arg0)
// CHECK:      xf.gelu_grad %[[R]], %[[D]]
func.func @train_step(%x: tensor<4xf32>, %dy: tensor<4xf32>) -> tensor<4xf32> {
  %g = xf.gelu %x {ckpt.remat = "recompute"} : tensor<4xf32>
  %r = ckpt.recompute(%x) {xf.phase = "recompute"} : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x1: tensor<4xf32>):
    %g1 = xf.gelu %x1 {xf.phase = "recompute"} : tensor<4xf32>
    ckpt.yield %g1 : tensor<4xf32>
  }
  %h = xf.gelu %g : tensor<4xf32>
  %d = xf.add %dy, %dy {xf.phase = "backward"} : tensor<4xf32>
  %dg = xf.gelu_grad %r, %d {xf.phase = "backward"} : tensor<4xf32>
  return %dg : tensor<4xf32>
}
