# -*- Python -*-
# lit configuration of the ckpt-opt regression tests.

import os
import sys

import lit.formats
from lit.llvm import llvm_config

config.name = "ckpt-opt"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ckpt_obj_root, "test")
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit"]

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

config.substitutions.append(("%examples", os.path.join(config.ckpt_src_root, "examples")))
config.substitutions.append(("%srcroot", config.ckpt_src_root))
config.substitutions.append(("%objroot", config.ckpt_obj_root))
config.substitutions.append(("%python", sys.executable))
# Debian's own mlir-opt and the plugin it loads (lib/Plugin). A sanitizer
# build has no plugin: instrumented code cannot load into the uninstrumented
# host.
if config.ckpt_sanitize not in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("mlir-opt-plugin")
# Tests that drop to an unprivileged user (setpriv) need to start as root.
if hasattr(os, "geteuid") and os.geteuid() == 0:
    config.available_features.add("root")
config.substitutions.append(("%upstream-mlir-opt", os.path.join(config.llvm_tools_dir, "mlir-opt")))
config.substitutions.append(("%ckpt-plugin", os.path.join(config.ckpt_obj_root, "lib", "CkptPlugin.so")))

tool_dirs = [config.ckpt_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["ckpt-opt", "ckpt-translate", "ckpt-run", "ckpt-dsa", "ckpt-compile", "ckpt-capi-test", "ckpt-fuzz-replay-config", "ckpt-fuzz-replay-program", "ckpt-fuzz-replay-dsa"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.ckpt_tools_dir, append_path=True)
