//===- ProgramValidationTest.cpp - Corrupt programs are errors ------------===//
//
// Each test breaks one thing in a valid program and expects a ProgramError
// whose message says where and what.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Program.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace ckpt::rt;
using json = nlohmann::json;

namespace {

json validProgram() {
  std::ifstream in(CKPT_TINY_DROPOUT_PROGRAM);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

/// The error message of parsing `doc`, or "" if it parses.
std::string errorOf(const json &doc) {
  try {
    parseProgram(doc.dump());
  } catch (const ProgramError &e) {
    return e.what();
  }
  return "";
}

int findInstruction(const json &doc, const std::string &op) {
  for (size_t i = 0; i < doc["instructions"].size(); ++i)
    if (doc["instructions"][i]["op"] == op)
      return static_cast<int>(i);
  return -1;
}

/// Gives every activation and temporary of `doc` its own 64-byte aligned
/// slot (a trivially valid plan); returns the bytes they take.
int64_t placeOnOwnSlots(json &doc) {
  int64_t offset = 0;
  for (auto &tensor : doc["tensors"]) {
    std::string role = tensor["role"];
    if (role != "activation" && role != "temporary")
      continue;
    tensor["offset"] = offset;
    int64_t bytes = 1;
    for (int64_t d : tensor["shape"])
      bytes *= d;
    bytes *= tensor["dtype"] == "i1" ? 1 : 4;
    offset += (bytes + 63) / 64 * 64;
  }
  return offset;
}

#define EXPECT_ERROR_CONTAINS(doc, text)                                       \
  EXPECT_NE(errorOf(doc).find(text), std::string::npos)                        \
      << "message: " << errorOf(doc)

TEST(ProgramValidationTest, TheValidProgramRoundTrips) {
  json doc = validProgram();
  EXPECT_EQ(errorOf(doc), "");
  Program program = parseProgram(doc.dump());
  Program again = parseProgram(serializeProgram(program));
  EXPECT_EQ(again.tensors.size(), program.tensors.size());
  EXPECT_EQ(again.instructions.size(), program.instructions.size());
  EXPECT_EQ(again.gradients.size(), program.gradients.size());
}

TEST(ProgramValidationTest, SyntaxAndHeader) {
  EXPECT_NE(std::string([] {
              try {
                parseProgram("{\"format\": \"ckpt-program\", \"versi");
              } catch (const ProgramError &e) {
                return std::string(e.what());
              }
              return std::string();
            }())
                .find("invalid JSON"),
            std::string::npos);
  json doc = validProgram();
  doc["version"] = 99;
  EXPECT_ERROR_CONTAINS(doc, "this runtime reads program version 3, the file "
                             "has 99");
  doc = validProgram();
  doc["format"] = "onnx";
  EXPECT_ERROR_CONTAINS(doc, "/format: must be \"ckpt-program\"");
  doc = validProgram();
  doc.erase("tensors");
  EXPECT_ERROR_CONTAINS(doc, "missing field 'tensors'");
}

TEST(ProgramValidationTest, Tensors) {
  json doc = validProgram();
  doc["tensors"][3]["dtype"] = "f8";
  EXPECT_ERROR_CONTAINS(doc, "/tensors/3/dtype: unknown dtype \"f8\"");
  doc = validProgram();
  doc["tensors"][3]["shape"][0] = -4;
  EXPECT_ERROR_CONTAINS(doc, "/tensors/3/shape/0: dimension -4 must be "
                             "positive");
  doc = validProgram();
  doc["tensors"][3]["role"] = "weights";
  EXPECT_ERROR_CONTAINS(doc, "/tensors/3/role: unknown role \"weights\"");
}

TEST(ProgramValidationTest, Instructions) {
  json doc = validProgram();
  doc["instructions"][0]["inputs"][0] = 100000;
  EXPECT_ERROR_CONTAINS(doc, "/instructions/0/inputs/0: tensor id 100000 is "
                             "out of range");
  doc = validProgram();
  doc["instructions"][2]["op"] = "convolution";
  EXPECT_ERROR_CONTAINS(doc, "/instructions/2 ('convolution'): unknown op");
  doc = validProgram();
  // Reading a value before it is written: swap the first two instructions.
  std::swap(doc["instructions"][0], doc["instructions"][1]);
  EXPECT_ERROR_CONTAINS(doc, "before any instruction writes it");
  doc = validProgram();
  // Writing the same tensor twice.
  doc["instructions"][1]["outputs"][0] = doc["instructions"][0]["outputs"][0];
  EXPECT_ERROR_CONTAINS(doc, "that is already defined");
  doc = validProgram();
  int linear = findInstruction(doc, "linear");
  doc["instructions"][linear]["inputs"].erase(1);
  EXPECT_ERROR_CONTAINS(doc, "('linear')");
  doc = validProgram();
  int dropout = findInstruction(doc, "dropout");
  doc["instructions"][dropout]["attrs"]["probability"] = 1.5;
  EXPECT_ERROR_CONTAINS(doc, "probability must be in [0, 1)");
  doc = validProgram();
  doc["instructions"][dropout]["attrs"].erase("rng_stream");
  EXPECT_ERROR_CONTAINS(doc, "lacks attribute 'rng_stream'");
}

TEST(ProgramValidationTest, ShapesAndDtypesOfAnInstruction) {
  json doc = validProgram();
  int linear = findInstruction(doc, "linear");
  int weight = doc["instructions"][linear]["inputs"][1];
  doc["tensors"][weight]["shape"][1] = 31;
  std::string message = errorOf(doc);
  EXPECT_NE(message.find("in_features"), std::string::npos) << message;

  doc = validProgram();
  int norm = findInstruction(doc, "layer_norm");
  int normWeight = doc["instructions"][norm]["inputs"][1];
  doc["tensors"][normWeight]["dtype"] = "bf16";
  // The op table's message: the compiler's verifier says the same.
  EXPECT_ERROR_CONTAINS(doc, "/instructions/" + std::to_string(norm) +
                                 " ('layer_norm'): all floating-point operands "
                                 "and results must have one element type, "
                                 "got 'f32' and 'bf16'");

  // A mask that is not i1, a loss that is not a 0-d f32, a collective over
  // another number of ranks than the program's.
  doc = validProgram();
  int dropout = findInstruction(doc, "dropout");
  int mask = doc["instructions"][dropout]["outputs"][1];
  doc["tensors"][mask]["dtype"] = "f32";
  EXPECT_ERROR_CONTAINS(doc, "mask must be i1 (one byte per element), is f32");
  doc = validProgram();
  int loss = doc["outputs"]["loss"];
  doc["tensors"][loss]["dtype"] = "bf16";
  EXPECT_ERROR_CONTAINS(doc, "result must be a 0-d f32 tensor");
  doc = validProgram();
  doc["instructions"][dropout]["attrs"]["rng_stream"] = int64_t(1) << 33;
  EXPECT_ERROR_CONTAINS(doc, "rng_stream must be < 2^32");
  // A vocabulary split over other ranks than the program's; the kept
  // softmax in bf16.
  doc = validProgram();
  int embedding = findInstruction(doc, "embedding");
  doc["instructions"][embedding]["attrs"]["vocab_shards"] = 2;
  EXPECT_ERROR_CONTAINS(doc, "vocab_shards 2 differs from the program's "
                             "tensor_parallel_size 1");
  doc = validProgram();
  int crossEntropy = findInstruction(doc, "cross_entropy");
  int probs = doc["instructions"][crossEntropy]["outputs"][1];
  doc["tensors"][probs]["dtype"] = "bf16";
  EXPECT_ERROR_CONTAINS(doc, "('cross_entropy'): result #1 has element type "
                             "bf16 but the operands give f32");
  doc = validProgram();
  doc["instructions"][norm]["attrs"]["epsilon"] = "small";
  EXPECT_ERROR_CONTAINS(doc, "attribute 'epsilon' must be a number");
}

TEST(ProgramValidationTest, MemoryPlans) {
  // A plan for the program: every activation and temporary on its own slot
  // (trivially valid), then broken in two ways.
  json doc = validProgram();
  int64_t offset = placeOnOwnSlots(doc);
  doc["memory_plan"] = {
      {"arena_bytes", offset}, {"peak_bytes", offset}, {"alignment", 64}};
  EXPECT_EQ(errorOf(doc), "");

  json outside = doc;
  outside["memory_plan"]["arena_bytes"] = 64;
  EXPECT_ERROR_CONTAINS(outside, "is not an aligned place inside the arena");

  // Two tensors written by one instruction share an offset: they are live
  // at the same time.
  json overlap = doc;
  int dropout = findInstruction(overlap, "dropout");
  int a = overlap["instructions"][dropout]["outputs"][0];
  int b = overlap["instructions"][dropout]["outputs"][1];
  overlap["tensors"][b]["offset"] = overlap["tensors"][a]["offset"];
  EXPECT_ERROR_CONTAINS(overlap, "are live at the same time and overlap in "
                                 "the arena");

  json stray = validProgram();
  stray["tensors"][5]["offset"] = 0;
  EXPECT_ERROR_CONTAINS(stray, "has an offset but the program has no "
                               "memory_plan");
}

TEST(ProgramValidationTest, NamesNumbersAndArenaSizes) {
  json doc = validProgram();
  doc["tensors"][3]["name"] = doc["tensors"][2]["name"];
  EXPECT_ERROR_CONTAINS(doc, "/tensors/3/name: '" +
                                 doc["tensors"][2]["name"].get<std::string>() +
                                 "' is also the name of /tensors/2");

  // A number that does not fit a double: an error, not a library exception.
  std::string text = validProgram().dump();
  size_t at = text.find("\"probability\":");
  ASSERT_NE(at, std::string::npos);
  size_t end = text.find_first_of(",}", at);
  text.replace(at, end - at, "\"probability\":1e999");
  try {
    parseProgram(text);
    ADD_FAILURE() << "1e999 accepted";
  } catch (const ProgramError &e) {
    EXPECT_NE(std::string(e.what()).find("a number must fit a double"),
              std::string::npos)
        << e.what();
  }

  // An arena far beyond what its tensors reach is refused before anything
  // is allocated.
  doc = validProgram();
  int64_t offset = placeOnOwnSlots(doc);
  doc["memory_plan"] = {
      {"arena_bytes", int64_t(1) << 62}, {"peak_bytes", 64}, {"alignment", 64}};
  EXPECT_ERROR_CONTAINS(doc, "/memory_plan/arena_bytes: 4611686018427387904 is "
                             "more than its tensors reach (" +
                                 std::to_string(offset) + " bytes)");
  doc["memory_plan"]["arena_bytes"] = offset;
  doc["memory_plan"]["peak_bytes"] = offset + 1;
  EXPECT_ERROR_CONTAINS(doc, "/memory_plan/peak_bytes: ");
}

TEST(ProgramValidationTest, Outputs) {
  json doc = validProgram();
  doc["outputs"]["loss"] = doc["inputs"]["tokens"];
  EXPECT_ERROR_CONTAINS(doc, "/outputs/loss: tensor");
  doc = validProgram();
  doc["outputs"]["gradients"][0]["gradient"] =
      doc["outputs"]["gradients"][1]["gradient"];
  EXPECT_ERROR_CONTAINS(doc, "has another shape than the parameter");
}

/// `doc` as stage `stage` of `stages` with one micro-batch: the pipeline
/// entry and the inputs by micro-batch.
json asStage(json doc, int stage, int stages) {
  doc["pipeline"] = {{"stage", stage},
                     {"stages", stages},
                     {"virtual_stages", 1},
                     {"micro_batches", 1}};
  json inputs = doc["inputs"];
  doc["inputs"] = {{"micro_batches", json::array({inputs})}};
  return doc;
}

/// Appends a send of the loss to `stage`.
void appendSend(json &doc, int stage) {
  doc["instructions"].push_back({{"op", "send"},
                                 {"inputs", {doc["outputs"]["loss"]}},
                                 {"outputs", json::array()},
                                 {"attrs", {{"stage", stage}}}});
}

TEST(ProgramValidationTest, PipelineStages) {
  json doc = asStage(validProgram(), 0, 2);
  EXPECT_EQ(errorOf(doc), "");
  appendSend(doc, 1);
  EXPECT_EQ(errorOf(doc), "");
  // A transfer needs a pipeline, and another stage of it.
  json alone = validProgram();
  appendSend(alone, 1);
  EXPECT_ERROR_CONTAINS(alone, "a transfer between pipeline stages in a "
                               "program that is no pipeline stage");
  json self = asStage(validProgram(), 0, 2);
  appendSend(self, 0);
  EXPECT_ERROR_CONTAINS(self, "('send'): stage 0 is not another stage of the "
                              "2-stage pipeline (this is stage 0)");
  json outside = asStage(validProgram(), 0, 2);
  appendSend(outside, 2);
  EXPECT_ERROR_CONTAINS(outside, "stage 2 is not another stage");
  // One input entry per micro-batch; a stage may lack the loss and inputs.
  json count = asStage(validProgram(), 0, 2);
  count["pipeline"]["micro_batches"] = 2;
  EXPECT_ERROR_CONTAINS(count, "/inputs/micro_batches: must be an array of "
                               "one entry per micro-batch (2)");
  json headless = asStage(validProgram(), 0, 2);
  headless["outputs"]["loss"] = -1;
  headless["inputs"]["micro_batches"][0]["labels"] = -1;
  EXPECT_EQ(errorOf(headless), "");
  json unpipelined = validProgram();
  unpipelined["outputs"]["loss"] = -1;
  EXPECT_ERROR_CONTAINS(unpipelined, "/outputs/loss");
  json badStage = asStage(validProgram(), 2, 2);
  EXPECT_ERROR_CONTAINS(badStage, "/pipeline: needs 0 <= stage < stages");
}

/// The error message of parsing `text` as a file of stages, or "".
std::string stagesErrorOf(const std::string &text) {
  try {
    parsePrograms(text);
  } catch (const ProgramError &e) {
    return e.what();
  }
  return "";
}
std::string stagesErrorOf(const json &doc) { return stagesErrorOf(doc.dump()); }

TEST(ProgramValidationTest, AFileOfStagesHoldsStageIAtI) {
  json stage0 = asStage(validProgram(), 0, 2),
       stage1 = asStage(validProgram(), 1, 2);
  json file = {{"stages", {stage0, stage1}}};
  EXPECT_EQ(stagesErrorOf(file), "");
  EXPECT_EQ(parsePrograms(file.dump()).size(), 2u);
  // A single program is a file of one.
  EXPECT_EQ(parsePrograms(validProgram().dump()).size(), 1u);
  EXPECT_NE(stagesErrorOf({{"stages", {stage1, stage0}}})
                .find("/stages/0: must be pipeline stage 0 of 2"),
            std::string::npos);
  EXPECT_NE(stagesErrorOf({{"stages", json::array()}})
                .find("/stages: must be a non-empty array of programs"),
            std::string::npos);
  json other = stage1;
  other["pipeline"]["micro_batches"] = 2;
  other["inputs"]["micro_batches"].push_back(
      other["inputs"]["micro_batches"][0]);
  EXPECT_NE(stagesErrorOf({{"stages", {stage0, other}}})
                .find("/stages/1: its micro-batches, virtual stages and "
                      "tensor-parallel size differ from stage 0's"),
            std::string::npos);
  json broken = stage1;
  broken["tensors"] = 3;
  EXPECT_NE(stagesErrorOf({{"stages", {stage0, broken}}}).find("/stages/1/"),
            std::string::npos)
      << stagesErrorOf({{"stages", {stage0, broken}}});
  // Not JSON: an error of the file, never a parser's exception.
  EXPECT_NE(stagesErrorOf(std::string("{\"stages\": [1e999]}"))
                .find("a number must fit a double"),
            std::string::npos);
}

TEST(ProgramValidationTest, ATransferNeedsOneRankPerStage) {
  // A stage's program run alone: the send has no peer, and says how to
  // start the job instead of hanging.
  json doc = asStage(validProgram(), 0, 2);
  appendSend(doc, 1);
  Executor executor(parseProgram(doc.dump()));
  executor.initParameters(1);
  executor.initInputs(1);
  try {
    executor.run();
    FAIL() << "the send ran without a pipeline";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("runs with one rank per stage"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
