/*===- Dialects.h - The xf and ckpt dialects and passes in MLIR's C API ---===*\
|*                                                                            *|
|* Dialect handles in MLIR's style, for tools written against MLIR's C API   *|
|* (mlir-c/IR.h): register or load them into an MlirContext, and register    *|
|* the passes by name for mlirParsePassPipeline.                             *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef CKPT_C_DIALECTS_H
#define CKPT_C_DIALECTS_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mlirGetDialectHandle__xf__() and mlirGetDialectHandle__ckpt__(). */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(XF, xf);
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Ckpt, ckpt);

/* Inserts both dialects (and func, which their graphs live in). */
MLIR_CAPI_EXPORTED void ckptRegisterAllDialects(MlirDialectRegistry registry);

/* Registers every pass (--xf-training-step, --ckpt-remat, ...) and the
 * --ckpt-compile pipeline with MLIR's global registry; idempotent. */
MLIR_CAPI_EXPORTED void ckptRegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif /* CKPT_C_DIALECTS_H */
