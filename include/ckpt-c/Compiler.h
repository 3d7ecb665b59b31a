/*===- Compiler.h - The compiler library as a small stable C API ----------===*\
|*                                                                            *|
|* Config text in; the program, the report (JSON and table), the memory      *|
|* timeline (SVG) and the planned IR out; every problem as located messages. *|
|* Plain C types only, no MLIR: the base for other languages. Nothing here   *|
|* aborts or throws; every string stays valid until the result is destroyed. *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef CKPT_C_COMPILER_H
#define CKPT_C_COMPILER_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library, "MAJOR.MINOR.PATCH". */
const char *ckptVersion(void);

/* Every option of the option table that all front ends read, as one JSON
 * array (docs/user-guide.md, "One options layer"): for each, "name",
 * "kind" (text, file, bytes, choice, integer, real, flag, list), "default",
 * "choices" (a choice's values), "help", "chooses_policy" and "scopes"
 * (the front ends that take it: "compile" is ckptCompile's `policy` text,
 * "remat" --ckpt-remat, "pareto" --ckpt-pareto, ...). The string lives as
 * long as the library. */
const char *ckptOptionTable(void);

typedef struct CkptCompileResult CkptCompileResult;

/* Compiles the model config `config` (`length` bytes of JSON; Megatron or
 * Hugging Face names) named `name` in messages.
 *
 * `policy`: the options of ckpt-opt's --ckpt-compile, as its text
 * ("recompute-granularity=selective", "memory-budget=40GiB",
 * "plan-memory=false", ...); NULL or "" applies the config's own recompute
 * fields, or none.
 * `overrides`: import flags as "key=value" words separated by spaces:
 * seq-length, micro-batch-size, tensor-model-parallel-size,
 * sequence-parallel (true|false), attention-backend (flash|unfused),
 * dtype (f32|bf16|f16); NULL or "" for none.
 *
 * Returns a result to read and then destroy; NULL only when out of memory. */
CkptCompileResult *ckptCompile(const char *config, size_t length,
                               const char *name, const char *policy,
                               const char *overrides);

/* Imports the config as ckptCompile does, then runs `passes` on the module,
 * a pass list as ckpt-opt would take it
 * ("xf-training-step,ckpt-compare-policies{json=out.json table=false}").
 * The result holds the IR after the passes (ckptResultModule) and the
 * messages; passes that write files write them. */
CkptCompileResult *ckptRunPasses(const char *config, size_t length,
                                 const char *name, const char *passes,
                                 const char *overrides);

/* As ckptRunPasses, but what the passes write to files (json=, svg=,
 * save-plan=) is kept in the result instead, under the name the passes
 * were given (ckptResultOutput): no file is written. The capture is the
 * process's while the call runs: make one such call at a time. */
CkptCompileResult *ckptRunPassesInMemory(const char *config, size_t length,
                                         const char *name, const char *passes,
                                         const char *overrides);

/* Whether the call succeeded; the strings below are empty if not. */
bool ckptResultSucceeded(const CkptCompileResult *result);
/* Every diagnostic, one per line, "name:line:column: error: message"
 * (warnings too); "" when there were none. */
const char *ckptResultMessages(const CkptCompileResult *result);
/* The program file for ckpt-run (JSON, docs/program-format.md). */
const char *ckptResultProgram(const CkptCompileResult *result);
/* The report as JSON (docs/report.md) and as the readable table. */
const char *ckptResultReportJson(const CkptCompileResult *result);
const char *ckptResultReportTable(const CkptCompileResult *result);
/* The memory timeline (SVG); "" without a memory plan. */
const char *ckptResultTimelineSvg(const CkptCompileResult *result);
/* The placement plan the policy decided (JSON, docs/plan-format.md), to
 * save and apply with "plan=FILE"; a pipeline compiled stage by stage has
 * one plan per stage in it. */
const char *ckptResultPlacementPlan(const CkptCompileResult *result);
/* The planned training step's IR (MLIR text). */
const char *ckptResultModule(const CkptCompileResult *result);

/* What a pass of ckptRunPassesInMemory wrote to `path`, or NULL when
 * nothing was written there. */
const char *ckptResultOutput(const CkptCompileResult *result, const char *path);

void ckptResultDestroy(CkptCompileResult *result);

#ifdef __cplusplus
}
#endif

#endif /* CKPT_C_COMPILER_H */
