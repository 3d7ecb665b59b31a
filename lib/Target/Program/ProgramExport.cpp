//===- ProgramExport.cpp - Lower a training step to a program -------------===//

#include "ckpt/Target/Program/ProgramExport.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/ProgramFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace ckpt;

namespace {

/// The runtime's name of an element type ("" for one it does not run).
std::string dtypeOf(Type element) {
  ops::ElementType type = toElementType(element);
  return type == ops::ElementType::Other ? "" : ops::elementTypeName(type);
}

struct TensorEntry {
  std::string name;
  RankedTensorType type;
  std::string role;
  int64_t offset = -1; ///< In the arena, when the step has a memory plan.
};

class ProgramWriter {
public:
  explicit ProgramWriter(func::FuncOp func) : func(func) {}

  LogicalResult write(llvm::raw_ostream &os) {
    Block &body = func.getBody().front();
    auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
    if (!ret || ret.getNumOperands() < 1)
      return mlir::emitError(func.getLoc(),
                             "a training step returns the loss first");

    // Arguments: inputs and parameters.
    for (BlockArgument arg : body.getArguments()) {
      auto role = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kRoleAttrName);
      auto name = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kNameAttrName);
      std::string roleName = role ? role.getValue().str() : "parameter";
      std::string tensorRole = roleName == "parameter" ? "parameter" : "input";
      std::string label =
          name ? name.getValue().str()
               : (roleName == "parameter"
                      ? "arg" + std::to_string(arg.getArgNumber())
                      : roleName);
      if (failed(addTensor(arg, label, tensorRole, func.getLoc())))
        return failure();
      if (roleName == "tokens")
        tokens = ids[arg];
      if (roleName == "labels")
        labels = ids[arg];
    }
    if (tokens < 0 || labels < 0)
      return mlir::emitError(func.getLoc(),
                             "the training step needs arguments with xf.role "
                             "= \"tokens\" and \"labels\"");

    // Results of ops; roles follow from the returns and the phases.
    llvm::DenseSet<Value> returned(ret.getOperands().begin(),
                                   ret.getOperands().end());
    for (Operation &top : body.without_terminator()) {
      if (failed(collectOps(top)))
        return failure();
    }
    for (Operation *opPtr : flat) {
      Operation &op = *opPtr;
      SmallVector<std::string> names = resultNames(op);
      for (auto [index, result] : llvm::enumerate(op.getResults())) {
        std::string role = "temporary";
        if (result == ret.getOperand(0))
          role = "loss";
        else if (returned.contains(result))
          role = "gradient";
        else if (getPhase(&op) == Phase::Forward &&
                 llvm::any_of(result.getUsers(), [](Operation *user) {
                   return getPhase(user) != Phase::Forward;
                 }))
          role = "activation"; // Kept: read by the backward or a region.
        if (failed(addTensor(result, names[index], role, op.getLoc())))
          return failure();
      }
    }

    llvm::json::OStream json(os, 1);
    LogicalResult status = success();
    json.object([&] {
      json.attribute("format", ops::kProgramFormatName);
      json.attribute("version", ops::kProgramFormatVersion);
      json.attribute("function", func.getName());
      json.attributeObject("model", [&] { writeModel(json); });
      int64_t ranks = 1;
      for (auto &[key, value] : describeModel(func))
        if (key == "tensor_model_parallel_size")
          ranks = std::stoll(value);
      json.attribute("tensor_parallel_size", ranks);
      if (auto memory = func->getAttrOfType<DictionaryAttr>("ckpt.memory"))
        json.attributeObject("memory_plan", [&] {
          for (StringRef key : {"arena_bytes", "peak_bytes", "alignment"})
            if (auto value = memory.getAs<IntegerAttr>(key))
              json.attribute(key, value.getInt());
        });
      json.attributeArray("tensors", [&] {
        for (const TensorEntry &t : tensors)
          json.object([&] {
            json.attribute("name", t.name);
            json.attributeArray("shape", [&] {
              for (int64_t d : t.type.getShape())
                json.value(d);
            });
            json.attribute("dtype", dtypeOf(t.type.getElementType()));
            json.attribute("role", t.role);
            if (t.offset >= 0)
              json.attribute("offset", t.offset);
          });
      });
      json.attributeArray("instructions", [&] {
        for (Operation *op : flat)
          if (failed(writeInstruction(json, *op)))
            status = failure();
      });
      json.attributeObject("inputs", [&] {
        json.attribute("tokens", tokens);
        json.attribute("labels", labels);
      });
      json.attributeObject("outputs", [&] {
        json.attribute("loss", ids[resolve(ret.getOperand(0))]);
        json.attributeArray("gradients", [&] {
          if (failed(writeGradients(json, ret)))
            status = failure();
        });
      });
    });
    os << "\n";
    return status;
  }

private:
  /// Flattens recompute regions: their body ops run in place (phase
  /// recompute), their block arguments are the region's operands and their
  /// results are the values the body yields.
  LogicalResult collectOps(Operation &op) {
    if (auto region = dyn_cast<RecomputeOp>(op)) {
      Block &block = region.getBody().front();
      for (auto [arg, input] :
           llvm::zip(block.getArguments(), region.getInputs()))
        aliases[arg] = input;
      for (Operation &inner : block.without_terminator())
        if (failed(collectOps(inner)))
          return failure();
      auto yield = cast<YieldOp>(block.getTerminator());
      for (auto [result, value] :
           llvm::zip(region.getResults(), yield.getValues()))
        aliases[result] = value;
      return success();
    }
    bool collective =
        isa<TpCopyOp, AllReduceOp, AllGatherOp, ReduceScatterOp, ShardOp>(op);
    if (!isa<xf::XFDialect>(op.getDialect()) && !collective)
      return op.emitOpError("cannot be lowered to a runtime program: only "
                            "xf ops, ckpt collectives and ckpt.recompute "
                            "regions run");
    flat.push_back(&op);
    return success();
  }

  /// The value a region argument or result stands for.
  Value resolve(Value value) const {
    for (auto it = aliases.find(value); it != aliases.end();
         it = aliases.find(value))
      value = it->second;
    return value;
  }

  LogicalResult addTensor(Value value, const std::string &base,
                          const std::string &role, Location loc) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || !type.hasStaticShape() ||
        dtypeOf(type.getElementType()).empty())
      return emitError(loc)
             << "cannot lower a value of type " << value.getType()
             << ": the runtime runs statically shaped tensors "
                "of f32, f64, bf16, f16, i1, i32 or i64";
    // Unique, readable names.
    std::string name = base;
    for (int n = 1; !usedNames.insert(name).second; ++n)
      name = base + "_" + std::to_string(n);
    ids[value] = static_cast<int>(tensors.size());
    int64_t offset = -1;
    if (auto result = dyn_cast<OpResult>(value))
      if (auto offsets = result.getOwner()->getAttrOfType<DenseI64ArrayAttr>(
              "ckpt.offsets"))
        offset = offsets[result.getResultNumber()];
    tensors.push_back({name, type, role, offset});
    return success();
  }

  static SmallVector<std::string> resultNames(Operation &op) {
    SmallVector<std::string> names(op.getNumResults());
    for (auto [index, name] : llvm::enumerate(names))
      name = op.getName().stripDialect().str() + "." + std::to_string(index);
    if (auto asmOp = dyn_cast<OpAsmOpInterface>(op))
      asmOp.getAsmResultNames([&](Value value, StringRef name) {
        names[cast<OpResult>(value).getResultNumber()] = name.str();
      });
    if (auto layer = xf::getLayer(&op))
      for (std::string &name : names)
        name = "L" + std::to_string(*layer) + "." + name;
    return names;
  }

  void writeModel(llvm::json::OStream &json) {
    for (auto &[key, value] : describeModel(func))
      json.attribute(key, value);
  }

  LogicalResult writeInstruction(llvm::json::OStream &json, Operation &op) {
    LogicalResult status = success();
    json.object([&] {
      json.attribute("op", op.getName().stripDialect());
      json.attributeArray("inputs", [&] {
        for (Value operand : op.getOperands())
          json.value(ids.lookup(resolve(operand)));
      });
      json.attributeArray("outputs", [&] {
        for (Value result : op.getResults())
          json.value(ids.lookup(result));
      });
      Phase phase = getPhase(&op);
      json.attribute("phase", phase == Phase::Forward    ? "forward"
                              : phase == Phase::Backward ? "backward"
                                                         : "recompute");
      if (auto layer = xf::getLayer(&op))
        json.attribute("layer", *layer);
      json.attribute("module", xf::getModule(&op));
      json.attributeObject("attrs", [&] {
        for (NamedAttribute attr : op.getAttrs()) {
          StringRef name = attr.getName().getValue();
          if (name.starts_with("xf.") || name.starts_with("ckpt."))
            continue;
          Attribute value = attr.getValue();
          if (auto fp = dyn_cast<FloatAttr>(value))
            json.attribute(name, fp.getValueAsDouble());
          else if (auto boolean = dyn_cast<BoolAttr>(value))
            json.attribute(name, boolean.getValue());
          else if (auto integer = dyn_cast<IntegerAttr>(value))
            json.attribute(name, integer.getInt());
          else if (isa<UnitAttr>(value))
            json.attribute(name, true);
          else if (auto str = dyn_cast<StringAttr>(value))
            json.attribute(name, str.getValue());
          else {
            op.emitOpError()
                << "attribute '" << name << "' cannot be lowered to a program";
            status = failure();
          }
        }
      });
    });
    return status;
  }

  LogicalResult writeGradients(llvm::json::OStream &json, func::ReturnOp ret) {
    // Parameters by name, to pair each gradient result with its parameter.
    llvm::StringMap<int> byName;
    SmallVector<int> inOrder;
    for (BlockArgument arg : func.getArguments()) {
      if (tensors[ids[arg]].role != "parameter")
        continue;
      byName[tensors[ids[arg]].name] = ids[arg];
      inOrder.push_back(ids[arg]);
    }
    for (unsigned i = 1; i < ret.getNumOperands(); ++i) {
      auto gradOf = func.getResultAttrOfType<StringAttr>(
          i, xf::XFDialect::kGradOfAttrName);
      int param = -1;
      if (gradOf && byName.count(gradOf.getValue()))
        param = byName[gradOf.getValue()];
      else if (i - 1 < inOrder.size())
        param = inOrder[i - 1];
      Value grad = resolve(ret.getOperand(i));
      if (param < 0 || !ids.count(grad) ||
          tensors[ids[grad]].role != "gradient")
        return ret.emitOpError()
               << "result #" << i << " is not the gradient of a parameter";
      json.object([&] {
        json.attribute("parameter", param);
        json.attribute("gradient", ids[grad]);
      });
    }
    return success();
  }

  func::FuncOp func;
  SmallVector<Operation *> flat;
  llvm::DenseMap<Value, Value> aliases;
  std::vector<TensorEntry> tensors;
  llvm::DenseMap<Value, int> ids;
  llvm::StringSet<> usedNames;
  int tokens = -1, labels = -1;
};

} // namespace

LogicalResult ckpt::exportProgram(ModuleOp module, StringRef functionName,
                                  llvm::raw_ostream &os) {
  auto func = module.lookupSymbol<func::FuncOp>(functionName);
  if (!func)
    return mlir::emitError(module.getLoc())
           << "no function @" << functionName
           << " to lower; run --xf-training-step first (or "
              "name it with --program-function)";
  if (!func.getBody().hasOneBlock())
    return mlir::emitError(func.getLoc(),
                           "only single-block functions can be lowered");
  return ProgramWriter(func).write(os);
}

void ckpt::registerProgramExportTranslation() {
  static llvm::cl::opt<std::string> functionName(
      "program-function",
      llvm::cl::desc("Function to lower with "
                     "--mlir-to-program (default "
                     "train_step)"),
      llvm::cl::init("train_step"));
  TranslateFromMLIRRegistration registration(
      "mlir-to-program",
      "Lower a training step to a runtime program (JSON) for ckpt-run",
      [](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module");
        // Build into a string first: nothing is written on failure.
        std::string text;
        llvm::raw_string_ostream buffer(text);
        if (failed(exportProgram(module, functionName, buffer)))
          return failure();
        os << text;
        return success();
      },
      [](DialectRegistry &registry) {
        registry.insert<xf::XFDialect, CkptDialect, func::FuncDialect>();
      });
}
