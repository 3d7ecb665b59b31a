//===- SingleProcess.cpp - The communicator of one rank -------------------===//

#include "ckpt/runtime/Communicator.h"

#include <cstdlib>

#include <algorithm>
#include <stdexcept>
#include <string>

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
  // One rank has no peer: a program that sends is built for more ranks,
  // which the runtime refuses before it runs.
  void send(const float *, int64_t, int peer) override { noPeer(peer); }
  void send(const double *, int64_t, int peer) override { noPeer(peer); }
  void recv(float *, int64_t, int peer) override { noPeer(peer); }
  void recv(double *, int64_t, int peer) override { noPeer(peer); }
  std::unique_ptr<Communicator> split(int, int) override {
    return std::make_unique<SingleProcess>();
  }

private:
  [[noreturn]] static void noPeer(int peer) {
    throw std::runtime_error("a single process has no rank " +
                             std::to_string(peer) + " to exchange with");
  }
};
} // namespace

std::unique_ptr<Communicator> ckpt::rt::makeSingleProcessCommunicator() {
  return std::make_unique<SingleProcess>();
}
