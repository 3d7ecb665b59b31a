//===- XFShapes.h - Shape rules of the xf ops -------------------*- C++ -*-===//
//
// One source of truth for the shape rules of the xf ops: the op verifiers and
// the graph builders both call these. They work on plain dimension lists so
// they can be unit-tested without building IR. Each returns the result shape,
// or an error whose message says what is wrong and what is allowed.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_DIALECT_XF_XFSHAPES_H
#define CKPT_DIALECT_XF_XFSHAPES_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include <cstdint>
#include <optional>
#include <string>

namespace ckpt::xf::shapes {

using Shape = llvm::SmallVector<int64_t, 4>;

/// Formats a shape as "[a, b, c]".
std::string format(llvm::ArrayRef<int64_t> shape);

/// tokens [b, s], word [v, h], positions [p, h] with p >= s -> [s, b, h].
llvm::Expected<Shape> embedding(llvm::ArrayRef<int64_t> tokens,
                                llvm::ArrayRef<int64_t> word,
                                llvm::ArrayRef<int64_t> positions);

/// input [..., h], weight [h], bias [h] -> input's shape.
llvm::Expected<Shape> layerNorm(llvm::ArrayRef<int64_t> input,
                                llvm::ArrayRef<int64_t> weight,
                                llvm::ArrayRef<int64_t> bias);

/// input [..., k], weight [n, k], optional bias [n] -> [..., n].
llvm::Expected<Shape>
linear(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> weight,
       std::optional<llvm::ArrayRef<int64_t>> bias = std::nullopt);

/// qkv [s, b, 3h] split over `heads` heads -> [b, a, s, h / a] (each of Q, K,
/// V).
llvm::Expected<Shape> splitHeads(llvm::ArrayRef<int64_t> qkv, int64_t heads);

/// query [b, a, sq, d], key [b, a, sk, d] -> [b, a, sq, sk].
llvm::Expected<Shape> attentionScores(llvm::ArrayRef<int64_t> query,
                                      llvm::ArrayRef<int64_t> key);

/// Softmax over the last dimension; causal needs rank >= 2 and a square
/// trailing [s, s] -> input's shape.
llvm::Expected<Shape> softmax(llvm::ArrayRef<int64_t> input, bool causal);

/// probs [b, a, sq, sk], value [b, a, sk, d] -> [b, a, sq, d].
llvm::Expected<Shape> attentionContext(llvm::ArrayRef<int64_t> probs,
                                       llvm::ArrayRef<int64_t> value);

/// [b, a, s, d] -> [s, b, a * d].
llvm::Expected<Shape> mergeHeads(llvm::ArrayRef<int64_t> input);

/// logits [s, b, v], labels [b, s] -> [] (a scalar).
llvm::Expected<Shape> crossEntropy(llvm::ArrayRef<int64_t> logits,
                                   llvm::ArrayRef<int64_t> labels);

} // namespace ckpt::xf::shapes

#endif // CKPT_DIALECT_XF_XFSHAPES_H
