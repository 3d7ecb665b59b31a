# The two commands of the README:
#   make run    import the bundled example and show what ckpt-opt does with it
#   make test   build everything and run every test (lit, GoogleTest and the
#               Python package's pytest, in a virtual environment)
# Both install missing Debian packages first (scripts/install-deps.sh).

BUILD_DIR ?= build
JOBS ?= 2
LLVM_PREFIX ?= /usr/lib/llvm-19
LIT ?= $(LLVM_PREFIX)/build/utils/lit/lit.py
EXAMPLE ?= examples/tiny-gpt.json

SANITIZE_DIR ?= build-sanitize

PREFIX ?= /usr/local

.PHONY: run test test-sanitize build deps configure docs format check-format bench clean install compare-transformers

run: build
	@scripts/run-example.sh $(BUILD_DIR) $(EXAMPLE)

# Tests labelled `cuda` need a GPU: scripts/device-check.sh runs them.
test: build
	python3 $(LIT) -sv $(BUILD_DIR)/test
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE cuda
	scripts/test-python.sh $(BUILD_DIR)

build: configure
	ninja -C $(BUILD_DIR) -j $(JOBS)

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja \
	    -DCMAKE_BUILD_TYPE=Release \
	    -DMLIR_DIR=$(LLVM_PREFIX)/lib/cmake/mlir \
	    -DLLVM_EXTERNAL_LIT=$(LIT); \
	fi

deps:
	@scripts/install-deps.sh

# Libraries, headers, TableGen files, tools and the CMake package
# (find_package(CkptOpt); docs/embedding.md) under $(PREFIX).
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# Every test again, built with AddressSanitizer and UndefinedBehaviorSanitizer
# (scripts/test-sanitize.sh says which options the run uses and why).

test-sanitize: deps
	@scripts/test-sanitize.sh $(SANITIZE_DIR) $(JOBS) $(LLVM_PREFIX)

# Regenerates docs/dialects/xf.md from ODS.
docs: configure
	ninja -C $(BUILD_DIR) ckpt-docs

format:
	@scripts/check-format.sh --fix

check-format:
	@scripts/check-format.sh

bench: build
	$(BUILD_DIR)/bin/ckpt-import-bench

# Every gradient against transformers' models in f64 (installs torch and
# transformers into their own venv; not part of `make test`).
compare-transformers: build
	scripts/compare-transformers.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
