//===- Mpi.cpp - Collectives over MPI -------------------------------------===//
//
// The reductions use MPI's own algorithms; for a fixed number of ranks and
// message sizes Open MPI picks the same algorithm every time, so a rank's
// results are reproducible run to run (the tests check this bit for bit).
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Communicator.h"

#include <mpi.h>

#include <cstdlib>

#include <stdexcept>

using namespace ckpt::rt;

namespace {
void check(int code, const char *what) {
  if (code != MPI_SUCCESS)
    throw std::runtime_error(std::string("MPI ") + what + " failed");
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "MPI"; }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code); // MPI_Abort does not return; this keeps the contract.
  }

  void allReduceSum(float *data, int64_t n) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT,
                        MPI_SUM, MPI_COMM_WORLD),
          "all-reduce");
  }
  void allReduceSum(double *data, int64_t n) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE,
                        MPI_SUM, MPI_COMM_WORLD),
          "all-reduce");
  }
  void allGather(const float *in, float *out, int64_t n) override {
    check(MPI_Allgather(in, static_cast<int>(n), MPI_FLOAT, out,
                        static_cast<int>(n), MPI_FLOAT, MPI_COMM_WORLD),
          "all-gather");
  }
  void allGather(const double *in, double *out, int64_t n) override {
    check(MPI_Allgather(in, static_cast<int>(n), MPI_DOUBLE, out,
                        static_cast<int>(n), MPI_DOUBLE, MPI_COMM_WORLD),
          "all-gather");
  }
  void reduceScatter(const float *in, float *out, int64_t n) override {
    check(MPI_Reduce_scatter_block(in, out, static_cast<int>(n), MPI_FLOAT,
                                   MPI_SUM, MPI_COMM_WORLD),
          "reduce-scatter");
  }
  void reduceScatter(const double *in, double *out, int64_t n) override {
    check(MPI_Reduce_scatter_block(in, out, static_cast<int>(n), MPI_DOUBLE,
                                   MPI_SUM, MPI_COMM_WORLD),
          "reduce-scatter");
  }

private:
  int rank_ = 0, size_ = 1;
};
} // namespace

std::unique_ptr<Communicator> ckpt::rt::makeMpiCommunicator() {
  return std::make_unique<MpiCommunicator>();
}
