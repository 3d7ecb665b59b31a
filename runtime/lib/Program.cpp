//===- Program.cpp - The runtime's program format -------------------------===//

#include "ckpt/runtime/Program.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

using namespace ckpt::rt;
using json = nlohmann::json;

int64_t TensorInfo::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

double Instruction::getF64(const std::string &name) const {
  auto it = attrs.find(name);
  if (it == attrs.end())
    throw ProgramError("instruction '" + op + "' lacks attribute '" + name +
                       "'");
  if (auto *value = std::get_if<double>(&it->second))
    return *value;
  if (auto *value = std::get_if<int64_t>(&it->second))
    return static_cast<double>(*value);
  throw ProgramError("attribute '" + name + "' of '" + op +
                     "' must be a number");
}

int64_t Instruction::getI64(const std::string &name) const {
  auto it = attrs.find(name);
  if (it == attrs.end())
    throw ProgramError("instruction '" + op + "' lacks attribute '" + name +
                       "'");
  if (auto *value = std::get_if<int64_t>(&it->second))
    return *value;
  throw ProgramError("attribute '" + name + "' of '" + op +
                     "' must be an integer");
}

bool Instruction::getBool(const std::string &name, bool fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end())
    return fallback;
  if (auto *value = std::get_if<bool>(&it->second))
    return *value;
  throw ProgramError("attribute '" + name + "' of '" + op +
                     "' must be true or false");
}

std::string Instruction::getString(const std::string &name,
                                   const std::string &fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end())
    return fallback;
  if (auto *value = std::get_if<std::string>(&it->second))
    return *value;
  throw ProgramError("attribute '" + name + "' of '" + op +
                     "' must be a string");
}

std::vector<int> Program::parameters() const {
  std::vector<int> ids;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].role == TensorRole::Parameter)
      ids.push_back(static_cast<int>(i));
  return ids;
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {
[[noreturn]] void fail(const std::string &path, const std::string &message) {
  throw ProgramError(path + ": " + message);
}

const json &field(const json &object, const std::string &key,
                  const std::string &path) {
  if (!object.is_object())
    fail(path, "must be an object");
  auto it = object.find(key);
  if (it == object.end())
    fail(path, "missing field '" + key + "'");
  return *it;
}

int64_t integer(const json &value, const std::string &path) {
  if (!value.is_number_integer())
    fail(path, std::string("must be an integer, got ") + value.type_name());
  return value.get<int64_t>();
}

std::string string(const json &value, const std::string &path) {
  if (!value.is_string())
    fail(path, std::string("must be a string, got ") + value.type_name());
  return value.get<std::string>();
}

int tensorId(const json &value, const std::string &path, size_t count) {
  int64_t id = integer(value, path);
  if (id < 0 || id >= static_cast<int64_t>(count))
    fail(path, "tensor id " + std::to_string(id) + " is out of range [0, " +
                   std::to_string(count) + ")");
  return static_cast<int>(id);
}

std::vector<int> idList(const json &value, const std::string &path,
                        size_t count) {
  if (!value.is_array())
    fail(path, "must be an array of tensor ids");
  std::vector<int> ids;
  for (size_t i = 0; i < value.size(); ++i)
    ids.push_back(tensorId(value[i], path + "/" + std::to_string(i), count));
  return ids;
}

/// The JSON document of a program file; ProgramError when it is not JSON.
json parseJson(const std::string &text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error &e) {
    std::string what = e.what();
    size_t colon = what.find(": ");
    throw ProgramError(
        "not a valid program file (invalid JSON at byte " +
        std::to_string(e.byte) +
        "): " + (colon == std::string::npos ? what : what.substr(colon + 2)));
  } catch (const json::out_of_range &e) {
    // A number too large for a double, such as 1e999.
    std::string what = e.what();
    size_t bracket = what.find("] ");
    throw ProgramError(
        "not a valid program file (" +
        (bracket == std::string::npos ? what : what.substr(bracket + 2)) +
        ": a number must fit a double)");
  }
}

/// One program from its document (a whole file, or one of a pipeline's
/// stages).
/// One entry of `tensors` (at `path`).
TensorInfo tensorFromJson(const json &entry, const std::string &path) {
  TensorInfo info;
  info.name = string(field(entry, "name", path), path + "/name");
  const json &shape = field(entry, "shape", path);
  if (!shape.is_array())
    fail(path + "/shape", "must be an array of dimensions");
  int64_t elements = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t dim = integer(shape[d], path + "/shape/" + std::to_string(d));
    if (dim <= 0 || dim > (int64_t(1) << 40) / elements)
      fail(path + "/shape/" + std::to_string(d),
           "dimension " + std::to_string(dim) +
               " must be positive and the tensor under 2^40 elements");
    elements *= dim;
    info.shape.push_back(dim);
  }
  std::string dtype = string(field(entry, "dtype", path), path + "/dtype");
  auto parsedDType = parseDType(dtype);
  if (!parsedDType)
    fail(path + "/dtype", "unknown dtype \"" + dtype +
                              "\" (allowed: f32, f64, bf16, f16, i32, i64, "
                              "i1)");
  info.dtype = *parsedDType;
  std::string role = string(field(entry, "role", path), path + "/role");
  auto parsedRole = ckpt::ops::parseTensorRole(role);
  if (!parsedRole)
    fail(path + "/role", "unknown role \"" + role +
                             "\" (allowed: input, parameter, gradient, "
                             "loss, activation, temporary)");
  info.role = *parsedRole;
  if (auto it = entry.find("offset"); it != entry.end())
    info.offset = integer(*it, path + "/offset");
  return info;
}

/// One entry of `instructions` (at `path`), its ids below `count`.
Instruction instructionFromJson(const json &entry, const std::string &path,
                                size_t count) {
  Instruction inst;
  inst.op = string(field(entry, "op", path), path + "/op");
  inst.inputs = idList(field(entry, "inputs", path), path + "/inputs", count);
  inst.outputs =
      idList(field(entry, "outputs", path), path + "/outputs", count);
  if (auto it = entry.find("phase"); it != entry.end())
    inst.phase = string(*it, path + "/phase");
  if (auto it = entry.find("layer"); it != entry.end())
    inst.layer = integer(*it, path + "/layer");
  if (auto it = entry.find("module"); it != entry.end())
    inst.module = string(*it, path + "/module");
  if (auto it = entry.find("attrs"); it != entry.end()) {
    if (!it->is_object())
      fail(path + "/attrs", "must be an object");
    for (auto attr = it->begin(); attr != it->end(); ++attr) {
      if (attr->is_boolean())
        inst.attrs[attr.key()] = attr->get<bool>();
      else if (attr->is_number_integer())
        inst.attrs[attr.key()] = attr->get<int64_t>();
      else if (attr->is_number())
        inst.attrs[attr.key()] = attr->get<double>();
      else if (attr->is_string())
        inst.attrs[attr.key()] = attr->get<std::string>();
      else
        fail(path + "/attrs/" + attr.key(),
             "must be a boolean, number or string");
    }
  }
  return inst;
}

/// The optional memory plan and pipeline shape.
void planAndPipelineFromJson(const json &doc, Program &program) {
  if (auto it = doc.find("memory_plan"); it != doc.end()) {
    program.arenaBytes = integer(field(*it, "arena_bytes", "/memory_plan"),
                                 "/memory_plan/arena_bytes");
    program.plannedPeakBytes = integer(field(*it, "peak_bytes", "/memory_plan"),
                                       "/memory_plan/peak_bytes");
    program.alignment = integer(field(*it, "alignment", "/memory_plan"),
                                "/memory_plan/alignment");
    if (program.arenaBytes < 0 || program.plannedPeakBytes < 0 ||
        program.alignment <= 0)
      fail("/memory_plan", "sizes must be >= 0 and the alignment positive");
  }

  if (auto it = doc.find("pipeline"); it != doc.end()) {
    PipelineInfo info;
    info.stage = integer(field(*it, "stage", "/pipeline"), "/pipeline/stage");
    info.stages =
        integer(field(*it, "stages", "/pipeline"), "/pipeline/stages");
    info.virtualStages = integer(field(*it, "virtual_stages", "/pipeline"),
                                 "/pipeline/virtual_stages");
    info.microBatches = integer(field(*it, "micro_batches", "/pipeline"),
                                "/pipeline/micro_batches");
    if (info.stages < 1 || info.virtualStages < 1 || info.microBatches < 1 ||
        info.stage < 0 || info.stage >= info.stages)
      fail("/pipeline", "needs 0 <= stage < stages and positive stages, "
                        "virtual_stages and micro_batches");
    program.pipeline = info;
  }
}

/// Which tensors are the inputs (per micro-batch in a pipeline), the loss
/// and each parameter's gradient.
void inputsAndOutputsFromJson(const json &doc, Program &program) {
  size_t count = program.tensors.size();
  // An input or the loss a pipeline stage does not have is -1.
  auto optionalId = [&](const json &value, const std::string &path) {
    if (program.pipeline && value.is_number_integer() &&
        value.get<int64_t>() == -1)
      return -1;
    return tensorId(value, path, count);
  };
  const json &inputs = field(doc, "inputs", "");
  if (program.pipeline) {
    const json &batches = field(inputs, "micro_batches", "/inputs");
    if (!batches.is_array() ||
        static_cast<int64_t>(batches.size()) != program.pipeline->microBatches)
      fail("/inputs/micro_batches",
           "must be an array of one entry per micro-batch (" +
               std::to_string(program.pipeline->microBatches) + ")");
    for (size_t j = 0; j < batches.size(); ++j) {
      std::string path = "/inputs/micro_batches/" + std::to_string(j);
      MicroBatchInputs in;
      in.tokens =
          optionalId(field(batches[j], "tokens", path), path + "/tokens");
      in.labels =
          optionalId(field(batches[j], "labels", path), path + "/labels");
      program.microBatchInputs.push_back(in);
    }
    program.tokens = program.microBatchInputs.front().tokens;
    program.labels = program.microBatchInputs.front().labels;
  } else {
    program.tokens =
        tensorId(field(inputs, "tokens", "/inputs"), "/inputs/tokens", count);
    program.labels =
        tensorId(field(inputs, "labels", "/inputs"), "/inputs/labels", count);
    program.microBatchInputs = {{program.tokens, program.labels}};
  }
  const json &outputs = field(doc, "outputs", "");
  program.loss =
      optionalId(field(outputs, "loss", "/outputs"), "/outputs/loss");
  const json &grads = field(outputs, "gradients", "/outputs");
  if (!grads.is_array())
    fail("/outputs/gradients", "must be an array");
  for (size_t i = 0; i < grads.size(); ++i) {
    std::string path = "/outputs/gradients/" + std::to_string(i);
    GradientOutput out;
    out.parameter = tensorId(field(grads[i], "parameter", path),
                             path + "/parameter", count);
    out.gradient =
        tensorId(field(grads[i], "gradient", path), path + "/gradient", count);
    program.gradients.push_back(out);
  }
}

Program programFromJson(const json &doc) {
  Program program;
  if (!doc.is_object())
    fail("/", "a program must be a JSON object");
  if (string(field(doc, "format", ""), "/format") !=
      ckpt::ops::kProgramFormatName)
    fail("/format",
         std::string("must be \"") + ckpt::ops::kProgramFormatName + "\"");
  program.version =
      static_cast<int>(integer(field(doc, "version", ""), "/version"));
  if (program.version != kProgramVersion)
    fail("/version", "this runtime reads program version " +
                         std::to_string(kProgramVersion) + ", the file has " +
                         std::to_string(program.version) +
                         "; regenerate it with the matching ckpt-translate");
  program.function = string(field(doc, "function", ""), "/function");
  if (auto it = doc.find("tensor_parallel_size"); it != doc.end()) {
    program.tensorParallelSize = integer(*it, "/tensor_parallel_size");
    if (program.tensorParallelSize < 1)
      fail("/tensor_parallel_size", "must be at least 1");
  }
  if (auto it = doc.find("model"); it != doc.end() && it->is_object())
    for (auto entry = it->begin(); entry != it->end(); ++entry)
      program.model[entry.key()] =
          entry->is_string() ? entry->get<std::string>() : entry->dump();

  const json &tensors = field(doc, "tensors", "");
  if (!tensors.is_array())
    fail("/tensors", "must be an array");
  for (size_t i = 0; i < tensors.size(); ++i)
    program.tensors.push_back(
        tensorFromJson(tensors[i], "/tensors/" + std::to_string(i)));
  size_t count = program.tensors.size();

  const json &instructions = field(doc, "instructions", "");
  if (!instructions.is_array())
    fail("/instructions", "must be an array");
  for (size_t i = 0; i < instructions.size(); ++i)
    program.instructions.push_back(instructionFromJson(
        instructions[i], "/instructions/" + std::to_string(i), count));
  planAndPipelineFromJson(doc, program);
  inputsAndOutputsFromJson(doc, program);
  validateProgram(program);
  return program;
}
} // namespace

namespace {
/// Every send of one stage meets a receive of its peer with the same tag,
/// shape and element type, as often: an unpaired transfer would wait
/// forever at run time.
void checkTransferPairs(const std::vector<Program> &stages) {
  struct Side {
    int64_t count = 0;
    std::vector<int64_t> shape;
    DType dtype = DType::F32;
    size_t instruction = 0;
  };
  // (from stage, to stage, tag) -> the sends and the receives.
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::pair<Side, Side>> pairs;
  for (size_t s = 0; s < stages.size(); ++s) {
    const Program &program = stages[s];
    for (size_t i = 0; i < program.instructions.size(); ++i) {
      const Instruction &inst = program.instructions[i];
      bool send = inst.op == "send";
      if (!send && inst.op != "recv")
        continue;
      int64_t peer = inst.getI64("stage"), tag = inst.getI64("tag");
      int64_t self = static_cast<int64_t>(s);
      auto &[sends, recvs] = pairs[send ? std::make_tuple(self, peer, tag)
                                        : std::make_tuple(peer, self, tag)];
      Side &side = send ? sends : recvs;
      const TensorInfo &tensor =
          program.tensors[send ? inst.inputs[0] : inst.outputs[0]];
      if (side.count++ == 0) {
        side.shape = tensor.shape;
        side.dtype = tensor.dtype;
        side.instruction = i;
      }
    }
  }
  for (const auto &[key, sides] : pairs) {
    auto [from, to, tag] = key;
    const auto &[sends, recvs] = sides;
    std::string what = "the transfer from stage " + std::to_string(from) +
                       " to stage " + std::to_string(to) + " with tag " +
                       std::to_string(tag);
    if (sends.count != recvs.count)
      throw ProgramError(
          "/stages: " + what + " is sent " + std::to_string(sends.count) +
          " times (stage " + std::to_string(from) + ") and received " +
          std::to_string(recvs.count) + " times (stage " + std::to_string(to) +
          "); every send needs its receive, or the run waits forever");
    if (sends.shape != recvs.shape || sends.dtype != recvs.dtype)
      throw ProgramError(
          "/stages/" + std::to_string(to) + "/instructions/" +
          std::to_string(recvs.instruction) + ": " + what +
          " sends a tensor of another shape or element type than it "
          "receives");
  }
}
} // namespace

Program ckpt::rt::parseProgram(const std::string &text) {
  return programFromJson(parseJson(text));
}

std::vector<Program> ckpt::rt::parsePrograms(const std::string &text) {
  json doc = parseJson(text);
  auto stages = doc.is_object() ? doc.find("stages") : doc.end();
  if (!doc.is_object() || stages == doc.end())
    return {programFromJson(doc)};
  if (!stages->is_array() || stages->empty())
    throw ProgramError("/stages: must be a non-empty array of programs");
  std::vector<Program> programs;
  for (size_t i = 0; i < stages->size(); ++i) {
    std::string path = "/stages/" + std::to_string(i);
    try {
      programs.push_back(programFromJson((*stages)[i]));
    } catch (const ProgramError &e) {
      throw ProgramError(path + e.what());
    }
    const Program &p = programs.back();
    if (!p.pipeline || p.pipeline->stage != static_cast<int64_t>(i) ||
        p.pipeline->stages != static_cast<int64_t>(stages->size()))
      throw ProgramError(path + ": must be pipeline stage " +
                         std::to_string(i) + " of " +
                         std::to_string(stages->size()));
    if (p.pipeline->microBatches != programs.front().pipeline->microBatches ||
        p.pipeline->virtualStages != programs.front().pipeline->virtualStages ||
        p.tensorParallelSize != programs.front().tensorParallelSize)
      throw ProgramError(path + ": its micro-batches, virtual stages and "
                                "tensor-parallel size differ from stage 0's");
  }
  checkTransferPairs(programs);
  return programs;
}

namespace {
/// `parse` of the file's text; errors name the file.
template <typename Parse> auto parseFile(const std::string &path, Parse parse) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ProgramError("cannot open program file '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return parse(buffer.str());
  } catch (const ProgramError &e) {
    throw ProgramError(path + ": " + e.what());
  }
}
} // namespace

std::vector<Program> ckpt::rt::loadPrograms(const std::string &path) {
  return parseFile(path, parsePrograms);
}

Program ckpt::rt::loadProgram(const std::string &path) {
  return parseFile(path, parseProgram);
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

std::string ckpt::rt::serializeProgram(const Program &program) {
  json doc;
  doc["format"] = ops::kProgramFormatName;
  doc["version"] = program.version;
  doc["function"] = program.function;
  doc["tensor_parallel_size"] = program.tensorParallelSize;
  doc["model"] = json::object();
  for (auto &[key, value] : program.model)
    doc["model"][key] = value;
  if (program.arenaBytes >= 0)
    doc["memory_plan"] = {{"arena_bytes", program.arenaBytes},
                          {"peak_bytes", program.plannedPeakBytes},
                          {"alignment", program.alignment}};
  doc["tensors"] = json::array();
  for (const TensorInfo &t : program.tensors) {
    json entry = {{"name", t.name},
                  {"shape", t.shape},
                  {"dtype", dtypeName(t.dtype)},
                  {"role", roleName(t.role)}};
    if (t.offset >= 0)
      entry["offset"] = t.offset;
    doc["tensors"].push_back(entry);
  }
  doc["instructions"] = json::array();
  for (const Instruction &inst : program.instructions) {
    json entry = {{"op", inst.op},
                  {"inputs", inst.inputs},
                  {"outputs", inst.outputs},
                  {"phase", inst.phase},
                  {"module", inst.module}};
    if (inst.layer >= 0)
      entry["layer"] = inst.layer;
    json attrs = json::object();
    for (const auto &attr : inst.attrs)
      std::visit([&](auto &&v) { attrs[attr.first] = v; }, attr.second);
    entry["attrs"] = attrs;
    doc["instructions"].push_back(entry);
  }
  if (program.pipeline) {
    const PipelineInfo &p = *program.pipeline;
    doc["pipeline"] = {{"stage", p.stage},
                       {"stages", p.stages},
                       {"virtual_stages", p.virtualStages},
                       {"micro_batches", p.microBatches}};
    json batches = json::array();
    for (const MicroBatchInputs &in : program.microBatchInputs)
      batches.push_back({{"tokens", in.tokens}, {"labels", in.labels}});
    doc["inputs"] = {{"micro_batches", batches}};
  } else {
    doc["inputs"] = {{"tokens", program.tokens}, {"labels", program.labels}};
  }
  json grads = json::array();
  for (const GradientOutput &g : program.gradients)
    grads.push_back({{"parameter", g.parameter}, {"gradient", g.gradient}});
  doc["outputs"] = {{"loss", program.loss}, {"gradients", grads}};
  return doc.dump(1) + "\n";
}

ckpt::ops::OpInstance ckpt::rt::describeInstruction(const Program &program,
                                                    const Instruction &inst) {
  ops::OpInstance instance;
  for (int id : inst.inputs)
    instance.inputs.push_back(
        {program.tensors[id].shape, program.tensors[id].dtype});
  for (int id : inst.outputs)
    instance.outputs.push_back(
        {program.tensors[id].shape, program.tensors[id].dtype});
  instance.attrs = inst.attrs;
  return instance;
}
