/*===- ckpt-capi-test.c - The C API, used from C --------------------------===*\
|*                                                                            *|
|* Dialect handles and passes through MLIR's C API, then the stable pipeline *|
|* API on a config: its outputs, and errors as located messages.             *|
|* test/CAPI/capi.test checks what this prints.                              *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "ckpt-c/Dialects.h"
#include "ckpt-c/Compiler.h"

#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kForward =
    "func.func @forward(%tokens: tensor<1x2xi32> {xf.role = \"tokens\"},\n"
    "    %labels: tensor<1x2xi32> {xf.role = \"labels\"},\n"
    "    %wte: tensor<8x4xf32> {xf.role = \"parameter\", xf.name = \"wte\"},\n"
    "    %w: tensor<4x4xf32> {xf.role = \"parameter\", xf.name = \"w\"})\n"
    "    -> tensor<f32> {\n"
    "  %h = xf.embedding %tokens, %wte : (tensor<1x2xi32>, tensor<8x4xf32>)"
    " -> tensor<2x1x4xf32>\n"
    "  %y = xf.linear %h, %w {xf.layer = 0 : i64}"
    " : (tensor<2x1x4xf32>, tensor<4x4xf32>)"
    " -> tensor<2x1x4xf32>\n"
    "  %g = xf.gelu %y {xf.layer = 0 : i64} : tensor<2x1x4xf32>\n"
    "  %l = xf.linear %g, %wte : (tensor<2x1x4xf32>, tensor<8x4xf32>)"
    " -> tensor<2x1x8xf32>\n"
    "  %loss, %probs = xf.cross_entropy %l, %labels : (tensor<2x1x8xf32>,"
    " tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x8xf32>)\n"
    "  return %loss : tensor<f32>\n"
    "}\n";

static void printToFile(MlirStringRef text, void *file) {
  fwrite(text.data, 1, text.length, (FILE *)file);
}

/* The dialects by handle, the passes by name, through MLIR's C API. */
static int dialectsAndPasses(void) {
  MlirContext context = mlirContextCreate();
  MlirDialectHandle xf = mlirGetDialectHandle__xf__();
  MlirStringRef ns = mlirDialectHandleGetNamespace(xf);
  printf("dialect handle: %.*s\n", (int)ns.length, ns.data);
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  ckptRegisterAllDialects(registry);
  mlirContextAppendDialectRegistry(context, registry);
  mlirDialectRegistryDestroy(registry);
  mlirContextLoadAllAvailableDialects(context);

  MlirModule module =
      mlirModuleCreateParse(context, mlirStringRefCreateFromCString(kForward));
  if (mlirModuleIsNull(module)) {
    printf("parse failed\n");
    return 1;
  }
  ckptRegisterPasses();
  ckptRegisterPasses(); /* idempotent */
  MlirPassManager pm = mlirPassManagerCreate(context);
  MlirOpPassManager top = mlirPassManagerGetAsOpPassManager(pm);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      top,
      mlirStringRefCreateFromCString(
          "builtin.module(xf-training-step,ckpt-remat{recompute-granularity="
          "full recompute-method=uniform recompute-num-layers=1})"),
      printToFile, stderr);
  if (mlirLogicalResultIsFailure(parsed) ||
      mlirLogicalResultIsFailure(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module)))) {
    printf("passes failed\n");
    return 1;
  }
  /* The step's first op after the passes, and a recompute region in it. */
  MlirOperation step = mlirBlockGetFirstOperation(mlirModuleGetBody(module));
  MlirIdentifier name = mlirOperationGetName(step);
  MlirStringRef stepName = mlirIdentifierStr(name);
  MlirAttribute sym = mlirOperationGetAttributeByName(
      step, mlirStringRefCreateFromCString("sym_name"));
  MlirStringRef symName = mlirStringAttrGetValue(sym);
  printf("after the passes: %.*s @%.*s\n", (int)stepName.length, stepName.data,
         (int)symName.length, symName.data);
  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(context);
  return 0;
}

static char *readFile(const char *path, size_t *length) {
  FILE *file = fopen(path, "rb");
  if (!file)
    return NULL;
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  *length = fread(text, 1, (size_t)size, file);
  text[*length] = 0;
  fclose(file);
  return text;
}

/* One compile: whether it succeeded, the sizes of its outputs, messages. */
static void compile(const char *label, const char *config, size_t length,
                    const char *policy, const char *overrides) {
  CkptCompileResult *result =
      ckptCompile(config, length, "model.json", policy, overrides);
  printf("%s: %s\n", label,
         ckptResultSucceeded(result) ? "succeeded" : "failed");
  if (ckptResultSucceeded(result)) {
    printf(
        "  program %s, report JSON %s, table %s, svg %s, module %s, "
        "recompute %s, plan %s\n",
        strstr(ckptResultProgram(result), "\"format\": \"ckpt-program\"")
            ? "yes"
            : "no",
        strstr(ckptResultReportJson(result), "\"schema\": \"ckpt-report\"")
            ? "yes"
            : "no",
        strstr(ckptResultReportTable(result), "Activation report") ? "yes"
                                                                   : "no",
        strncmp(ckptResultTimelineSvg(result), "<svg", 4) == 0 ? "yes" : "no",
        strstr(ckptResultModule(result), "func.func @train_step") ? "yes"
                                                                  : "no",
        strstr(ckptResultReportTable(result), "recompute regions") ? "yes"
                                                                   : "no",
        strstr(ckptResultPlacementPlan(result), "\"placement\": \"recompute\"")
            ? "recomputes"
            : "keeps all");
  }
  printf("%s", ckptResultMessages(result));
  ckptResultDestroy(result);
}

/* Passes by name on the imported config: the policy comparison written as
 * JSON to `json`, no table on stderr. */
static void runPasses(const char *config, size_t length, const char *json) {
  char passes[4096];
  snprintf(passes, sizeof(passes),
           "xf-training-step,ckpt-compare-policies{json=%s table=false}", json);
  CkptCompileResult *result =
      ckptRunPasses(config, length, "model.json", passes, NULL);
  printf("passes: %s, module %s\n",
         ckptResultSucceeded(result) ? "succeeded" : "failed",
         strstr(ckptResultModule(result), "func.func @train_step") ? "yes"
                                                                   : "no");
  ckptResultDestroy(result);
  result = ckptRunPasses(config, length, "model.json", "no-such-pass", NULL);
  printf("unknown pass: %s\n%s",
         ckptResultSucceeded(result) ? "succeeded" : "failed",
         ckptResultMessages(result));
  ckptResultDestroy(result);
  /* In memory: the report is kept in the result, under the name given, and
   * no file of that name appears. */
  result = ckptRunPassesInMemory(
      config, length, "model.json",
      "xf-training-step,ckpt-compare-policies{json=kept-in-memory.json "
      "table=false}",
      NULL);
  const char *kept = ckptResultOutput(result, "kept-in-memory.json");
  FILE *file = fopen("kept-in-memory.json", "r");
  printf("in memory: %s, report %s, file %s, other name %s\n",
         ckptResultSucceeded(result) ? "succeeded" : "failed",
         kept && strstr(kept, "\"policies\"") ? "yes" : "no",
         file ? "written" : "not written",
         ckptResultOutput(result, "other.json") ? "found" : "null");
  if (file)
    fclose(file);
  ckptResultDestroy(result);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ckpt-capi-test CONFIG.json COMPARISON.json\n");
    return 2;
  }
  printf("version %s\n", ckptVersion());
  if (dialectsAndPasses())
    return 1;
  size_t length = 0;
  char *config = readFile(argv[1], &length);
  if (!config)
    return 1;
  compile("selective", config, length, "recompute-granularity=selective",
          "seq-length=8 micro-batch-size=1");
  compile("no plan", config, length,
          "recompute-granularity=none plan-memory=false", NULL);
  compile("no plan, config's policy", config, length, "plan-memory=false",
          NULL);
  compile("config's policy", config, length, NULL, NULL);
  compile("bad policy", config, length, "recompute-granularity=some", NULL);
  compile("bad override", config, length, "", "seq-length=eight");
  const char *bad = "{\"num_layers\": -2, \"hidden_size\": 32}";
  compile("bad config", bad, strlen(bad), "", NULL);
  compile("no config", NULL, 0, "", NULL);
  runPasses(config, length, argv[2]);
  free(config);
  return 0;
}
