//===- OpTable.h - What every op of a training step means -------*- C++ -*-===//
//
// One entry per op kind, free of MLIR, read by the compiler and the runtime
// alike: its operands, results and attributes, the rule that checks their
// element types and shapes (and infers the result shapes), its FLOPs, and
// which of its forward values its gradient reads. The xf and ckpt verifiers
// and cost interface, the graph builders, the program export, the runtime's
// validator and its cost accounting all ask this table, so an op's meaning is
// written once (docs/architecture.md, "Adding an op").
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_OPTABLE_H
#define CKPT_OPTABLE_OPTABLE_H

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ckpt::ops {

/// Element types of tensors. i1 is a dropout mask, one byte per element.
/// `Other` stands for a type the table does not know (a type of another
/// dialect); no rule accepts it.
enum class ElementType : uint8_t { F32, F64, BF16, F16, I32, I64, I1, Other };

/// "f32", "bf16", ... ("other" for Other).
const char *elementTypeName(ElementType type);
/// The type named `name`, or none.
std::optional<ElementType> parseElementType(std::string_view name);
/// Bytes per element (i1 takes a whole byte); 0 for Other.
int64_t elementTypeBytes(ElementType type);
bool isFloat(ElementType type);

using Shape = std::vector<int64_t>;

struct TensorDesc {
  Shape shape;
  ElementType type = ElementType::F32;
};

/// "[a, b, c]".
std::string formatShape(const Shape &shape);
/// MLIR's spelling, quoted as MLIR diagnostics quote types: 'tensor<4x8xf32>'.
std::string formatTensorType(const TensorDesc &tensor);
/// The number of elements, or none when it does not fit in int64_t.
std::optional<int64_t> numElements(const Shape &shape);

using AttrValue = std::variant<bool, int64_t, double, std::string>;
using AttrMap = std::map<std::string, AttrValue, std::less<>>;

/// Arithmetic of an op: matrix-multiply FLOPs (2·m·n·k per GEMM) and other
/// FLOPs (elementwise work and reductions, docs/cost-model.md).
struct OpCost {
  int64_t matmulFlops = 0;
  int64_t otherFlops = 0;
  int64_t total() const { return matmulFlops + otherFlops; }
};

/// One op: its operands, results and attributes. The verifiers and the
/// validator fill all three; inference leaves `outputs` empty.
struct OpInstance {
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs;
  AttrMap attrs;
};

/// What element types an operand or result takes.
enum class TensorKind : uint8_t {
  Float, ///< f32, f64, bf16 or f16.
  Index, ///< i32 or i64 (token ids, labels).
  Mask,  ///< i1.
  Loss,  ///< 0-d f32.
};

struct TensorSpec {
  std::string_view name;
  TensorKind kind = TensorKind::Float;
  /// Only a trailing operand or result may be optional.
  bool optional = false;
};

enum class AttrKind : uint8_t { Bool, Int, Float, String };

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  /// The value when absent; none: the attribute is required.
  std::optional<AttrValue> fallback;
};

/// Fused: two ops of the table in one pass over memory, made from
/// adjacent instructions by the runtime when it loads a program
/// (runtime/lib/Fusion.cpp); never in the IR.
enum class OpClass : uint8_t {
  Forward,
  Gradient,
  Collective,
  Fused,
  PointToPoint
};

class RuleContext;

/// How an op's results stand across the tensor-parallel ranks (the
/// replication analysis, which distribute_saved_activations relies on).
enum class TensorParallelResult : uint8_t {
  LikeOperands, ///< The same on every rank when every operand is.
  Replicated,   ///< The same on every rank (all_reduce, all_gather, tp_copy).
  Sharded,      ///< A rank's own piece (linear: its weight is a shard).
};

/// The element-type and shape rule of an op: checks the operands and
/// attributes and sets every result (RuleContext::setOutput). Returns false
/// after RuleContext::fail.
using ShapeRule = bool (*)(RuleContext &);
using CostRule = OpCost (*)(const OpInstance &);

struct OpDef {
  std::string_view name; ///< As in the IR without the dialect prefix.
  OpClass opClass;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<AttrSpec> attrs;
  ShapeRule rule;
  CostRule cost;
  /// The operands and results of the forward op that its gradient reads:
  /// exactly what the backward keeps (DifferentiableOpInterface reads these).
  std::vector<unsigned> savedInputs;
  std::vector<unsigned> savedOutputs;
  /// f32 values per row of its first input (rows: all dimensions but the
  /// last) that the op's kernel keeps for its backward beside what it saves:
  /// a layer norm's mean and inverse deviation (2), an RMS norm's inverse
  /// root mean square (1). The report counts them apart.
  int64_t statisticsPerRow = 0;
  /// An output that is a mask the op draws from its random stream
  /// (`rng_stream`), or -1. When a recompute region needs that mask but
  /// none of the op's other results, `maskOp` (an op of this table, with
  /// the op's attributes) regenerates it alone: the mask is read back from
  /// the stream, never kept.
  int maskOutput = -1;
  std::string_view maskOp;
  TensorParallelResult tensorParallelResult =
      TensorParallelResult::LikeOperands;

  /// A norm: an op that keeps row statistics for its backward.
  bool isNorm() const { return statisticsPerRow > 0; }
  /// Whether the op regenerates another op's mask alone (some op names it
  /// as its maskOp).
  bool isMaskOp() const;

  /// Whether a region that re-runs the op, needing of its `results`
  /// results those for which `isNeeded(index)` holds (at least one),
  /// regenerates its mask alone: it needs no result but the mask.
  template <typename IsNeeded>
  bool regeneratesMaskAlone(unsigned results, IsNeeded isNeeded) const {
    if (maskOutput < 0)
      return false;
    for (unsigned index = 0; index < results; ++index)
      if (static_cast<int>(index) != maskOutput && isNeeded(index))
        return false;
    return true;
  }

  bool backwardNeedsInput(unsigned index) const;
  bool backwardNeedsOutput(unsigned index) const;
  unsigned minInputs() const;
  unsigned minOutputs() const;
  const AttrSpec *attr(std::string_view name) const;
};

/// The op kind `name`, or null.
const OpDef *lookupOp(std::string_view name);
/// Every op kind, in table order.
const std::vector<OpDef> &allOps();

/// Checks `op` against `def`: arity, element kinds, attributes, and the
/// shape rule, whose results must equal the given ones. Returns the first
/// problem (what is wrong and what is allowed), or "" when `op` is valid.
std::string verifyOp(const OpDef &def, const OpInstance &op);

/// The results of `op` from its operands and attributes (`op.outputs` is
/// ignored). Fails with a message for an invalid op, or for one whose result
/// shapes do not follow from its operands (embedding_grad, merge_heads_grad).
struct Inference {
  std::vector<TensorDesc> outputs;
  std::string error; ///< Empty on success.
};
Inference inferResults(const OpDef &def, const OpInstance &op);

/// The cost of a valid `op` (operands and results filled in).
OpCost costOf(const OpDef &def, const OpInstance &op);

/// The state a shape rule works on.
class RuleContext {
public:
  RuleContext(const OpDef &def, const OpInstance &op, bool haveOutputs);

  const Shape &in(unsigned i) const { return op_.inputs[i].shape; }
  ElementType inType(unsigned i) const { return op_.inputs[i].type; }
  bool hasInput(unsigned i) const { return i < op_.inputs.size(); }

  /// Result `i` as given; fails (rule cannot infer it) when inferring.
  const TensorDesc *given(unsigned i);
  /// Result `i` as given, or null when inferring (no failure).
  const TensorDesc *peek(unsigned i) const;

  double f64(std::string_view name) const;
  int64_t i64(std::string_view name) const;
  bool flag(std::string_view name) const;
  const std::string &str(std::string_view name) const;

  /// Records the first error; always returns false.
  bool fail(std::string message);
  void setOutput(unsigned i, Shape shape, ElementType type);

  /// `shape` has `rank` dimensions: "{what} must have rank {rank} ({layout}),
  /// got rank N [..]".
  bool rank(const Shape &shape, size_t rank, std::string_view what,
            std::string_view layout);
  /// A value of the op: operand i (`In(i)`) or result i (`Out(i)`).
  struct Ref {
    bool output;
    unsigned index;
  };
  static Ref In(unsigned i) { return {false, i}; }
  static Ref Out(unsigned i) { return {true, i}; }
  /// All `refs` (results only when given) share one element type.
  bool sameElementType(std::initializer_list<Ref> refs);

  /// "{what} has shape [..] but must be [..]".
  bool expectShape(const Shape &actual, const Shape &expected,
                   std::string_view what);
  /// "{what} must have type 'tensor<..>', got 'tensor<..>'".
  bool expectType(const TensorDesc &actual, const TensorDesc &expected,
                  std::string_view what);

  const TensorDesc &input(unsigned i) const { return op_.inputs[i]; }
  /// The attributes as given (absent ones are not filled in).
  const AttrMap &attrs() const { return op_.attrs; }
  const std::string &error() const { return error_; }
  std::vector<std::optional<TensorDesc>> &outputs() { return outputs_; }
  bool inferring() const { return !haveOutputs_; }

private:
  const AttrValue *attrValue(std::string_view name) const;

  const OpDef &def_;
  const OpInstance &op_;
  bool haveOutputs_;
  std::string error_;
  std::vector<std::optional<TensorDesc>> outputs_;
};

} // namespace ckpt::ops

#endif // CKPT_OPTABLE_OPTABLE_H
