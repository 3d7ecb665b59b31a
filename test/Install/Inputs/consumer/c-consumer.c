/* The installed C API from C: compile a config, print what came back. */
#include "ckpt-c/Compiler.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  static char config[1 << 16];
  FILE *file = argc == 2 ? fopen(argv[1], "rb") : NULL;
  if (!file)
    return 2;
  size_t length = fread(config, 1, sizeof(config) - 1, file);
  fclose(file);
  CkptCompileResult *result =
      ckptCompile(config, length, argv[1], "recompute-granularity=full "
                  "recompute-method=uniform recompute-num-layers=1", NULL);
  int ok = ckptResultSucceeded(result);
  printf("c api %s: %s, program of %zu bytes\n", ckptVersion(),
         ok ? "compiled" : "failed", strlen(ckptResultProgram(result)));
  printf("%s", ckptResultMessages(result));
  ckptResultDestroy(result);
  return ok ? 0 : 1;
}
