//===- Passes.td - ckpt-opt passes -------------------------*- tablegen -*-===//

#ifndef CKPT_TRANSFORMS_PASSES_TD
#define CKPT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def XFTrainingStep : Pass<"xf-training-step", "mlir::ModuleOp"> {
  let summary = "Build the training step: forward, loss, backward and the "
                "gradient of every parameter";
  let description = [{
    Replaces `func.func @forward(tokens, labels, parameters...) -> loss` with
    `func.func @train_step(...) -> (loss, gradients...)`. The forward ops are
    kept as they are; the backward follows them, in reverse order, emitted
    op by op through `DifferentiableOpInterface`. Backward ops carry
    `xf.phase = "backward"` and the layer and module tags of the forward op
    they differentiate; a value used by several ops gets its gradient
    contributions summed with `xf.add`. Arguments with `xf.role =
    "parameter"` (or, without roles, every floating-point argument) get a
    gradient result tagged `xf.grad_of` with the parameter's name. The pass
    checks that every op's gradient reads only the forward values its
    interface declares, which makes the kept set exact.
  }];
  let options = [
    Option<"forwardName", "forward", "std::string", "\"forward\"",
           "Name of the forward function to differentiate">,
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function to create">,
  ];
  let dependentDialects = ["::ckpt::xf::XFDialect", "::ckpt::CkptDialect",
                           "::mlir::func::FuncDialect"];
}

def CkptReport : Pass<"ckpt-report", "mlir::ModuleOp"> {
  let summary = "Report the activations kept for the backward, per layer and "
                "module, and the step's FLOPs";
  let description = [{
    Analyses the training step: every value computed by a forward op and read
    by a backward (or recompute) op is kept for the backward. Prints a table
    on stderr (stdout carries IR only, as with MLIR's other reporting
    passes); `json=FILE` also writes the report as JSON (schema in
    docs/report.md). Bytes are elements times element size, one byte per
    dropout-mask element. A layer's kept bytes leave out the layer-norm
    statistics (mean and inverse deviation, f32 per row), which have their
    own line, so they compare directly with Korthikanti et al.'s formula.
  }];
  // Its other options come from the option table (Options.def).
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function to analyse">,
  ];
}

def CkptRemat : Pass<"ckpt-remat", "mlir::ModuleOp"> {
  let summary = "Apply a recompute policy (Megatron-LM's semantics) to the "
                "training step";
  let description = [{
    Discards forward values and recomputes them in `ckpt.recompute` regions
    placed before their first backward reader (docs/policies.md):
    `selective` recomputes `recompute-modules` (default `core_attn`) in every
    layer; `full` + `uniform` recomputes chunks of `recompute-num-layers`
    layers from each chunk's input; `full` + `block` checkpoints each of the
    first `recompute-num-layers` layers. Forward ops annotated
    `ckpt.remat = "recompute"` are recomputed whatever the policy; ops
    annotated `"save"` keep their results. The producers of discarded
    values are marked `ckpt.remat = "recompute"` and the result is checked
    as by `--ckpt-verify-remat`. The pass builds the step graph, lets the
    policy named by `policy` decide a remat plan from it, and applies the
    plan with one rewrite that serves every policy (docs/architecture.md).
    `save-plan=FILE` writes the decision as a placement plan, and
    `plan=FILE` applies such a file as a policy of its own
    (docs/plan-format.md).
  }];
  // The policy's options come from the option table (Options.def), which
  // every front end reads; the pass declares them from it.
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
  let constructor = "::ckpt::createCkptRemat()";
  let dependentDialects = ["::ckpt::CkptDialect"];
}

def CkptVerifyRemat : Pass<"ckpt-verify-remat", "mlir::ModuleOp"> {
  let summary = "Check that no backward op reads a discarded forward value";
  let description = [{
    Fails at every backward op that reads a result of a forward op marked
    `ckpt.remat = "recompute"`: such a value must come from a
    `ckpt.recompute` region.
  }];
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
}

def CkptComparePolicies : Pass<"ckpt-compare-policies", "mlir::ModuleOp"> {
  let summary = "Compare recompute policies on one training step";
  let description = [{
    Applies each policy to a copy of the training step and prints one row per
    policy: kept activations, memory saved against no recompute, the
    transient of the largest recompute region, and the recompute FLOPs as a
    share of the step's (all FLOPs, and matrix multiplies alone, which is
    what Korthikanti et al. count), on stderr. `json=FILE` writes the same
    as JSON. The IR is left unchanged.
  }];
  // Its other options come from the option table (Options.def).
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
  let dependentDialects = ["::ckpt::CkptDialect"];
}

def CkptPareto : Pass<"ckpt-pareto", "mlir::ModuleOp"> {
  let summary = "Memory budget against recompute cost, from the lowest peak to keeping all";
  let description = [{
    Runs the memory-budget solver at `points` budgets spread evenly from the
    lowest planned peak it reaches to the arena that keeps everything, and
    prints each budget's plan (planned arena, recompute FLOPs, overhead over
    the step's forward + backward FLOPs) with Megatron's presets on the same
    table, on stderr. `json=FILE` and `svg=FILE` write it as JSON and as a
    plot. `distribute-saved-activations=true` draws the frontier of plans
    that keep their regions' inputs as 1/t shards (a tensor-parallel graph
    without sequence parallelism). The IR is left unchanged.
  }];
  // Its other options come from the option table (Options.def).
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
  let dependentDialects = ["::ckpt::CkptDialect"];
}

def CkptSchedule : Pass<"ckpt-schedule", "mlir::ModuleOp"> {
  let summary = "Order the training step for low peak memory";
  let description = [{
    Gives the step the order the memory planner and the runtime follow: the
    forward, then the backward in reverse layer order (as built by
    --xf-training-step), with every recompute region moved to just before its
    first reader so that recomputed values live as briefly as possible, and
    every other op kept in place (a deterministic order). Values are freed
    after their last use by the planner's liveness.
  }];
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
}

def CkptPipelineSchedule : Pass<"ckpt-pipeline-schedule", "mlir::ModuleOp"> {
  let summary = "Run a pipeline stage's micro-batches in its schedule";
  let description = [{
    On a module with `ckpt.pipeline = {stage, stages, virtual_stages,
    micro_batches}`: rewrites the training step of one micro-batch into the
    stage's whole step, the forward and backward of each model chunk
    (`ckpt.chunk`) copied once per micro-batch (`ckpt.micro_batch`) in the
    order of the stage's schedule: 1F1B (warm-up of min(p - i - 1, m)
    forwards, then one forward and one backward, then the cool-down), or
    Megatron's interleaved schedule when v > 1. Each micro-batch has its own
    tokens and labels and its own dropout streams (`rng_stream` + j·2^20).
    Parameter gradients are accumulated over the micro-batches in order,
    each contribution of a parameter used twice on its own (`ckpt.grad_sum`);
    a word embedding shared with another stage (`ckpt.tied_stage`) then
    adds that stage's gradient. The loss is the sum of the micro-batches'.
    A module without `ckpt.pipeline` is left alone.
  }];
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
  let dependentDialects = ["::ckpt::CkptDialect"];
}

def CkptPlanMemory : Pass<"ckpt-plan-memory", "mlir::ModuleOp"> {
  let summary = "Plan every tensor of the training step into one arena";
  let description = [{
    Liveness of every tensor over the schedule (regions flattened, as the
    runtime runs them); an offset in one arena for every activation,
    recomputed value and temporary (the best greedy packing, then, when it
    is above the lower bound, the exact search within `plan-search-work`
    steps; `search-work` is its older spelling);
    parameters, inputs, gradients and the loss live in the
    persistent region. Writes `ckpt.offsets` (per result, -1 outside the
    arena) on every op and `ckpt.memory = {arena_bytes, peak_bytes}` on the
    function, and checks the plan as --ckpt-verify-plan does.
  }];
  // Its other options come from the option table (Options.def).
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
    Option<"deterministic", "deterministic", "bool", "true",
           "Bound the offset search by work, not the clock, so that a step "
           "always gets the same plan (what the memory-budget solver "
           "checked)">,
  ];
}

def CkptVerifyPlan : Pass<"ckpt-verify-plan", "mlir::ModuleOp"> {
  let summary = "Check that no two tensors live at the same time overlap";
  // Its other options come from the option table (Options.def).
  let options = [
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function">,
  ];
}

#endif // CKPT_TRANSFORMS_PASSES_TD
