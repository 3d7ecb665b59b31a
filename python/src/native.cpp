//===- native.cpp - The ckpt_opt package's native module ------------------===//
//
// Thin: the C API's compile and pass runs (results as dictionaries of
// strings), and one step of the CPU runtime with its gradients as NumPy
// arrays. The Python modules beside it give the API its shape.
//
//===----------------------------------------------------------------------===//

#include "ckpt-c/Compiler.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Program.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Result =
    std::unique_ptr<CkptCompileResult, void (*)(CkptCompileResult *)>;

nb::dict describe(Result &result) {
  nb::dict out;
  out["succeeded"] = ckptResultSucceeded(result.get());
  out["messages"] = std::string(ckptResultMessages(result.get()));
  out["program"] = std::string(ckptResultProgram(result.get()));
  out["report_json"] = std::string(ckptResultReportJson(result.get()));
  out["report_table"] = std::string(ckptResultReportTable(result.get()));
  out["module"] = std::string(ckptResultModule(result.get()));
  out["placement_plan"] = std::string(ckptResultPlacementPlan(result.get()));
  // The timeline is drawn when Python asks for it (a long schedule's
  // drawing costs as much as its compile): a function that keeps the
  // result alive until then.
  std::shared_ptr<CkptCompileResult> kept(result.release(), ckptResultDestroy);
  out["timeline_svg"] = nb::cpp_function(
      [kept]() { return std::string(ckptResultTimelineSvg(kept.get())); });
  return out;
}

nb::dict compile(const std::string &config, const std::string &name,
                 const std::string &policy, const std::string &overrides) {
  Result result(ckptCompile(config.data(), config.size(), name.c_str(),
                            policy.c_str(), overrides.c_str()),
                ckptResultDestroy);
  if (!result)
    throw std::bad_alloc();
  return describe(result);
}

/// The passes run in memory: the result, and what they wrote under the
/// names in `files`.
nb::dict runPassesInMemory(const std::string &config, const std::string &name,
                           const std::string &passes,
                           const std::string &overrides,
                           const std::vector<std::string> &files) {
  Result result(ckptRunPassesInMemory(config.data(), config.size(),
                                      name.c_str(), passes.c_str(),
                                      overrides.c_str()),
                ckptResultDestroy);
  if (!result)
    throw std::bad_alloc();
  nb::dict written;
  for (const std::string &file : files)
    if (const char *text = ckptResultOutput(result.get(), file.c_str()))
      written[file.c_str()] = std::string(text);
  nb::dict out = describe(result);
  out["outputs"] = written;
  return out;
}

nb::dict runPasses(const std::string &config, const std::string &name,
                   const std::string &passes, const std::string &overrides) {
  Result result(ckptRunPasses(config.data(), config.size(), name.c_str(),
                              passes.c_str(), overrides.c_str()),
                ckptResultDestroy);
  if (!result)
    throw std::bad_alloc();
  return describe(result);
}

/// A float64 NumPy array that owns a copy of `values`.
nb::object toArray(std::vector<double> values,
                   const std::vector<int64_t> &shape) {
  auto *data = new std::vector<double>(std::move(values));
  nb::capsule owner(data, [](void *p) noexcept {
    delete static_cast<std::vector<double> *>(p);
  });
  std::vector<size_t> dims(shape.begin(), shape.end());
  return nb::cast(nb::ndarray<nb::numpy, double>(data->data(), dims.size(),
                                                 dims.data(), owner));
}

/// One step as ckpt-run takes it: `seed` keys the dropout masks (--seed),
/// `initSeed` draws the parameters, tokens and labels (--init-seed).
/// One input of the step given from Python: its values, flattened, and
/// its shape (an empty shape: not given).
struct GivenInput {
  std::vector<double> values;
  std::vector<int64_t> shape;
};

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text;
  for (int64_t d : shape)
    text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "(" + text + ")";
}

void checkShape(const ckpt::rt::TensorInfo &info, const GivenInput &given,
                const char *what) {
  if (given.shape != info.shape)
    throw std::invalid_argument(std::string(what) + " must have shape " +
                                shapeText(info.shape) + ", got " +
                                shapeText(given.shape));
}

/// Sets tokens and labels, and Megatron's loss mask as labels of the loss's
/// ignore_index where it is 0 (as ckpt-run --loss-mask).
void setInputs(ckpt::rt::Executor &executor, const GivenInput &tokens,
               const GivenInput &labels, const GivenInput &mask) {
  const ckpt::rt::Program &program = executor.program();
  if (!tokens.shape.empty()) {
    checkShape(program.tensors[program.tokens], tokens, "tokens");
    checkShape(program.tensors[program.labels], labels, "labels");
    executor.setTensor(program.tokens, tokens.values);
    executor.setTensor(program.labels, labels.values);
  }
  if (mask.shape.empty())
    return;
  checkShape(program.tensors[program.labels], mask, "loss_mask");
  try {
    executor.maskLabels(mask.values);
  } catch (const std::exception &error) {
    throw std::invalid_argument(std::string("loss_mask: ") + error.what());
  }
}

nb::dict runStep(const std::string &programText, uint64_t seed,
                 uint64_t initSeed, bool f64, GivenInput tokens,
                 GivenInput labels, GivenInput mask) {
  std::vector<ckpt::rt::Program> stages = ckpt::rt::parsePrograms(programText);
  if (stages.size() != 1)
    throw std::runtime_error(
        "the program holds " + std::to_string(stages.size()) +
        " pipeline stages, which run one per MPI rank: write it to a file and "
        "start mpirun -np " +
        std::to_string(stages.size() *
                       std::max<int64_t>(1, stages[0].tensorParallelSize)) +
        " ckpt-run FILE; run_step runs a program of one stage");
  ckpt::rt::Program program = std::move(stages.front());
  ckpt::rt::ExecutorOptions options;
  options.seed = seed;
  if (f64)
    options.precision = ckpt::rt::Precision::F64;
  ckpt::rt::Executor executor(program, options);
  executor.initParameters(initSeed);
  executor.initInputs(initSeed);
  if ((!tokens.shape.empty() || !mask.shape.empty()) && program.pipeline)
    throw std::invalid_argument(
        "a pipelined step draws its micro-batches' tokens and labels itself; "
        "tokens, labels and loss_mask give one");
  setInputs(executor, tokens, labels, mask);
  ckpt::rt::StepResult step = executor.run();
  nb::dict gradients;
  for (const ckpt::rt::GradientOutput &g : program.gradients)
    gradients[program.tensors[g.parameter].name.c_str()] = toArray(
        executor.getTensor(g.gradient), program.tensors[g.gradient].shape);
  nb::dict out;
  out["loss"] = step.loss;
  out["gradients"] = gradients;
  out["seconds"] = step.seconds;
  out["arena"] = step.memory.arena;
  out["measured_peak_bytes"] = step.memory.arenaPeakBytes;
  out["planned_peak_bytes"] = program.plannedPeakBytes;
  out["arena_bytes"] = step.memory.arenaBytes;
  return out;
}

} // namespace

NB_MODULE(_native, m) {
  m.doc() = "ckpt-opt's C API and CPU runtime (use the ckpt_opt package)";
  m.def("version", [] { return std::string(ckptVersion()); });
  m.def("option_table", [] { return std::string(ckptOptionTable()); });
  m.def("compile", &compile, "config"_a, "name"_a, "policy"_a, "overrides"_a);
  m.def("run_passes_in_memory", &runPassesInMemory, "config"_a, "name"_a,
        "passes"_a, "overrides"_a, "files"_a);
  m.def("run_passes", &runPasses, "config"_a, "name"_a, "passes"_a,
        "overrides"_a);
  m.def(
      "run_step",
      [](const std::string &program, uint64_t seed, uint64_t initSeed, bool f64,
         std::vector<double> tokens, std::vector<int64_t> tokensShape,
         std::vector<double> labels, std::vector<int64_t> labelsShape,
         std::vector<double> mask, std::vector<int64_t> maskShape) {
        return runStep(program, seed, initSeed, f64,
                       {std::move(tokens), std::move(tokensShape)},
                       {std::move(labels), std::move(labelsShape)},
                       {std::move(mask), std::move(maskShape)});
      },
      "program"_a, "seed"_a, "init_seed"_a, "f64"_a, "tokens"_a,
      "tokens_shape"_a, "labels"_a, "labels_shape"_a, "loss_mask"_a,
      "loss_mask_shape"_a);
}
