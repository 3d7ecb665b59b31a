//===- Mpi.cpp - Collectives over MPI -------------------------------------===//
//
// The reductions use MPI's own algorithms; for a fixed number of ranks and
// message sizes Open MPI picks the same algorithm every time, so a rank's
// results are reproducible run to run (the tests check this bit for bit).
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Communicator.h"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <list>
#include <vector>

#include <stdexcept>
#include <string>
#include <thread>

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
  void postSend(const void *data, int64_t bytes, int peer, int tag) override {
    checkPeer(peer);
    checkCount(bytes);
    completeSends(/*wait=*/false);
    auto &pending = sends_.emplace_back();
    const auto *begin = static_cast<const unsigned char *>(data);
    pending.bytes.assign(begin, begin + bytes);
    check(MPI_Isend(pending.bytes.data(), static_cast<int>(bytes), MPI_BYTE,
                    peer, transferTag(tag), comm_, &pending.request),
          "send");
  }
  void recvBytes(void *data, int64_t bytes, int peer, int tag) override {
    checkPeer(peer);
    checkCount(bytes);
    MPI_Request request;
    check(MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, peer,
                    transferTag(tag), comm_, &request),
          "receive");
    waitWithDeadline(request, "the receive from rank " + std::to_string(peer) +
                                  " with tag " + std::to_string(tag));
  }
  void finishSends() override { completeSends(/*wait=*/true); }

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

  static void checkCount(int64_t bytes) {
    if (bytes > std::numeric_limits<int>::max())
      throw std::runtime_error("a pipeline transfer of " +
                               std::to_string(bytes) +
                               " bytes exceeds MPI's count limit");
  }
  /// Frees the copies of the sends that completed (all of them: waits).
  void completeSends(bool wait) {
    for (auto it = sends_.begin(); it != sends_.end();) {
      int done = 0;
      if (wait)
        waitWithDeadline(it->request, "a send to another stage");
      else
        check(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE), "send");
      if (wait || done)
        it = sends_.erase(it);
      else
        ++it;
    }
  }

  /// Waits for `request` until the transfer deadline: a peer that never
  /// sends (or receives) ends the job with a message instead of a hang.
  /// CKPT_TRANSFER_TIMEOUT (seconds, default 600) sets the deadline.
  void waitWithDeadline(MPI_Request &request, const std::string &what) {
    double limit = 600;
    if (const char *text = std::getenv("CKPT_TRANSFER_TIMEOUT")) {
      char *end = nullptr;
      double value = std::strtod(text, &end);
      if (end != text && value > 0)
        limit = value;
    }
    double start = MPI_Wtime();
    for (int polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "transfer");
      if (done)
        return;
      double waited = MPI_Wtime() - start;
      if (waited > limit) {
        MPI_Cancel(&request);
        throw std::runtime_error(
            "rank " + std::to_string(rank_) + " waited " +
            std::to_string(static_cast<int>(waited)) + " s for " + what +
            ", which its peer never matched (a program whose stages do not "
            "pair their transfers?); CKPT_TRANSFER_TIMEOUT=SECONDS waits "
            "longer");
      }
      // Spin briefly (transfers between steps arrive in microseconds),
      // then yield the core.
      if (polls > 1000)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  /// Apart from the typed sends' tag 0, within MPI's tag range.
  static int transferTag(int tag) {
    int *upper = nullptr, found = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &upper, &found);
    int limit = found && upper ? *upper : 32767;
    if (tag < 0 || tag >= limit)
      throw std::runtime_error("pipeline transfer tag " + std::to_string(tag) +
                               " is outside MPI's range [0, " +
                               std::to_string(limit) +
                               "): fewer micro-batches or chunks");
    return tag + 1;
  }
  struct PendingSend {
    std::vector<unsigned char> bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  std::list<PendingSend> sends_;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};
} // namespace

std::unique_ptr<Communicator> ckpt::rt::makeMpiCommunicator() {
  return std::make_unique<MpiCommunicator>();
}
