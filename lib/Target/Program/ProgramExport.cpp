//===- ProgramExport.cpp - Lower a training step to a program -------------===//

#include "ckpt/Target/Program/ProgramExport.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Tools/LongLineDiagnostics.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"

#include <map>

using namespace mlir;
using namespace ckpt;

namespace {

/// The runtime's name of an element type ("" for one it does not run).
std::string dtypeOf(Type element) {
  ops::ElementType type = toElementType(element);
  return type == ops::ElementType::Other ? "" : ops::elementTypeName(type);
}

/// Writes the step graph as a program: one tensor per graph tensor (same
/// ids, same roles), one instruction per graph node.
class ProgramWriter {
public:
  explicit ProgramWriter(const StepGraph &graph) : graph(graph) {}

  LogicalResult write(llvm::raw_ostream &os) {
    func::FuncOp func = graph.step;
    ModuleOp module = func->getParentOfType<ModuleOp>();
    std::optional<PipelineShape> pipeline =
        module ? getPipelineShape(module) : std::nullopt;
    // Only a pipeline stage without the head returns no loss.
    if (!pipeline && (!graph.hasLoss || graph.results.front() < 0))
      return mlir::emitError(func.getLoc(),
                             "a training step returns the loss first");
    for (const StepNode &node : graph.nodes)
      if (!lookupOpDef(node.op))
        return node.op->emitOpError(
            "cannot be lowered to a runtime program: only xf ops, ckpt "
            "collectives and ckpt.recompute regions run");
    int tokens = -1, labels = -1;
    // A pipelined step's inputs by micro-batch.
    std::map<int64_t, std::pair<int, int>> batches;
    for (BlockArgument arg : func.getArguments()) {
      auto role = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kRoleAttrName);
      auto name = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kNameAttrName);
      std::string roleText = role ? role.getValue().str() : "parameter";
      std::string label =
          name ? name.getValue().str()
               : (roleText == "parameter"
                      ? "arg" + std::to_string(arg.getArgNumber())
                      : roleText);
      if (failed(addName(arg, label, func.getLoc())))
        return failure();
      if (roleText == "tokens")
        tokens = graph.tensorOf(arg);
      if (roleText == "labels")
        labels = graph.tensorOf(arg);
      if (auto batch = func.getArgAttrOfType<IntegerAttr>(
              arg.getArgNumber(), CkptDialect::kMicroBatchAttrName)) {
        auto &entry = batches.try_emplace(batch.getInt(), std::pair{-1, -1})
                          .first->second;
        (roleText == "tokens" ? entry.first : entry.second) =
            graph.tensorOf(arg);
      }
    }
    if (pipeline) {
      int64_t count = pipeline->microBatches;
      // A middle stage reads no inputs: its micro-batches have none.
      if (batches.empty() && (tokens >= 0 || labels >= 0))
        return mlir::emitError(func.getLoc())
               << "the pipelined step has not been unrolled into its "
                  "micro-batches: run --ckpt-pipeline-schedule first";
      if (batches.empty())
        for (int64_t j = 0; j < count; ++j)
          batches[j] = {-1, -1};
      if (static_cast<int64_t>(batches.size()) != count)
        return mlir::emitError(func.getLoc())
               << "the pipelined step has inputs of " << batches.size()
               << " micro-batches, expected " << count;
    } else if (tokens < 0 || labels < 0)
      return mlir::emitError(func.getLoc(),
                             "the training step needs arguments with xf.role "
                             "= \"tokens\" and \"labels\"");
    for (const StepNode &node : graph.nodes) {
      SmallVector<std::string> names = resultNames(*node.op);
      for (auto [index, id] : llvm::enumerate(node.outputs))
        if (failed(addName(graph.tensors[id].value, names[index],
                           node.op->getLoc())))
          return failure();
    }

    llvm::json::OStream json(os, 1);
    LogicalResult status = success();
    json.object([&] {
      json.attribute("format", ops::kProgramFormatName);
      json.attribute("version", ops::kProgramFormatVersion);
      json.attribute("function", func.getName());
      json.attributeObject("model", [&] { writeModel(json); });
      xf::ModelAttr model = xf::getModel(func);
      json.attribute("tensor_parallel_size",
                     model ? model.getTensorModelParallelSize() : 1);
      if (auto memory = func->getAttrOfType<DictionaryAttr>("ckpt.memory"))
        json.attributeObject("memory_plan", [&] {
          for (StringRef key : {"arena_bytes", "peak_bytes", "alignment"})
            if (auto value = memory.getAs<IntegerAttr>(key))
              json.attribute(key, value.getInt());
        });
      json.attributeArray("tensors", [&] {
        for (size_t id = 0; id < graph.tensors.size(); ++id)
          json.object([&, &t = graph.tensors[id]] {
            auto type = cast<RankedTensorType>(t.value.getType());
            json.attribute("name", names[id]);
            json.attributeArray("shape", [&] {
              for (int64_t d : type.getShape())
                json.value(d);
            });
            json.attribute("dtype", dtypeOf(type.getElementType()));
            json.attribute("role", ops::tensorRoleName(t.role));
            if (int64_t offset = offsetOf(t.value); offset >= 0)
              json.attribute("offset", offset);
          });
      });
      json.attributeArray("instructions", [&] {
        for (const StepNode &node : graph.nodes)
          if (failed(writeInstruction(json, node)))
            status = failure();
      });
      if (pipeline)
        json.attributeObject("pipeline", [&] {
          json.attribute("stage", pipeline->stage);
          json.attribute("stages", pipeline->stages);
          json.attribute("virtual_stages", pipeline->virtualStages);
          json.attribute("micro_batches", pipeline->microBatches);
        });
      json.attributeObject("inputs", [&] {
        if (!pipeline) {
          json.attribute("tokens", tokens);
          json.attribute("labels", labels);
          return;
        }
        json.attributeArray("micro_batches", [&] {
          for (auto &[index, ids] : batches)
            json.object([&, &ids = ids] {
              json.attribute("tokens", ids.first);
              json.attribute("labels", ids.second);
            });
        });
      });
      json.attributeObject("outputs", [&] {
        json.attribute("loss", graph.hasLoss ? graph.results.front() : -1);
        json.attributeArray("gradients", [&] {
          if (failed(writeGradients(json)))
            status = failure();
        });
      });
    });
    os << "\n";
    return status;
  }

private:
  /// A unique, readable name for the tensor of `value`; fails on a type the
  /// runtime does not run.
  LogicalResult addName(Value value, const std::string &base, Location loc) {
    auto type = cast<RankedTensorType>(value.getType());
    if (dtypeOf(type.getElementType()).empty())
      return emitError(loc)
             << "cannot lower a value of type " << value.getType()
             << ": the runtime runs statically shaped tensors "
                "of f32, f64, bf16, f16, i1, i32 or i64";
    // The first free of base, base_1, base_2, ...: names are never freed,
    // so the search resumes where the last one for this base stopped (a
    // pipeline stage repeats every name once per micro-batch).
    int &n = suffixOf[base];
    std::string name = n == 0 ? base : base + "_" + std::to_string(n);
    while (!usedNames.insert(name).second)
      name = base + "_" + std::to_string(++n);
    names.push_back(name);
    return success();
  }

  static int64_t offsetOf(Value value) {
    if (auto result = dyn_cast<OpResult>(value))
      if (auto offsets = result.getOwner()->getAttrOfType<DenseI64ArrayAttr>(
              "ckpt.offsets"))
        return offsets[result.getResultNumber()];
    return -1;
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
    for (auto &[key, value] : describeModel(graph.step))
      json.attribute(key, value);
  }

  LogicalResult writeInstruction(llvm::json::OStream &json,
                                 const StepNode &node) {
    Operation &op = *node.op;
    LogicalResult status = success();
    json.object([&] {
      json.attribute("op", op.getName().stripDialect());
      json.attributeArray("inputs", [&] {
        for (int id : node.inputs)
          json.value(id);
      });
      json.attributeArray("outputs", [&] {
        for (int id : node.outputs)
          json.value(id);
      });
      json.attribute("phase", phaseName(node.phase));
      if (node.layer)
        json.attribute("layer", *node.layer);
      json.attribute("module", node.module);
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

  LogicalResult writeGradients(llvm::json::OStream &json) {
    func::FuncOp func = graph.step;
    Operation *ret = func.getBody().front().getTerminator();
    // Parameters by name, to pair each gradient result with its parameter.
    llvm::StringMap<int> byName;
    SmallVector<int> inOrder;
    for (BlockArgument arg : func.getArguments()) {
      int id = graph.tensorOf(arg);
      if (graph.tensors[id].role != TensorRole::Parameter)
        continue;
      byName[names[id]] = id;
      inOrder.push_back(id);
    }
    unsigned first = graph.hasLoss ? 1 : 0;
    for (unsigned i = first; i < graph.results.size(); ++i) {
      auto gradOf = func.getResultAttrOfType<StringAttr>(
          i, xf::XFDialect::kGradOfAttrName);
      int param = -1;
      if (gradOf && byName.count(gradOf.getValue()))
        param = byName[gradOf.getValue()];
      else if (i - first < inOrder.size())
        param = inOrder[i - first];
      int grad = graph.results[i];
      if (param < 0 || grad < 0 ||
          graph.tensors[grad].role != TensorRole::Gradient)
        return ret->emitOpError()
               << "result #" << i << " is not the gradient of a parameter";
      json.object([&] {
        json.attribute("parameter", param);
        json.attribute("gradient", grad);
      });
    }
    return success();
  }

  const StepGraph &graph;
  std::vector<std::string> names; ///< By tensor id.
  llvm::StringSet<> usedNames;
  llvm::StringMap<int> suffixOf; ///< The last suffix tried, per base name.
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
  FailureOr<StepGraph> graph = StepGraph::build(func);
  if (failed(graph))
    return failure();
  return ProgramWriter(*graph).write(os);
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
        // Under ckpt-translate: excerpts of very long source lines, above
        // the translation's own handler (the dialect loads after it).
        registry.addExtension(+[](MLIRContext *context, xf::XFDialect *) {
          installLongLineDiagnostics(context);
        });
      });
}
