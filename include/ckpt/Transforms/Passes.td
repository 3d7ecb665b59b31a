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
  let dependentDialects = ["::ckpt::xf::XFDialect", "::mlir::func::FuncDialect"];
}

def CkptReport : Pass<"ckpt-report", "mlir::ModuleOp"> {
  let summary = "Report the activations kept for the backward, per layer and "
                "module, and the step's FLOPs";
  let description = [{
    Analyses the training step: every value computed by a forward op and read
    by a backward (or recompute) op is kept for the backward. Prints a table
    on stdout; `json=FILE` also writes the report as JSON (schema in
    docs/report.md). Bytes are elements times element size, one byte per
    dropout-mask element. A layer's kept bytes leave out the layer-norm
    statistics (mean and inverse deviation, f32 per row), which have their
    own line, so they compare directly with Korthikanti et al.'s formula.
  }];
  let options = [
    Option<"jsonFile", "json", "std::string", "\"\"",
           "Also write the report as JSON to this file">,
    Option<"printTable", "table", "bool", "true",
           "Print the readable table on stdout">,
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "Name of the training-step function to analyse">,
  ];
}

#endif // CKPT_TRANSFORMS_PASSES_TD
