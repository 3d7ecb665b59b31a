//===- OptionTableTest.cpp - The compile options' one declaration ---------===//

#include "ckpt/Options/CompileOptions.h"
#include "ckpt/Target/Config/ConfigImport.h"

#include "gtest/gtest.h"

#include <set>

using namespace ckpt;
using namespace ckpt::options;
using llvm::SmallVector;
using llvm::StringRef;

namespace {

TEST(OptionTableTest, EverySpellingIsUniqueAndEveryDefaultIsAllowed) {
  std::set<std::string> names;
  for (const OptionSpec &spec : allOptions()) {
    EXPECT_TRUE(names.insert(spec.name.str()).second) << spec.name.str();
    EXPECT_FALSE(spec.help.empty()) << spec.name.str();
    EXPECT_NE(spec.scopes, 0u) << spec.name.str();
    EXPECT_EQ(checkValue(spec, spec.defaultValue), "") << spec.name.str();
    EXPECT_EQ(&specOf(spec.id), &spec);
    EXPECT_EQ(findOption(spec.name), &spec);
    // A default set through the table leaves the field as it was.
    if (spec.kind == Kind::List)
      continue;
    if (spec.scopes & Import) {
      config::ConfigOverrides overrides;
      EXPECT_EQ(setConfigOverride(overrides, spec, spec.defaultValue), "")
          << spec.name.str();
      continue;
    }
    CompileOptions set;
    EXPECT_EQ(set.set(spec.id, spec.defaultValue), "") << spec.name.str();
  }
  EXPECT_EQ(names.size(), kNumOptions);
  EXPECT_EQ(findOption("nodes"), nullptr);
}

TEST(OptionTableTest, ChecksEachKind) {
  EXPECT_EQ(checkValue(*findOption("recompute-granularity"), "partial"),
            "recompute-granularity must be none, selective or full, got "
            "'partial'");
  // A choice without a default may be left empty; one with a default not.
  EXPECT_EQ(checkValue(*findOption("recompute-method"), ""), "");
  EXPECT_NE(checkValue(*findOption("region-ops"), ""), "");
  EXPECT_EQ(checkValue(*findOption("recompute-num-layers"), "2x"),
            "recompute-num-layers needs an integer, got '2x'");
  EXPECT_EQ(checkValue(*findOption("recompute-num-layers"), "-1"), "");
  EXPECT_EQ(checkValue(*findOption("plan-seconds"), "0.25"), "");
  EXPECT_EQ(checkValue(*findOption("plan-seconds"), "soon"),
            "plan-seconds needs a number, got 'soon'");
  EXPECT_EQ(checkValue(*findOption("memory-budget"), "40GiB"), "");
  EXPECT_EQ(checkValue(*findOption("memory-budget"), "40 parsecs")
                .rfind("memory-budget: ", 0),
            0u);
  EXPECT_EQ(checkValue(*findOption("plan-memory"), "maybe"),
            "plan-memory must be true or false, got 'maybe'");
  for (StringRef flag : {"", "true", "false", "1", "0"})
    EXPECT_EQ(checkValue(*findOption("plan-memory"), flag), "");
}

TEST(OptionTableTest, SplitsTextAsPassOptionsAreWritten) {
  SmallVector<std::pair<StringRef, StringRef>> words;
  std::string error;
  ASSERT_TRUE(
      splitOptionText("  a=1 b={x {y} z}  c d='q r' e=\"s\" ", words, error));
  ASSERT_EQ(words.size(), 5u);
  EXPECT_EQ(words[0], std::make_pair(StringRef("a"), StringRef("1")));
  EXPECT_EQ(words[1], std::make_pair(StringRef("b"), StringRef("x {y} z")));
  EXPECT_EQ(words[2], std::make_pair(StringRef("c"), StringRef("")));
  EXPECT_EQ(words[3], std::make_pair(StringRef("d"), StringRef("q r")));
  EXPECT_EQ(words[4], std::make_pair(StringRef("e"), StringRef("s")));
  words.clear();
  EXPECT_FALSE(splitOptionText("a={b c", words, error));
  EXPECT_EQ(error, "option a: no closing '}' in its value");
  EXPECT_FALSE(splitOptionText("=3", words, error));
}

TEST(OptionTableTest, SetsTypedFieldsAndRemembersWhatWasGiven) {
  CompileOptions options;
  EXPECT_EQ(parseOptionText("recompute-granularity=full "
                            "recompute-method=block recompute-num-layers=3 "
                            "recompute-modules=core_attn,mlp "
                            "distribute-saved-activations plan-memory=false "
                            "plan-seconds=0.5 region-ops=all",
                            Remat | Compile, options),
            "");
  EXPECT_EQ(options.remat.granularity, "full");
  EXPECT_EQ(options.remat.method, "block");
  EXPECT_EQ(options.remat.numLayers, 3);
  EXPECT_EQ(options.remat.modules,
            (std::vector<std::string>{"core_attn", "mlp"}));
  EXPECT_TRUE(options.remat.distributeSavedActivations);
  EXPECT_FALSE(options.planMemory);
  EXPECT_EQ(options.planSeconds, 0.5);
  EXPECT_EQ(options.regionOps, RegionOps::All);
  EXPECT_TRUE(options.isGiven(OptionId::RecomputeMethod));
  EXPECT_FALSE(options.isGiven(OptionId::MemoryBudget));
  EXPECT_FALSE(options.policyFromConfig);

  // An option of another scope is unknown here, and named as such.
  CompileOptions remat;
  EXPECT_EQ(parseOptionText("plan-memory=false", Remat, remat)
                .rfind("unknown option 'plan-memory' (allowed: policy, ", 0),
            0u);
}

TEST(OptionTableTest, OnlyPolicyOptionsChooseThePolicy) {
  CompileOptions planning;
  ASSERT_EQ(parseOptionText("plan-memory=false alignment=128 cost=flops "
                            "region-ops=all save-plan=p.json",
                            Compile, planning),
            "");
  EXPECT_TRUE(planning.policyFromConfig);
  // Given as its default, a policy option still chooses (explicitly none).
  CompileOptions none;
  ASSERT_EQ(parseOptionText("recompute-granularity=none", Compile, none), "");
  EXPECT_FALSE(none.policyFromConfig);
  CompileOptions empty;
  ASSERT_EQ(parseOptionText("", Compile, empty), "");
  EXPECT_TRUE(empty.policyFromConfig);
}

TEST(OptionTableTest, BudgetsAndPlanFilesPickTheirPolicy) {
  CompileOptions budget, plan, named;
  ASSERT_EQ(budget.set("memory-budget", "1GiB"), "");
  EXPECT_EQ(budget.policyToRun(), "budget");
  ASSERT_EQ(plan.set("plan", "p.json"), "");
  EXPECT_EQ(plan.policyToRun(), "plan");
  // A policy named outright stays as named (and refuses what is not its).
  ASSERT_EQ(named.set("policy", "plan"), "");
  ASSERT_EQ(named.set("memory-budget", "1GiB"), "");
  EXPECT_EQ(named.policyToRun(), "plan");
  EXPECT_EQ(CompileOptions().policyToRun(), "megatron");
}

} // namespace

namespace {
TEST(OptionTableTest, OlderSpellingsAreTakenOnlyWhereTheyWere) {
  CompileOptions plan;
  EXPECT_EQ(plan.set("search-work", "7", PlanMemory), "");
  EXPECT_EQ(plan.planSearchWork, 7);
  EXPECT_TRUE(plan.isGiven(OptionId::PlanSearchWork));
  EXPECT_EQ(plan.set("seconds", "0.5", PlanMemory), "");
  EXPECT_EQ(plan.planSeconds, 0.5);
  // The compile driver never took them: there they are unknown.
  CompileOptions compile;
  EXPECT_NE(compile.set("search-work", "7", Compile), "");
  EXPECT_NE(compile.set("report", "r.json", Compile), "");
  EXPECT_EQ(compile.set("report", "r.json", Tool), "");
  EXPECT_EQ(compile.jsonFile, "r.json");
  // Every alias names an option of its scopes under another spelling.
  for (const OptionAlias &alias : allAliases()) {
    EXPECT_EQ(findOption(alias.name), nullptr) << alias.name.str();
    EXPECT_NE(specOf(alias.id).scopes & alias.scopes, 0u) << alias.name.str();
    EXPECT_EQ(aliasHelp(alias),
              "Older spelling of " + specOf(alias.id).name.str());
  }
}
} // namespace

namespace {
TEST(OptionTableTest, ConfigOverridesAreTheTablesImportRows) {
  config::ConfigOverrides overrides;
  EXPECT_EQ(parseConfigOverrideText("seq-length=128 sequence-parallel "
                                    "dtype=bf16 pipeline-stage=0 "
                                    "attention-backend=flash",
                                    overrides),
            "");
  EXPECT_EQ(overrides.seqLength, 128);
  EXPECT_EQ(overrides.sequenceParallel, true);
  EXPECT_EQ(overrides.dtype, config::DType::BF16);
  EXPECT_EQ(overrides.pipelineStage, 0);
  EXPECT_EQ(overrides.attentionBackend, "flash");
  EXPECT_EQ(parseConfigOverrideText("seq-length=0", overrides),
            "overrides: bad value '0' for seq-length: seq-length must be a "
            "positive integer, got '0'");
  EXPECT_EQ(parseConfigOverrideText("pipeline-stage=-1", overrides),
            "overrides: bad value '-1' for pipeline-stage: pipeline-stage "
            "must be a non-negative integer, got '-1'");
  EXPECT_EQ(parseConfigOverrideText("dtype=f64", overrides),
            "overrides: bad value 'f64' for dtype: dtype must be f32, bf16 "
            "or f16, got 'f64'");
  // A compile option is not an override, and is named as unknown here.
  EXPECT_EQ(parseConfigOverrideText("plan-memory=false", overrides)
                .rfind("overrides: unknown key 'plan-memory' (allowed: "
                       "seq-length, ",
                       0),
            0u);
}
} // namespace

namespace {
TEST(OptionTableTest, EachValueReadsBackAsItsText) {
  CompileOptions options;
  ASSERT_EQ(parseOptionText("recompute-granularity=full recompute-method=block "
                            "recompute-num-layers=3 "
                            "recompute-modules=core_attn,mlp "
                            "plan-seconds=0.25 region-ops=all table=false",
                            Remat | Compile | Tool, options),
            "");
  // What a pass prints for each option parses back into the same value.
  for (const OptionSpec &spec : allOptions()) {
    if (spec.scopes & Import)
      continue;
    CompileOptions again;
    ASSERT_EQ(again.set(spec.id, options.text(spec.id)), "") << spec.name.str();
    EXPECT_EQ(again.text(spec.id), options.text(spec.id)) << spec.name.str();
  }
  EXPECT_EQ(options.text(OptionId::RecomputeModules), "core_attn,mlp");
  EXPECT_EQ(options.text(OptionId::PlanSeconds), "0.25");
  EXPECT_EQ(options.text(OptionId::Table), "false");
}
} // namespace
