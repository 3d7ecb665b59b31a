//===- SingleProcess.cpp - The communicator of one rank -------------------===//

#include "ckpt/runtime/Communicator.h"

#include <cstdlib>

#include <algorithm>

using namespace ckpt::rt;

namespace {
class SingleProcess final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single process"; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
  void allReduceSum(float *, int64_t) override {}
  void allReduceSum(double *, int64_t) override {}
  void allGather(const float *in, float *out, int64_t n) override {
    std::copy(in, in + n, out);
  }
  void allGather(const double *in, double *out, int64_t n) override {
    std::copy(in, in + n, out);
  }
  void reduceScatter(const float *in, float *out, int64_t n) override {
    std::copy(in, in + n, out);
  }
  void reduceScatter(const double *in, double *out, int64_t n) override {
    std::copy(in, in + n, out);
  }
};
} // namespace

std::unique_ptr<Communicator> ckpt::rt::makeSingleProcessCommunicator() {
  return std::make_unique<SingleProcess>();
}
