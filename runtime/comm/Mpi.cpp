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
#include <string>

using namespace ckpt::rt;

namespace {
void check(int code, const char *what) {
  if (code != MPI_SUCCESS)
    throw std::runtime_error(std::string("MPI ") + what + " failed");
}

class MpiCommunicator final : public Communicator {
public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm_ != MPI_COMM_WORLD && !finalized)
      MPI_Comm_free(&comm_);
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
                        MPI_SUM, comm_),
          "all-reduce");
  }
  void allReduceSum(double *data, int64_t n) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE,
                        MPI_SUM, comm_),
          "all-reduce");
  }
  void allGather(const float *in, float *out, int64_t n) override {
    check(MPI_Allgather(in, static_cast<int>(n), MPI_FLOAT, out,
                        static_cast<int>(n), MPI_FLOAT, comm_),
          "all-gather");
  }
  void allGather(const double *in, double *out, int64_t n) override {
    check(MPI_Allgather(in, static_cast<int>(n), MPI_DOUBLE, out,
                        static_cast<int>(n), MPI_DOUBLE, comm_),
          "all-gather");
  }
  void reduceScatter(const float *in, float *out, int64_t n) override {
    check(MPI_Reduce_scatter_block(in, out, static_cast<int>(n), MPI_FLOAT,
                                   MPI_SUM, comm_),
          "reduce-scatter");
  }
  void reduceScatter(const double *in, double *out, int64_t n) override {
    check(MPI_Reduce_scatter_block(in, out, static_cast<int>(n), MPI_DOUBLE,
                                   MPI_SUM, comm_),
          "reduce-scatter");
  }
  void send(const float *data, int64_t n, int peer) override {
    sendAs(data, n, MPI_FLOAT, peer);
  }
  void send(const double *data, int64_t n, int peer) override {
    sendAs(data, n, MPI_DOUBLE, peer);
  }
  void recv(float *data, int64_t n, int peer) override {
    recvAs(data, n, MPI_FLOAT, peer);
  }
  void recv(double *data, int64_t n, int peer) override {
    recvAs(data, n, MPI_DOUBLE, peer);
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm part;
    check(MPI_Comm_split(comm_, color, key, &part), "split");
    return std::make_unique<MpiCommunicator>(part);
  }

private:
  void checkPeer(int peer) const {
    if (peer < 0 || peer >= size_ || peer == rank_)
      throw std::runtime_error(
          "rank " + std::to_string(rank_) + " cannot exchange with rank " +
          std::to_string(peer) + " of " + std::to_string(size_));
  }
  void sendAs(const void *data, int64_t n, MPI_Datatype type, int peer) {
    checkPeer(peer);
    check(MPI_Send(data, static_cast<int>(n), type, peer, 0, comm_), "send");
  }
  void recvAs(void *data, int64_t n, MPI_Datatype type, int peer) {
    checkPeer(peer);
    check(MPI_Recv(data, static_cast<int>(n), type, peer, 0, comm_,
                   MPI_STATUS_IGNORE),
          "receive");
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};
} // namespace

std::unique_ptr<Communicator> ckpt::rt::makeMpiCommunicator() {
  return std::make_unique<MpiCommunicator>();
}
