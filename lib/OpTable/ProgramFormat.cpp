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
