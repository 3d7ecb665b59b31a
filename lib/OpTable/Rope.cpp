//===- Rope.cpp - Rotary frequencies of xf.rope ---------------------------===//

#include "ckpt/OpTable/Rope.h"

#include <algorithm>
#include <cmath>

using namespace ckpt::ops;

std::vector<AttrSpec> ckpt::ops::ropeAttrSpecs() {
  return {{"base", AttrKind::Float, AttrValue(10000.0)},
          {"rotary_dim", AttrKind::Int, std::nullopt},
          {"scaling", AttrKind::String, AttrValue(std::string("default"))},
          {"factor", AttrKind::Float, AttrValue(1.0)},
          {"low_freq_factor", AttrKind::Float, AttrValue(1.0)},
          {"high_freq_factor", AttrKind::Float, AttrValue(4.0)},
          {"original_max_position", AttrKind::Int, AttrValue(int64_t(0))},
          {"beta_fast", AttrKind::Float, AttrValue(32.0)},
          {"beta_slow", AttrKind::Float, AttrValue(1.0)},
          {"truncate", AttrKind::Bool, AttrValue(true)},
          {"attention_factor", AttrKind::Float, AttrValue(1.0)}};
}

namespace {
double number(const AttrMap &attrs, const char *name, double fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end())
    return fallback;
  if (auto *d = std::get_if<double>(&it->second))
    return *d;
  if (auto *i = std::get_if<int64_t>(&it->second))
    return static_cast<double>(*i);
  return fallback;
}
int64_t integer(const AttrMap &attrs, const char *name, int64_t fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end())
    return fallback;
  auto *i = std::get_if<int64_t>(&it->second);
  return i ? *i : fallback;
}
} // namespace

RopeSpec ckpt::ops::readRopeSpec(const AttrMap &attrs) {
  RopeSpec spec;
  spec.base = number(attrs, "base", spec.base);
  spec.rotaryDim = integer(attrs, "rotary_dim", spec.rotaryDim);
  if (auto it = attrs.find("scaling"); it != attrs.end())
    if (auto *s = std::get_if<std::string>(&it->second))
      spec.scaling = *s;
  spec.factor = number(attrs, "factor", spec.factor);
  spec.lowFreqFactor = number(attrs, "low_freq_factor", spec.lowFreqFactor);
  spec.highFreqFactor = number(attrs, "high_freq_factor", spec.highFreqFactor);
  spec.originalMaxPosition =
      integer(attrs, "original_max_position", spec.originalMaxPosition);
  spec.betaFast = number(attrs, "beta_fast", spec.betaFast);
  spec.betaSlow = number(attrs, "beta_slow", spec.betaSlow);
  if (auto it = attrs.find("truncate"); it != attrs.end())
    if (auto *b = std::get_if<bool>(&it->second))
      spec.truncate = *b;
  spec.attentionFactor =
      number(attrs, "attention_factor", spec.attentionFactor);
  return spec;
}

static std::string show(double value) {
  std::string text = std::to_string(value);
  // Trim std::to_string's trailing zeros ("8.000000" -> "8").
  while (!text.empty() && text.back() == '0')
    text.pop_back();
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  return text;
}

std::string ckpt::ops::checkRopeSpec(const RopeSpec &spec, int64_t headDim) {
  if (spec.rotaryDim <= 0 || spec.rotaryDim % 2 != 0 ||
      spec.rotaryDim > headDim)
    return "rotary_dim must be even and in (0, " + std::to_string(headDim) +
           "] (the head dimension), got " + std::to_string(spec.rotaryDim);
  if (!(spec.base > 0.0))
    return "base must be > 0, got " + show(spec.base);
  const std::string &type = spec.scaling;
  if (type != "default" && type != "linear" && type != "llama3" &&
      type != "yarn")
    return "scaling must be default, linear, llama3 or yarn, got \"" + type +
           "\"";
  if (!(spec.factor > 0.0) || !std::isfinite(spec.factor))
    return "factor must be > 0, got " + show(spec.factor);
  if (!(spec.attentionFactor > 0.0) || !std::isfinite(spec.attentionFactor))
    return "attention_factor must be > 0, got " + show(spec.attentionFactor);
  if ((type == "llama3" || type == "yarn") && spec.originalMaxPosition <= 0)
    return type + " scaling needs original_max_position > 0";
  if (type == "llama3" &&
      !(spec.lowFreqFactor > 0.0 && spec.highFreqFactor > spec.lowFreqFactor))
    return "llama3 scaling needs 0 < low_freq_factor < high_freq_factor, "
           "got " +
           show(spec.lowFreqFactor) + " and " + show(spec.highFreqFactor);
  if (type == "yarn" && !(spec.betaFast > 0.0 && spec.betaSlow > 0.0))
    return "yarn scaling needs beta_fast and beta_slow > 0";
  return "";
}

std::pair<double, double> ckpt::ops::yarnRampRange(const RopeSpec &spec) {
  // The pair index that turns `rotations` times over the original length.
  double dim = static_cast<double>(spec.rotaryDim);
  auto pairOf = [&](double rotations) {
    return dim *
           std::log(static_cast<double>(spec.originalMaxPosition) /
                    (rotations * 2.0 * M_PI)) /
           (2.0 * std::log(spec.base));
  };
  double first = pairOf(spec.betaFast), last = pairOf(spec.betaSlow);
  if (spec.truncate) {
    first = std::floor(first);
    last = std::ceil(last);
  }
  first = std::max(first, 0.0);
  last = std::min(last, dim - 1.0);
  if (first == last)
    last += 0.001; // transformers' guard against a zero-width ramp.
  return {first, last};
}

std::vector<double> ckpt::ops::ropeInverseFrequencies(const RopeSpec &spec) {
  int64_t half = spec.rotaryDim / 2;
  std::vector<double> frequencies(half);
  for (int64_t i = 0; i < half; ++i)
    frequencies[i] =
        std::pow(spec.base, -2.0 * static_cast<double>(i) /
                                static_cast<double>(spec.rotaryDim));
  const std::string &type = spec.scaling;
  if (type == "linear") {
    for (double &f : frequencies)
      f /= spec.factor;
  } else if (type == "llama3") {
    // Wavelengths past original / low_freq_factor are divided by the
    // factor, those below original / high_freq_factor kept, a smooth
    // blend between.
    double original = static_cast<double>(spec.originalMaxPosition);
    for (double &f : frequencies) {
      double wavelength = 2.0 * M_PI / f;
      if (wavelength > original / spec.lowFreqFactor) {
        f /= spec.factor;
      } else if (!(wavelength < original / spec.highFreqFactor)) {
        double smooth = (original / wavelength - spec.lowFreqFactor) /
                        (spec.highFreqFactor - spec.lowFreqFactor);
        f = (1.0 - smooth) * f / spec.factor + smooth * f;
      }
    }
  } else if (type == "yarn") {
    auto [first, last] = yarnRampRange(spec);
    for (int64_t i = 0; i < half; ++i) {
      double ramp = std::clamp(
          (static_cast<double>(i) - first) / (last - first), 0.0, 1.0);
      double f = frequencies[i];
      frequencies[i] = f / spec.factor * ramp + f * (1.0 - ramp);
    }
  }
  return frequencies;
}
