//===- OpTable.cpp - Checking, inference and costs from the op table ------===//

#include "ckpt/OpTable/OpTable.h"

#include "OpRules.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>

using namespace ckpt::ops;

//===----------------------------------------------------------------------===//
// Element types and formatting
//===----------------------------------------------------------------------===//

namespace {
struct TypeInfo {
  ElementType type;
  const char *name;
  int64_t bytes;
  bool isFloat;
};
constexpr TypeInfo kTypes[] = {
    {ElementType::F32, "f32", 4, true},
    {ElementType::F64, "f64", 8, true},
    {ElementType::BF16, "bf16", 2, true},
    {ElementType::F16, "f16", 2, true},
    {ElementType::I32, "i32", 4, false},
    {ElementType::I64, "i64", 8, false},
    {ElementType::I1, "i1", 1, false},
    {ElementType::Other, "other", 0, false},
};
constexpr bool typesInEnumOrder() {
  for (size_t i = 0; i < std::size(kTypes); ++i)
    if (static_cast<size_t>(kTypes[i].type) != i)
      return false;
  return true;
}
static_assert(typesInEnumOrder(), "kTypes is indexed by ElementType");
const TypeInfo &info(ElementType type) {
  return kTypes[static_cast<size_t>(type)];
}
} // namespace

const char *ckpt::ops::elementTypeName(ElementType type) {
  return info(type).name;
}

std::optional<ElementType> ckpt::ops::parseElementType(std::string_view name) {
  for (const TypeInfo &t : kTypes)
    if (t.type != ElementType::Other && name == t.name)
      return t.type;
  return std::nullopt;
}

int64_t ckpt::ops::elementTypeBytes(ElementType type) {
  return info(type).bytes;
}

bool ckpt::ops::isFloat(ElementType type) { return info(type).isFloat; }

std::string ckpt::ops::formatShape(const Shape &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string ckpt::ops::formatTensorType(const TensorDesc &tensor) {
  std::string text = "'tensor<";
  for (int64_t d : tensor.shape)
    text += std::to_string(d) + "x";
  return text + elementTypeName(tensor.type) + ">'";
}

std::optional<int64_t> ckpt::ops::numElements(const Shape &shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / d)
      return std::nullopt;
    count *= d;
  }
  return count;
}

//===----------------------------------------------------------------------===//
// OpDef
//===----------------------------------------------------------------------===//

bool OpDef::backwardNeedsInput(unsigned index) const {
  return std::find(savedInputs.begin(), savedInputs.end(), index) !=
         savedInputs.end();
}

bool OpDef::backwardNeedsOutput(unsigned index) const {
  return std::find(savedOutputs.begin(), savedOutputs.end(), index) !=
         savedOutputs.end();
}

unsigned OpDef::minInputs() const {
  unsigned count = 0;
  for (const TensorSpec &spec : inputs)
    count += spec.optional ? 0 : 1;
  return count;
}

unsigned OpDef::minOutputs() const {
  unsigned count = 0;
  for (const TensorSpec &spec : outputs)
    count += spec.optional ? 0 : 1;
  return count;
}

const AttrSpec *OpDef::attr(std::string_view attrName) const {
  for (const AttrSpec &spec : attrs)
    if (spec.name == attrName)
      return &spec;
  return nullptr;
}

const std::vector<OpDef> &ckpt::ops::allOps() {
  static const std::vector<OpDef> table = [] {
    std::vector<OpDef> ops;
    detail::addForwardOps(ops);
    detail::addGradientOps(ops);
    detail::addMoeOps(ops);
    detail::addCollectiveOps(ops);
    detail::addFusedOps(ops);
    return ops;
  }();
  return table;
}

bool OpDef::isMaskOp() const {
  for (const OpDef &def : allOps())
    if (def.maskOp == name)
      return true;
  return false;
}

const OpDef *ckpt::ops::lookupOp(std::string_view name) {
  static const std::map<std::string_view, const OpDef *> index = [] {
    std::map<std::string_view, const OpDef *> byName;
    for (const OpDef &def : allOps())
      byName[def.name] = &def;
    return byName;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

//===----------------------------------------------------------------------===//
// RuleContext
//===----------------------------------------------------------------------===//

RuleContext::RuleContext(const OpDef &def, const OpInstance &op,
                         bool haveOutputs)
    : def_(def), op_(op), haveOutputs_(haveOutputs),
      outputs_(def.outputs.size()) {}

const TensorDesc *RuleContext::given(unsigned i) {
  if (haveOutputs_ && i < op_.outputs.size())
    return &op_.outputs[i];
  fail("the results of '" + std::string(def_.name) +
       "' do not follow from its operands; give their types");
  return nullptr;
}

const TensorDesc *RuleContext::peek(unsigned i) const {
  return haveOutputs_ && i < op_.outputs.size() ? &op_.outputs[i] : nullptr;
}

const AttrValue *RuleContext::attrValue(std::string_view name) const {
  auto it = op_.attrs.find(name);
  if (it != op_.attrs.end())
    return &it->second;
  const AttrSpec *spec = def_.attr(name);
  return spec && spec->fallback ? &*spec->fallback : nullptr;
}

double RuleContext::f64(std::string_view name) const {
  const AttrValue *value = attrValue(name);
  if (!value)
    return 0.0;
  if (auto *i = std::get_if<int64_t>(value))
    return static_cast<double>(*i);
  auto *d = std::get_if<double>(value);
  return d ? *d : 0.0;
}

int64_t RuleContext::i64(std::string_view name) const {
  const AttrValue *value = attrValue(name);
  auto *i = value ? std::get_if<int64_t>(value) : nullptr;
  return i ? *i : 0;
}

bool RuleContext::flag(std::string_view name) const {
  const AttrValue *value = attrValue(name);
  auto *b = value ? std::get_if<bool>(value) : nullptr;
  return b && *b;
}

const std::string &RuleContext::str(std::string_view name) const {
  static const std::string empty;
  const AttrValue *value = attrValue(name);
  auto *s = value ? std::get_if<std::string>(value) : nullptr;
  return s ? *s : empty;
}

bool RuleContext::fail(std::string message) {
  if (error_.empty())
    error_ = std::move(message);
  return false;
}

void RuleContext::setOutput(unsigned i, Shape shape, ElementType type) {
  outputs_[i] = TensorDesc{std::move(shape), type};
}

bool RuleContext::rank(const Shape &shape, size_t expected,
                       std::string_view what, std::string_view layout) {
  if (shape.size() == expected)
    return true;
  return fail(std::string(what) + " must have rank " +
              std::to_string(expected) + " (" + std::string(layout) +
              "), got rank " + std::to_string(shape.size()) + " " +
              formatShape(shape));
}

bool RuleContext::sameElementType(std::initializer_list<Ref> refs) {
  std::optional<ElementType> first;
  for (Ref ref : refs) {
    const TensorDesc *value = nullptr;
    if (ref.output)
      value = peek(ref.index);
    else if (hasInput(ref.index))
      value = &op_.inputs[ref.index];
    if (!value)
      continue;
    if (!first) {
      first = value->type;
      continue;
    }
    if (value->type != *first)
      return fail("all floating-point operands and results must have one "
                  "element type, got '" +
                  std::string(elementTypeName(*first)) + "' and '" +
                  elementTypeName(value->type) + "'");
  }
  return true;
}

bool RuleContext::expectShape(const Shape &actual, const Shape &expected,
                              std::string_view what) {
  if (actual == expected)
    return true;
  return fail(std::string(what) + " has shape " + formatShape(actual) +
              " but must be " + formatShape(expected));
}

bool RuleContext::expectType(const TensorDesc &actual,
                             const TensorDesc &expected,
                             std::string_view what) {
  if (actual.shape == expected.shape && actual.type == expected.type)
    return true;
  return fail(std::string(what) + " must have type " +
              formatTensorType(expected) + ", got " + formatTensorType(actual));
}

//===----------------------------------------------------------------------===//
// Checking
//===----------------------------------------------------------------------===//

namespace {
std::string checkKind(const TensorSpec &spec, const TensorDesc &tensor) {
  std::string name(spec.name);
  const char *type = elementTypeName(tensor.type);
  switch (spec.kind) {
  case TensorKind::Float:
    if (!isFloat(tensor.type))
      return name + " must be a float tensor (f32, f64, bf16 or f16), is " +
             type;
    break;
  case TensorKind::Index:
    if (tensor.type != ElementType::I32 && tensor.type != ElementType::I64)
      return name + " must be i32 or i64, is " + type;
    break;
  case TensorKind::Mask:
    if (tensor.type != ElementType::I1)
      return name + " must be i1 (one byte per element), is " + type;
    break;
  case TensorKind::Loss:
    if (tensor.type != ElementType::F32 || !tensor.shape.empty())
      return name + " must be a 0-d f32 tensor, is " + formatTensorType(tensor);
    break;
  }
  return "";
}

const char *kindName(AttrKind kind) {
  switch (kind) {
  case AttrKind::Bool:
    return "a boolean";
  case AttrKind::Int:
    return "an integer";
  case AttrKind::Float:
    return "a number";
  case AttrKind::String:
    return "a string";
  }
  return "";
}

bool hasKind(const AttrValue &value, AttrKind kind) {
  switch (kind) {
  case AttrKind::Bool:
    return std::holds_alternative<bool>(value);
  case AttrKind::Int:
    return std::holds_alternative<int64_t>(value);
  case AttrKind::Float:
    return std::holds_alternative<double>(value) ||
           std::holds_alternative<int64_t>(value);
  case AttrKind::String:
    return std::holds_alternative<std::string>(value);
  }
  return false;
}

/// Operands (and results, when given) and attributes against the spec.
std::string checkSignature(const OpDef &def, const OpInstance &op,
                           bool withOutputs) {
  size_t inputs = op.inputs.size();
  size_t outputs = op.outputs.size();
  bool arityOk = inputs >= def.minInputs() && inputs <= def.inputs.size() &&
                 (!withOutputs || (outputs >= def.minOutputs() &&
                                   outputs <= def.outputs.size()));
  if (!arityOk) {
    auto range = [](unsigned least, size_t most) {
      std::string text = std::to_string(least);
      if (least != most)
        text += " or " + std::to_string(most);
      return text;
    };
    std::string message =
        "expects " + range(def.minInputs(), def.inputs.size()) + " inputs";
    if (withOutputs)
      message += " and " + range(def.minOutputs(), def.outputs.size()) +
                 " outputs, has " + std::to_string(inputs) + " and " +
                 std::to_string(outputs);
    else
      message += ", has " + std::to_string(inputs);
    return message;
  }
  for (size_t i = 0; i < inputs; ++i)
    if (std::string error = checkKind(def.inputs[i], op.inputs[i]);
        !error.empty())
      return error;
  // Every byte count must fit in 64 bits (sizes, costs and plans use them).
  auto tooLarge = [](const TensorSpec &spec, const TensorDesc &t) {
    std::optional<int64_t> count = numElements(t.shape);
    int64_t bytes = 0;
    if (count &&
        !__builtin_mul_overflow(
            *count, std::max<int64_t>(1, elementTypeBytes(t.type)), &bytes))
      return std::string();
    return std::string(spec.name) + " " + formatShape(t.shape) +
           " has more bytes than a 64-bit count holds";
  };
  for (size_t i = 0; i < inputs; ++i)
    if (std::string error = tooLarge(def.inputs[i], op.inputs[i]);
        !error.empty())
      return error;
  if (withOutputs)
    for (size_t i = 0; i < op.outputs.size(); ++i)
      if (std::string error = tooLarge(def.outputs[i], op.outputs[i]);
          !error.empty())
        return error;
  if (withOutputs)
    for (size_t i = 0; i < op.outputs.size(); ++i)
      if (std::string error = checkKind(def.outputs[i], op.outputs[i]);
          !error.empty())
        return error;
  for (const AttrSpec &spec : def.attrs) {
    auto it = op.attrs.find(spec.name);
    if (it == op.attrs.end()) {
      if (!spec.fallback)
        return "lacks attribute '" + std::string(spec.name) + "'";
      continue;
    }
    if (!hasKind(it->second, spec.kind))
      return "attribute '" + std::string(spec.name) + "' must be " +
             kindName(spec.kind);
  }
  return "";
}
} // namespace

std::string ckpt::ops::verifyOp(const OpDef &def, const OpInstance &op) {
  if (std::string error = checkSignature(def, op, /*withOutputs=*/true);
      !error.empty())
    return error;
  RuleContext context(def, op, /*haveOutputs=*/true);
  if (!def.rule(context))
    return context.error();
  OpCost cost = costOf(def, op);
  if (cost.matmulFlops == std::numeric_limits<int64_t>::max() ||
      cost.otherFlops == std::numeric_limits<int64_t>::max())
    return "its FLOP count does not fit in 64 bits";
  for (size_t i = 0; i < op.outputs.size(); ++i) {
    const std::optional<TensorDesc> &expected = context.outputs()[i];
    if (!expected)
      return "the rule of '" + std::string(def.name) + "' sets no result #" +
             std::to_string(i);
    const TensorDesc &actual = op.outputs[i];
    if (actual.shape != expected->shape)
      return "result #" + std::to_string(i) + " has shape " +
             formatShape(actual.shape) + " but the operands give " +
             formatShape(expected->shape);
    if (actual.type != expected->type)
      return "result #" + std::to_string(i) + " has element type " +
             elementTypeName(actual.type) + " but the operands give " +
             elementTypeName(expected->type);
  }
  return "";
}

Inference ckpt::ops::inferResults(const OpDef &def, const OpInstance &op) {
  Inference result;
  result.error = checkSignature(def, op, /*withOutputs=*/false);
  if (!result.error.empty())
    return result;
  RuleContext context(def, op, /*haveOutputs=*/false);
  if (!def.rule(context)) {
    result.error = context.error();
    return result;
  }
  for (std::optional<TensorDesc> &output : context.outputs())
    result.outputs.push_back(output.value_or(TensorDesc{}));
  return result;
}

OpCost ckpt::ops::costOf(const OpDef &def, const OpInstance &op) {
  return def.cost ? def.cost(op) : OpCost{};
}
