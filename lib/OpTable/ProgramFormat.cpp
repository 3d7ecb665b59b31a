//===- ProgramFormat.cpp - The contract of a program file -----------------===//

#include "ckpt/OpTable/ProgramFormat.h"

using namespace ckpt::ops;

namespace {
constexpr std::pair<TensorRole, const char *> kRoles[] = {
    {TensorRole::Input, "input"},
    {TensorRole::Parameter, "parameter"},
    {TensorRole::Gradient, "gradient"},
    {TensorRole::Loss, "loss"},
    {TensorRole::Activation, "activation"},
    {TensorRole::Temporary, "temporary"},
};
} // namespace

std::string
ckpt::ops::profileKey(std::string_view op,
                      const std::vector<std::vector<int64_t>> &inputs,
                      const std::vector<std::vector<int64_t>> &outputs) {
  auto shapes = [](const std::vector<std::vector<int64_t>> &list) {
    std::string text;
    for (size_t k = 0; k < list.size(); ++k) {
      if (k)
        text += ';';
      for (size_t d = 0; d < list[k].size(); ++d)
        text += (d ? "x" : "") + std::to_string(list[k][d]);
    }
    return text;
  };
  return std::string(op) + "(" + shapes(inputs) + ")->(" + shapes(outputs) +
         ")";
}

const char *ckpt::ops::tensorRoleName(TensorRole role) {
  for (auto [value, name] : kRoles)
    if (value == role)
      return name;
  return "?";
}

std::optional<TensorRole> ckpt::ops::parseTensorRole(std::string_view name) {
  for (auto [value, text] : kRoles)
    if (name == text)
      return value;
  return std::nullopt;
}
