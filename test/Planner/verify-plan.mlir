// RUN: ckpt-opt %s -split-input-file --ckpt-verify-plan -verify-diagnostics

// A hand-broken plan: %b and %c are live together (%b is read after %c is
// made) and overlap in the arena.
func.func @train_step(%x: tensor<16xf32>, %dy: tensor<16xf32>) -> tensor<16xf32>
    attributes {ckpt.memory = {arena_bytes = 192 : i64, peak_bytes = 192 : i64}} {
  %a = xf.gelu %x {ckpt.offsets = array<i64: 0>} : tensor<16xf32>
  // expected-note @+1 {{which occupies bytes [64, 128), live over steps [1, 4)}}
  %b = xf.gelu %a {ckpt.offsets = array<i64: 64>} : tensor<16xf32>
  // expected-error @+1 {{'xf.gelu' op result #0 (bytes [64, 128) of the arena, live over steps [2, 4)) overlaps a tensor live at the same time}}
  %c = xf.gelu %a {ckpt.offsets = array<i64: 64>} : tensor<16xf32>
  %d = xf.add %b, %c {ckpt.offsets = array<i64: 128>} : tensor<16xf32>
  %e = xf.add %d, %dy {ckpt.offsets = array<i64: -1>} : tensor<16xf32>
  return %e : tensor<16xf32>
}

// -----

// The same graph, repaired.
func.func @train_step(%x: tensor<16xf32>, %dy: tensor<16xf32>) -> tensor<16xf32>
    attributes {ckpt.memory = {arena_bytes = 192 : i64, peak_bytes = 192 : i64}} {
  %a = xf.gelu %x {ckpt.offsets = array<i64: 0>} : tensor<16xf32>
  %b = xf.gelu %a {ckpt.offsets = array<i64: 64>} : tensor<16xf32>
  %c = xf.gelu %a {ckpt.offsets = array<i64: 128>} : tensor<16xf32>
  %d = xf.add %b, %c {ckpt.offsets = array<i64: 0>} : tensor<16xf32>
  %e = xf.add %d, %dy {ckpt.offsets = array<i64: -1>} : tensor<16xf32>
  return %e : tensor<16xf32>
}

// -----

func.func @train_step(%x: tensor<16xf32>) -> tensor<16xf32>
    attributes {ckpt.memory = {arena_bytes = 64 : i64, peak_bytes = 64 : i64}} {
  // expected-error @+1 {{'xf.gelu' op result #0 at offset 32 (+64 bytes) is not an aligned place inside the arena of 64 bytes}}
  %a = xf.gelu %x {ckpt.offsets = array<i64: 32>} : tensor<16xf32>
  %b = xf.gelu %a {ckpt.offsets = array<i64: -1>} : tensor<16xf32>
  return %b : tensor<16xf32>
}

// -----

// expected-error @+1 {{@train_step has no memory plan (ckpt.memory); run --ckpt-plan-memory}}
func.func @train_step(%x: tensor<16xf32>) -> tensor<16xf32> {
  return %x : tensor<16xf32>
}

// -----

func.func @f(%x: tensor<16xf32>) {
  // expected-error @+1 {{'ckpt.offsets' has 2 entries for 1 results}}
  %a = xf.gelu %x {ckpt.offsets = array<i64: 0, 64>} : tensor<16xf32>
  return
}
