//===- Fusion.h - Adjacent element-wise work in one pass --------*- C++ -*-===//
//
// When the executor loads a program it fuses pairs of adjacent instructions
// into the op table's fused ops (OpClass::Fused), each one pass over memory,
// wherever that changes neither what is saved nor the planned memory:
//
// - dropout(x) -> (d, mask); add(r, d) -> y   becomes
//   dropout_add(x, r) -> (y, mask), when d has no other reader and x is last
//   read by the dropout: d's bytes are never needed, and y takes x's place
//   in the timeline, so the peak of live bytes is the planned one. In a
//   planned program y must sit on x's bytes exactly or apart from them (the
//   pass reads x and writes y), and apart from the mask's (written in the
//   same pass; a mask nobody reads is freed at once, and the plan may give
//   its bytes to y).
// - linear(x, w, b) -> h; gelu(h) -> g   becomes
//   linear_gelu(x, w, b) -> (h, g), when x stays alive after the linear: g
//   is then live with h in the plan already, apart from every byte the
//   linear reads.
//
// Every kernel of a fused op gives the bits of the pair it replaces.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_FUSION_H
#define CKPT_RUNTIME_FUSION_H

#include "ckpt/runtime/Program.h"

namespace ckpt::rt {

/// `program` with its fusable pairs fused; `fusions` (when given) receives
/// how many pairs were.
Program fuseElementwise(const Program &program, int *fusions = nullptr);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_FUSION_H
