//===- Rope.h - Rotary frequencies of xf.rope -------------------*- C++ -*-===//
//
// What xf.rope and xf.rope_grad rotate by: each channel pair's inverse
// frequency and the magnitude that multiplies cos and sin, for the default
// rotary embedding and the scaled ones of Hugging Face's configs (linear,
// llama3, yarn) as transformers' modeling_rope_utils computes them. Plain
// C++, shared by the verifier, the CPU kernels and the reference backend,
// so one formula serves them all (the CUDA ops write it for the device).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_ROPE_H
#define CKPT_OPTABLE_ROPE_H

#include "ckpt/OpTable/OpTable.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ckpt::ops {

/// The attributes of xf.rope (absent ones at their defaults).
struct RopeSpec {
  double base = 10000.0;
  int64_t rotaryDim = 0;
  /// "default", "linear" (every frequency / factor), "llama3" (low
  /// frequencies / factor, high ones kept, a smooth blend between) or
  /// "yarn" (a ramp over the pairs, cos and sin times attention_factor).
  std::string scaling = "default";
  double factor = 1.0;
  double lowFreqFactor = 1.0;      ///< llama3.
  double highFreqFactor = 4.0;     ///< llama3.
  int64_t originalMaxPosition = 0; ///< llama3, yarn: the pretraining length.
  double betaFast = 32.0;          ///< yarn.
  double betaSlow = 1.0;           ///< yarn.
  bool truncate = true;            ///< yarn: whole pairs bound the ramp.
  double attentionFactor = 1.0;    ///< Multiplies cos and sin.
};

/// The attribute names and their kinds and defaults, for the op table.
std::vector<AttrSpec> ropeAttrSpecs();
/// Reads the spec from an op's attributes.
RopeSpec readRopeSpec(const AttrMap &attrs);
/// "" when valid for heads of `headDim` channels, else what is wrong.
std::string checkRopeSpec(const RopeSpec &spec, int64_t headDim);

/// The inverse frequency of each of the rotaryDim / 2 channel pairs: pair i
/// of position j turns by j · frequency[i].
std::vector<double> ropeInverseFrequencies(const RopeSpec &spec);
/// yarn's ramp over the pairs: below `first` a pair keeps its frequency,
/// past `last` it is divided by the factor, linear between.
std::pair<double, double> yarnRampRange(const RopeSpec &spec);

} // namespace ckpt::ops

#endif // CKPT_OPTABLE_ROPE_H
