// RUN: ckpt-opt %s -split-input-file -verify-diagnostics

// CHECK-style round trip of every collective.
func.func @ok(%x: tensor<8x2x4xf32>) {
  %a = ckpt.tp_copy %x {group = "tp", size = 2 : i64} : tensor<8x2x4xf32>
  %b = ckpt.all_reduce %a {group = "tp", size = 2 : i64} : tensor<8x2x4xf32>
  %c = ckpt.all_gather %b {group = "tp", size = 2 : i64, dim = 0 : i64} : tensor<8x2x4xf32> -> tensor<16x2x4xf32>
  %d = ckpt.reduce_scatter %c {group = "tp", size = 4 : i64, dim = 0 : i64} : tensor<16x2x4xf32> -> tensor<4x2x4xf32>
  %e = ckpt.shard %x {group = "tp", size = 2 : i64, dim = 2 : i64} : tensor<8x2x4xf32> -> tensor<8x2x2xf32>
  return
}

// -----

func.func @gather_size(%x: tensor<8x2x4xf32>) {
  // expected-error @+1 {{'ckpt.all_gather' op result dimension 0 must be 16, got 8}}
  %c = ckpt.all_gather %x {group = "tp", size = 2 : i64, dim = 0 : i64} : tensor<8x2x4xf32> -> tensor<8x2x4xf32>
  return
}

// -----

func.func @scatter_divisible(%x: tensor<7x2x4xf32>) {
  // expected-error @+1 {{'ckpt.reduce_scatter' op dimension 0 (7) must be divisible by the group size 2}}
  %c = ckpt.reduce_scatter %x {group = "tp", size = 2 : i64, dim = 0 : i64} : tensor<7x2x4xf32> -> tensor<3x2x4xf32>
  return
}

// -----

func.func @shard_dim(%x: tensor<8x2x4xf32>) {
  // expected-error @+1 {{'ckpt.shard' op dim 3 is outside the rank-3 operand}}
  %c = ckpt.shard %x {group = "tp", size = 2 : i64, dim = 3 : i64} : tensor<8x2x4xf32> -> tensor<8x2x4xf32>
  return
}

// -----

func.func @size_positive(%x: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %a = ckpt.all_reduce %x {group = "tp", size = 0 : i64} : tensor<8xf32>
  return
}

// -----

func.func @group_name(%x: tensor<8xf32>) {
  // expected-error @+1 {{'ckpt.tp_copy' op needs a group name}}
  %a = ckpt.tp_copy %x {group = "", size = 2 : i64} : tensor<8xf32>
  return
}
