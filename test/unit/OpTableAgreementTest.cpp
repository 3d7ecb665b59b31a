//===- OpTableAgreementTest.cpp - ODS and the op table say the same -------===//
//
// An op's operands, results and attributes are written in its ODS definition
// and in its op-table entry. Over every op of both: each table entry (but
// the runtime's fused ops) has a registered op of the xf or ckpt dialect;
// each registered op of those dialects has an entry (but the regions'
// structure and the driver's own); the inherent attributes are the entry's,
// name for name; and on the instances of every bundled model's steps, the
// numbers of operands and results are within what the entry allows.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace mlir;
using namespace ckpt;

namespace {

class OpTableAgreementTest : public ::testing::Test {
protected:
  OpTableAgreementTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  /// The registered op of table entry `def`: xf's, else ckpt's.
  std::optional<RegisteredOperationName> registered(const ops::OpDef &def) {
    for (const char *dialect : {"xf.", "ckpt."})
      if (auto name = RegisteredOperationName::lookup(
              std::string(dialect) + std::string(def.name), &context))
        return name;
    return std::nullopt;
  }

  MLIRContext context;
};

TEST_F(OpTableAgreementTest, EveryEntryIsAnOpWithItsAttributes) {
  int checked = 0;
  for (const ops::OpDef &def : ops::allOps()) {
    // Fused ops exist in the runtime only (two table ops in one pass).
    if (def.opClass == ops::OpClass::Fused)
      continue;
    std::optional<RegisteredOperationName> name = registered(def);
    ASSERT_TRUE(name) << def.name << " has a table entry but no ODS op";
    std::set<std::string> ods, table;
    for (StringAttr attr : name->getAttributeNames())
      ods.insert(attr.str());
    for (const ops::AttrSpec &attr : def.attrs)
      table.insert(std::string(attr.name));
    EXPECT_EQ(ods, table) << def.name;
    ++checked;
  }
  EXPECT_GT(checked, 40);
}

TEST_F(OpTableAgreementTest, EveryOpOfTheDialectsHasAnEntry) {
  // The region's structure and the step's tags are no kernels.
  const std::set<std::string> structural = {"ckpt.recompute", "ckpt.yield"};
  for (RegisteredOperationName name : context.getRegisteredOperations()) {
    StringRef dialect = name.getDialectNamespace();
    if (dialect != "xf" && dialect != "ckpt")
      continue;
    if (structural.count(name.getStringRef().str()))
      continue;
    EXPECT_NE(ops::lookupOp(name.stripDialect()), nullptr)
        << name.getStringRef().str() << " has no op-table entry";
  }
}

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(CKPT_EXAMPLES_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(OpTableAgreementTest, InstancesHaveTheEntrysArity) {
  int instances = 0;
  for (const char *file : {"tiny-gpt.json", "tiny-llama.json",
                           "tiny-mixtral.json", "tiny-qwen2.json"}) {
    OwningOpRef<ModuleOp> module =
        importModelConfig(readExample(file), file, {}, &context);
    ASSERT_TRUE(module) << file;
    auto forward = module->lookupSymbol<func::FuncOp>("forward");
    FailureOr<func::FuncOp> step = buildTrainingStep(forward, "train_step");
    ASSERT_TRUE(succeeded(step)) << file;
    MegatronPolicy full;
    full.granularity = RecomputeGranularity::Full;
    full.method = RecomputeMethod::Uniform;
    full.numLayers = 1;
    ASSERT_TRUE(succeeded(applyRemat(*step, full))) << file;
    step->walk([&](Operation *op) {
      const ops::OpDef *def = ops::lookupOp(op->getName().stripDialect());
      StringRef dialect = op->getName().getDialectNamespace();
      if (!def || (dialect != "xf" && dialect != "ckpt"))
        return;
      EXPECT_GE(op->getNumOperands(), def->minInputs())
          << op->getName().getStringRef().str();
      EXPECT_LE(op->getNumOperands(), def->inputs.size())
          << op->getName().getStringRef().str();
      EXPECT_GE(op->getNumResults(), def->minOutputs())
          << op->getName().getStringRef().str();
      EXPECT_LE(op->getNumResults(), def->outputs.size())
          << op->getName().getStringRef().str();
      ++instances;
    });
  }
  EXPECT_GT(instances, 200);
}

} // namespace
