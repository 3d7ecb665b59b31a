//===- ckpt-run.cpp - Run a training-step program -------------------------===//
//
//   ckpt-run PROGRAM [--backend=cpu|reference] [--seed=N] [--init-seed=N]
//            [--params=DIR] [--tokens=FILE.npy] [--labels=FILE.npy]
//            [--precision=program|f64] [--dump-grads=DIR] [--repeat=N]
//
//===----------------------------------------------------------------------===//

#include "ckpt/Output/OutputFiles.h"
#include "ckpt/runtime/Communicator.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Npy.h"
#include "ckpt/runtime/Program.h"

#ifdef CKPT_HAVE_MPI
#include <mpi.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace ckpt::rt;

namespace {

const char *kUsage =
    "usage: ckpt-run PROGRAM [options]\n"
    "  --version               print the version\n"
    "  --backend=NAME          where to run: cpu (default); reference (plain "
    "f64\n"
    "                          loops of every op, to check a result by other "
    "means);\n"
    "                          cuda (the GPU, in builds with nvcc); "
    "cuda-emulated\n"
    "                          (the CUDA backend's ops run on the host, to "
    "test them)\n"
    "  --communicator=NAME     collectives under mpirun: auto (default: NCCL "
    "for\n"
    "                          --backend=cuda, else MPI), mpi or nccl\n"
    "  --seed=N                dropout seed (default 1234)\n"
    "  --init-seed=N           seed of parameters, tokens and labels "
    "(default 42)\n"
    "  --params=DIR            load parameters from DIR/<name>.npy\n"
    "  --tokens=FILE.npy       token ids [b, s]\n"
    "  --labels=FILE.npy       labels [b, s] (-100: the position does not "
    "count)\n"
    "  --loss-mask=FILE.npy    Megatron's loss mask [b, s]: 1 counts, 0 does "
    "not\n"
    "  --precision=program|f64 compute in the program's types (default) or "
    "f64\n"
    "  --dump-grads=DIR        write every gradient to DIR/<name>.npy\n"
    "  --save-params=DIR       write the parameters used to DIR/<name>.npy\n"
    "  (with t > 1 tensor-parallel ranks, DIR/rank<k>/ for --params,\n"
    "   --dump-grads and --save-params, k the tensor-parallel rank; the\n"
    "   stages of a pipeline share DIR, each writing its own parameters)\n"
    "  --repeat=N              run the step N times: the first step's time\n"
    "                          and the fastest of the others (steady)\n"
    "  --threads=N             CPU threads (default: all)\n"
    "  --profile               time per op kind and the achieved GEMM rate\n"
    "  --profile=FILE          the same, and the mean time of each op kind "
    "and\n"
    "                          shape as JSON (the memory-budget solver's\n"
    "                          cost=profile:FILE)\n"
    "  --no-fuse               run every instruction as written (by default\n"
    "                          adjacent dropout+add and linear+gelu pairs run\n"
    "                          as one pass each, with the same bits and plan;\n"
    "                          --profile=FILE never fuses)\n"
    "  --no-arena              give every tensor its own allocation even when\n"
    "                          the program has a memory plan\n";

struct Options {
  std::string program;
  std::string backend = "cpu";
  std::string communicator = "auto";
  uint64_t seed = 1234;
  uint64_t initSeed = 42;
  std::string params, tokens, labels, lossMask, dumpGrads, saveParams;
  Precision precision = Precision::Program;
  int repeat = 1;
  int threads = 0;
  bool profile = false;
  std::string profileFile; ///< Where --profile=FILE writes its JSON.
  bool noArena = false;
  bool noFuse = false;
};

[[noreturn]] void usageError(const std::string &message) {
  std::cerr << "ckpt-run: " << message << "\n" << kUsage;
  std::exit(2);
}

uint64_t parseCount(const std::string &flag, const std::string &value,
                    uint64_t min) {
  try {
    size_t used = 0;
    unsigned long long parsed = std::stoull(value, &used);
    if (used != value.size() || value[0] == '-' || parsed < min)
      throw std::invalid_argument(value);
    return parsed;
  } catch (const std::exception &) {
    usageError(flag + " needs an integer >= " + std::to_string(min) +
               ", got '" + value + "'");
  }
}

Options parseArguments(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg == "--version") {
      std::cout << "ckpt-run " << CKPT_VERSION << "\n";
      std::exit(0);
    }
    if (arg == "--profile") {
      options.profile = true;
      continue;
    }
    if (arg == "--no-fuse") {
      options.noFuse = true;
      continue;
    }
    if (arg == "--no-arena") {
      options.noArena = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      if (!options.program.empty())
        usageError("more than one program given ('" + options.program +
                   "' and '" + arg + "')");
      options.program = arg;
      continue;
    }
    size_t eq = arg.find('=');
    if (eq == std::string::npos)
      usageError("option '" + arg + "' needs a value (--name=value)");
    std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
    if (name == "--backend") {
      if (std::string error = checkBackendName(value); !error.empty())
        usageError(error);
      options.backend = value;
    } else if (name == "--communicator") {
      if (value != "auto" && value != "mpi" && value != "nccl")
        usageError("--communicator takes auto, mpi or nccl, not '" + value +
                   "'");
      options.communicator = value;
    } else if (name == "--profile") {
      if (value.empty())
        usageError("--profile=FILE needs a file name");
      options.profile = true;
      options.profileFile = value;
    } else if (name == "--seed") {
      options.seed = parseCount(name, value, 0);
    } else if (name == "--init-seed") {
      options.initSeed = parseCount(name, value, 0);
    } else if (name == "--params") {
      options.params = value;
    } else if (name == "--tokens") {
      options.tokens = value;
    } else if (name == "--labels") {
      options.labels = value;
    } else if (name == "--loss-mask") {
      options.lossMask = value;
    } else if (name == "--dump-grads") {
      options.dumpGrads = value;
    } else if (name == "--save-params") {
      options.saveParams = value;
    } else if (name == "--precision") {
      if (value == "program")
        options.precision = Precision::Program;
      else if (value == "f64")
        options.precision = Precision::F64;
      else
        usageError("--precision must be program or f64, got '" + value + "'");
    } else if (name == "--repeat") {
      options.repeat = static_cast<int>(parseCount(name, value, 1));
    } else if (name == "--threads") {
      options.threads = static_cast<int>(parseCount(name, value, 1));
    } else {
      usageError("unknown option '" + name + "'");
    }
  }
  if (options.program.empty())
    usageError("no program file given");
  return options;
}

/// Loads a tensor from a .npy file, checking its shape against the program.
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text;
  for (int64_t d : shape)
    text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

void loadInto(Executor &executor, int id, const std::string &path) {
  const TensorInfo &info = executor.program().tensors[id];
  NpyArray array = readNpy(path);
  if (array.shape != info.shape)
    throw RuntimeError(path + ": '" + info.name + "' must have shape " +
                       shapeText(info.shape) + ", the file has " +
                       shapeText(array.shape));
  executor.setTensor(id, array.values);
}

/// Megatron's loss mask from a file of the labels' shape.
void applyLossMask(Executor &executor, const std::string &path) {
  const Program &program = executor.program();
  const TensorInfo &info = program.tensors[program.labels];
  NpyArray mask = readNpy(path);
  if (mask.shape != info.shape)
    throw RuntimeError(path + ": the loss mask must have the labels' shape " +
                       shapeText(info.shape) + ", the file has " +
                       shapeText(mask.shape));
  try {
    executor.maskLabels(mask.values);
  } catch (const RuntimeError &error) {
    throw RuntimeError(path + ": " + error.what());
  }
}

/// Time per op kind, and the GEMM rate of the step.
void printProfile(const Program &program, const StepResult &result) {
  std::map<std::string, std::pair<double, int64_t>> byOp;
  double gemmSeconds = 0;
  int64_t gemmFlops = 0;
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    const Instruction &inst = program.instructions[i];
    int64_t flops = instructionCost(program, inst).matmulFlops;
    byOp[inst.op].first += result.instructionSeconds[i];
    byOp[inst.op].second += flops;
    if (flops) {
      gemmSeconds += result.instructionSeconds[i];
      gemmFlops += flops;
    }
  }
  std::printf("profile (time per op kind):\n");
  for (auto &[op, entry] : byOp)
    std::printf(
        "  %-24s %9.3f ms %5.1f%%%s\n", op.c_str(), entry.first * 1e3,
        100.0 * entry.first / result.seconds,
        entry.second
            ? (" " +
               std::to_string(entry.second / entry.first / 1e9).substr(0, 6) +
               " GFLOP/s")
                  .c_str()
            : "");
  std::printf("matrix multiplies: %lld FLOPs in %.3f ms: %.2f GFLOP/s\n",
              static_cast<long long>(gemmFlops), gemmSeconds * 1e3,
              gemmFlops / gemmSeconds / 1e9);
}

/// An instruction's key in a profile (ops::profileKey).
std::string profileKey(const Program &program, const Instruction &inst) {
  auto shapes = [&](const std::vector<int> &ids) {
    std::vector<std::vector<int64_t>> list;
    for (int id : ids)
      list.push_back(program.tensors[id].shape);
    return list;
  };
  return ckpt::ops::profileKey(inst.op, shapes(inst.inputs),
                               shapes(inst.outputs));
}

/// The mean time of each op kind and shape, as JSON, written whole or not
/// at all.
void writeProfile(const Program &program, const StepResult &result,
                  const std::string &path) {
  std::map<std::string, std::pair<double, int64_t>> byKey;
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    auto &entry = byKey[profileKey(program, program.instructions[i])];
    entry.first += result.instructionSeconds[i];
    ++entry.second;
  }
  std::ostringstream out;
  out << "{\n  \"schema\": \"" << ckpt::ops::kProfileFormatName
      << "\",\n  \"version\": 1,\n"
      << "  \"ops\": [";
  bool first = true;
  for (auto &[key, entry] : byKey) {
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.9g",
                  entry.first / static_cast<double>(entry.second));
    out << (first ? "\n" : ",\n") << "    {\"key\": \"" << key
        << "\", \"seconds\": " << seconds << ", \"count\": " << entry.second
        << "}";
    first = false;
  }
  out << "\n  ]\n}\n";
  std::string error;
  if (!ckpt::output::writeFile(path, out.str(), error))
    throw RuntimeError("cannot write the profile: " + error);
}

std::string fileName(const std::string &name) {
  std::string safe = name;
  for (char &c : safe)
    if (c == '/' || c == '\\')
      c = '_';
  return safe;
}

} // namespace

/// A rank's own folder under DIR when the program runs on several ranks.
std::string rankDir(const std::string &dir, const Communicator &comm) {
  return comm.size() > 1 ? dir + "/rank" + std::to_string(comm.rank()) : dir;
}

int runMain(int argc, char **argv, Communicator &comm);

/// Whether an MPI launcher (mpirun, mpiexec, srun) started this process.
/// Without one the step runs alone and MPI is never initialised, so
/// ckpt-run also runs where Open MPI's components are not installed (the
/// binaries that travel to a GPU machine: scripts/device-bundle.sh).
bool launchedByMpi() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name))
      return true;
  return false;
}

/// GNU OpenMP reads its wait settings once, as it loads, and by default
/// keeps an idle thread spinning for 300,000 rounds: on a loaded machine
/// the threads of one parallel region then wait on each other's time
/// slices, and a first step of milliseconds takes seconds. Sleeping at once
/// (OMP_WAIT_POLICY=passive) costs a wake-up per region instead: about 20 times
/// the steady step of a small model on an idle machine. ckpt-run spins
/// 10,000 rounds and then sleeps, unless the
/// environment chooses (OMP_WAIT_POLICY or GOMP_SPINCOUNT); setting it
/// takes starting again (docs/benchmarks.md, "Idle threads").
void boundSpinningUnlessChosen(char **argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT"))
    return;
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv("/proc/self/exe", argv);
  // Could not start again: run as started.
}

int main(int argc, char **argv) {
  boundSpinningUnlessChosen(argv);
  std::unique_ptr<Communicator> comm;
#ifdef CKPT_HAVE_MPI
  bool mpi = launchedByMpi();
  if (mpi) {
    MPI_Init(&argc, &argv);
    comm = makeMpiCommunicator();
  }
#endif
  if (!comm)
    comm = makeSingleProcessCommunicator();
  // Ranks share mpirun's output: each line leaves in one write (a pipe
  // keeps writes of up to PIPE_BUF bytes whole), never half a line that
  // another rank's line could split.
  if (comm->size() > 1) {
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
    std::setvbuf(stderr, nullptr, _IOLBF, BUFSIZ);
  }
  int code = runMain(argc, argv, *comm);
  // A rank that failed alone would leave the others in a collective, and
  // itself in MPI_Finalize: end the whole job instead.
  if (code != 0 && comm->size() > 1) {
    std::cerr.flush();
    std::fflush(nullptr);
    comm->abort(code);
  }
#ifdef CKPT_HAVE_MPI
  if (mpi)
    MPI_Finalize();
#endif
  return code;
}

/// The ranks' roles: a pipeline has one program per stage, stage i on ranks
/// [i·t, (i+1)·t); the tensor-parallel group is a stage's ranks, the
/// pipeline group one rank of each stage at the same tensor-parallel
/// position. NCCL joins with the rank's GPU current, so after the backend
/// chose it.
struct RankLayout {
  std::vector<Program> stagePrograms;
  int64_t stage = 0;
  std::unique_ptr<Communicator> stageGroup, pipelineGroup, nccl;
  Communicator *tensorParallel = nullptr;
  Communicator *collectives = nullptr;

  int64_t stages() const { return static_cast<int64_t>(stagePrograms.size()); }
  const Program &program() const { return stagePrograms[stage]; }
};

RankLayout layOutRanks(const Options &options, Communicator &comm) {
  RankLayout layout;
  layout.stagePrograms = loadPrograms(options.program);
  int64_t stages = layout.stages();
  int64_t t = layout.stagePrograms.front().tensorParallelSize;
  layout.tensorParallel = &comm;
  if (stages > 1) {
    if (comm.size() != stages * t)
      throw RuntimeError("the program has " + std::to_string(stages) +
                         " pipeline stages of " + std::to_string(t) +
                         " tensor-parallel ranks each: start it with "
                         "mpirun -np " +
                         std::to_string(stages * t) + " (runs on " +
                         std::to_string(comm.size()) + ")");
    layout.stage = comm.rank() / t;
    layout.stageGroup = comm.split(static_cast<int>(layout.stage), comm.rank());
    layout.pipelineGroup = comm.split(static_cast<int>(comm.rank() % t),
                                      static_cast<int>(layout.stage));
    layout.tensorParallel = layout.stageGroup.get();
  }
  layout.collectives = layout.tensorParallel;
  bool wantNccl = options.communicator == "nccl" ||
                  (options.communicator == "auto" &&
                   options.backend == "cuda" && comm.size() > 1);
  if (wantNccl) {
    if (options.backend != "cuda")
      throw RuntimeError("--communicator=nccl needs --backend=cuda");
    if (stages > 1)
      throw RuntimeError("pipeline stages run over MPI: use "
                         "--communicator=mpi");
    std::string error;
    layout.nccl = makeNcclCommunicator(error);
    if (!layout.nccl)
      throw RuntimeError(error);
    layout.collectives = layout.nccl.get();
  }
  return layout;
}

/// Parameters, tokens, labels and the loss mask: from files, or drawn.
void loadStepInputs(Executor &executor, const Program &program,
                    const Options &options, Communicator &tensorParallel) {
  if (options.params.empty()) {
    executor.initParameters(options.initSeed);
  } else {
    for (int id : program.parameters())
      loadInto(executor, id,
               rankDir(options.params, tensorParallel) + "/" +
                   fileName(program.tensors[id].name) + ".npy");
  }
  if (options.tokens.empty() != options.labels.empty())
    throw RuntimeError("give both --tokens and --labels, or neither");
  if (options.tokens.empty()) {
    executor.initInputs(options.initSeed);
  } else if (program.pipeline) {
    throw RuntimeError("a pipelined step draws its micro-batches' tokens "
                       "and labels itself; --tokens and --labels give one");
  } else {
    loadInto(executor, program.tokens, options.tokens);
    loadInto(executor, program.labels, options.labels);
  }
  if (!options.lossMask.empty()) {
    if (program.pipeline)
      throw RuntimeError("a pipelined step draws its micro-batches' labels "
                         "itself; --loss-mask masks one");
    applyLossMask(executor, options.lossMask);
  }
}

/// What the step gave: the loss, the gradient norms, the times and the
/// memory, which must be the planned (a mismatch throws).
void printStepReport(const Options &options, const RankLayout &layout,
                     Executor &executor, const StepResult &result,
                     double fastest, Communicator &comm) {
  const Program &program = layout.program();
  int64_t stages = layout.stages(), stage = layout.stage;
  Communicator *pipelineGroup = layout.pipelineGroup.get();
  if (comm.size() > 1)
    std::printf("rank %d of %d (%s)%s\n", comm.rank(), comm.size(),
                comm.name().c_str(),
                stages > 1 ? (", pipeline stage " + std::to_string(stage) +
                              " of " + std::to_string(stages))
                                 .c_str()
                           : "");
  std::printf("program: %s (@%s, %zu instructions, %zu parameters)\n",
              options.program.c_str(), program.function.c_str(),
              program.instructions.size(), program.parameters().size());
  if (program.pipeline) {
    // The loss is on the last stage: every rank prints it.
    double loss = result.loss;
    if (pipelineGroup)
      pipelineGroup->allReduceSum(&loss, 1);
    // Each micro-batch's loss is already over the micro-batches.
    std::printf("loss: %.9g (mean of %lld micro-batches)\n", loss,
                static_cast<long long>(program.pipeline->microBatches));
  } else {
    std::printf("loss: %.9g\n", result.loss);
  }
  std::printf("gradient norms:\n");
  for (const GradientOutput &g : program.gradients) {
    double sum = 0;
    for (double v : executor.getTensor(g.gradient))
      sum += v * v;
    std::printf("  %-56s %.6e\n", program.tensors[g.parameter].name.c_str(),
                std::sqrt(sum));
  }
  if (options.repeat > 1) {
    std::printf("first step: %.3f ms (with one-time setup)\n",
                result.seconds * 1e3);
    std::printf("step time: %.3f ms (fastest of the %d steps after the "
                "first)\n",
                fastest * 1e3, options.repeat - 1);
  } else {
    std::printf("step time: %.3f ms (the first step, with one-time setup; "
                "--repeat=N for the steady step)\n",
                fastest * 1e3);
  }
  std::printf("memory: parameters and inputs %lld bytes; peak of "
              "activations, temporaries and gradients %lld bytes\n",
              static_cast<long long>(result.memory.parameterBytes),
              static_cast<long long>(result.memory.peakBytes));

  if (result.memory.arena) {
    bool exact = result.memory.arenaBytes == program.arenaBytes &&
                 result.memory.arenaPeakBytes == program.plannedPeakBytes;
    std::printf("arena: %lld bytes (planned %lld); measured peak %lld bytes "
                "(planned %lld)%s\n",
                static_cast<long long>(result.memory.arenaBytes),
                static_cast<long long>(program.arenaBytes),
                static_cast<long long>(result.memory.arenaPeakBytes),
                static_cast<long long>(program.plannedPeakBytes),
                exact ? "" : "  MISMATCH");
    if (!exact)
      throw RuntimeError("the measured memory differs from the plan");
  } else if (program.arenaBytes >= 0) {
    std::printf("arena: not used (every tensor allocated on its own); "
                "measured peak %lld bytes (planned %lld)\n",
                static_cast<long long>(result.memory.arenaPeakBytes),
                static_cast<long long>(program.plannedPeakBytes));
  }
}

/// The parameters (--save-params) and gradients (--dump-grads), one file
/// each per rank.
void writeStepOutputs(const Options &options, const RankLayout &layout,
                      Executor &executor) {
  const Program &program = layout.program();
  int64_t stage = layout.stage;
  const std::vector<Program> &stagePrograms = layout.stagePrograms;
  Communicator &tensorParallel = *layout.tensorParallel;
  // A parameter two stages hold (the tied word embedding) has the same
  // value and gradient on both: the first of them writes it.
  auto heldEarlier = [&](const std::string &name) {
    for (int64_t other = 0; other < stage; ++other)
      for (int id : stagePrograms[other].parameters())
        if (stagePrograms[other].tensors[id].name == name)
          return true;
    return false;
  };
  if (!options.saveParams.empty()) {
    std::string dir = rankDir(options.saveParams, tensorParallel);
    std::filesystem::create_directories(dir);
    for (int id : program.parameters())
      if (!heldEarlier(program.tensors[id].name))
        writeNpy(dir + "/" + fileName(program.tensors[id].name) + ".npy",
                 program.tensors[id].shape, executor.getTensor(id),
                 options.precision == Precision::F64);
  }
  if (!options.dumpGrads.empty()) {
    std::string dumpDir = rankDir(options.dumpGrads, tensorParallel);
    std::filesystem::create_directories(dumpDir);
    for (const GradientOutput &g : program.gradients)
      if (!heldEarlier(program.tensors[g.parameter].name))
        writeNpy(dumpDir + "/" + fileName(program.tensors[g.parameter].name) +
                     ".npy",
                 program.tensors[g.gradient].shape,
                 executor.getTensor(g.gradient),
                 options.precision == Precision::F64);
    std::printf("gradients written to %s/\n", dumpDir.c_str());
  }
}

int runMain(int argc, char **argv, Communicator &comm) {
  Options options = parseArguments(argc, argv);
  try {
    std::string error;
    std::unique_ptr<Backend> backend = createBackend(options.backend, error);
    if (!backend)
      throw RuntimeError(error);
    backend->setThreads(options.threads);
    RankLayout layout = layOutRanks(options, comm);
    const Program &program = layout.program();
    ExecutorOptions execOptions;
    execOptions.backend = backend.get();
    execOptions.seed = options.seed;
    execOptions.precision = options.precision;
    execOptions.profile = options.profile;
    execOptions.useArena = !options.noArena;
    // The budget solver looks an op's time up by the op the IR has.
    execOptions.fuse = !options.noFuse && options.profileFile.empty();
    execOptions.communicator = layout.collectives;
    execOptions.pipeline = layout.pipelineGroup.get();
    Executor executor(program, execOptions);
    loadStepInputs(executor, program, options, *layout.tensorParallel);

    // The first step pays for one-time work (threads starting, GEMM
    // primitives chosen and created); the steady step is the fastest of
    // the later ones, reported apart.
    StepResult result = executor.run();
    StepResult best = result;
    for (int i = 1; i < options.repeat; ++i) {
      StepResult again = executor.run();
      if (i == 1 || again.seconds < best.seconds)
        best = again;
    }
    double fastest = best.seconds;

    printStepReport(options, layout, executor, result, fastest, comm);
    if (options.profile)
      printProfile(executor.program(), best);
    if (!options.profileFile.empty() && comm.rank() == 0)
      writeProfile(executor.program(), best, options.profileFile);
    writeStepOutputs(options, layout, executor);
  } catch (const std::bad_alloc &) {
    std::string message = "ckpt-run: error: '" + options.program +
                          "': out of memory: this machine cannot hold the "
                          "step's parameters and tensors (a smaller "
                          "micro-batch, or a memory plan, may fit)\n";
    std::fputs(message.c_str(), stderr);
    return 1;
  } catch (const std::exception &e) {
    // ProgramError, RuntimeError and the library's own: under several
    // ranks, say which one failed.
    // One write, so that the message of mpirun's abort, printed by
    // another process, cannot land inside it.
    std::string message = "ckpt-run: error";
    if (comm.size() > 1)
      message += " (rank " + std::to_string(comm.rank()) + " of " +
                 std::to_string(comm.size()) + ")";
    message += std::string(": ") + e.what() + "\n";
    std::fwrite(message.data(), 1, message.size(), stderr);
    std::fflush(stderr);
    return 1;
  }
  return 0;
}
