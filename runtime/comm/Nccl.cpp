//===- Nccl.cpp - Collectives over NCCL -----------------------------------===//
//
// One NCCL communicator over MPI's world: rank 0 makes the unique id, MPI
// broadcasts it, every rank joins with its CUDA device current. Buffers are
// device memory; each collective runs on the default stream, behind the
// kernels that wrote its input, and is waited for, so the next kernel reads
// its result. For a fixed number of ranks, sizes and topology NCCL picks the
// same algorithm each time: results repeat run to run.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

using namespace ckpt::rt;

namespace {

void check(ncclResult_t result, const char *what) {
  if (result != ncclSuccess)
    throw std::runtime_error(std::string("NCCL ") + what +
                             " failed: " + ncclGetErrorString(result));
}

void wait() {
  cudaError_t status = cudaStreamSynchronize(nullptr);
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("NCCL collective failed: ") +
                             cudaGetErrorString(status));
}

template <typename T> ncclDataType_t ncclType();
template <> ncclDataType_t ncclType<float>() { return ncclFloat32; }
template <> ncclDataType_t ncclType<double>() { return ncclFloat64; }

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(ncclComm_t comm, int rank, int size)
      : comm_(comm), rank_(rank), size_(size) {}
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "NCCL"; }
  bool deviceBuffers() const override { return true; }

  [[noreturn]] void abort(int code) override {
    ncclCommAbort(comm_);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

  void allReduceSum(float *data, int64_t n) override { allReduce(data, n); }
  void allReduceSum(double *data, int64_t n) override { allReduce(data, n); }
  void allGather(const float *in, float *out, int64_t n) override {
    gather(in, out, n);
  }
  void allGather(const double *in, double *out, int64_t n) override {
    gather(in, out, n);
  }
  void reduceScatter(const float *in, float *out, int64_t n) override {
    scatter(in, out, n);
  }
  void reduceScatter(const double *in, double *out, int64_t n) override {
    scatter(in, out, n);
  }
  void send(const float *data, int64_t n, int peer) override {
    sendTo(data, n, peer);
  }
  void send(const double *data, int64_t n, int peer) override {
    sendTo(data, n, peer);
  }
  void recv(float *data, int64_t n, int peer) override {
    recvFrom(data, n, peer);
  }
  void recv(double *data, int64_t n, int peer) override {
    recvFrom(data, n, peer);
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    ncclComm_t part;
    check(ncclCommSplit(comm_, color, key, &part, nullptr), "split");
    int rank = 0, size = 1;
    check(ncclCommUserRank(part, &rank), "split");
    check(ncclCommCount(part, &size), "split");
    return std::make_unique<NcclCommunicator>(part, rank, size);
  }

private:
  template <typename T> void allReduce(T *data, int64_t n) {
    check(ncclAllReduce(data, data, n, ncclType<T>(), ncclSum, comm_, nullptr),
          "all-reduce");
    wait();
  }
  template <typename T> void gather(const T *in, T *out, int64_t n) {
    check(ncclAllGather(in, out, n, ncclType<T>(), comm_, nullptr),
          "all-gather");
    wait();
  }
  template <typename T> void scatter(const T *in, T *out, int64_t n) {
    check(ncclReduceScatter(in, out, n, ncclType<T>(), ncclSum, comm_, nullptr),
          "reduce-scatter");
    wait();
  }

  void checkPeer(int peer) const {
    if (peer < 0 || peer >= size_ || peer == rank_)
      throw std::runtime_error(
          "rank " + std::to_string(rank_) + " cannot exchange with rank " +
          std::to_string(peer) + " of " + std::to_string(size_));
  }
  template <typename T> void sendTo(const T *data, int64_t n, int peer) {
    checkPeer(peer);
    check(ncclSend(data, n, ncclType<T>(), peer, comm_, nullptr), "send");
    wait();
  }
  template <typename T> void recvFrom(T *data, int64_t n, int peer) {
    checkPeer(peer);
    check(ncclRecv(data, n, ncclType<T>(), peer, comm_, nullptr), "receive");
    wait();
  }

  ncclComm_t comm_;
  int rank_, size_;
};

} // namespace

std::unique_ptr<Communicator>
ckpt::rt::makeNcclCommunicator(std::string &error) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    error = "NCCL takes its ranks from MPI: start the job with mpirun";
    return nullptr;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ncclUniqueId id;
  if (rank == 0) {
    ncclResult_t result = ncclGetUniqueId(&id);
    if (result != ncclSuccess) {
      error = std::string("NCCL could not make its unique id: ") +
              ncclGetErrorString(result);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  ncclComm_t comm;
  ncclResult_t result = ncclCommInitRank(&comm, size, id, rank);
  if (result != ncclSuccess) {
    error = std::string("NCCL could not join rank ") + std::to_string(rank) +
            " of " + std::to_string(size) + ": " + ncclGetErrorString(result);
    return nullptr;
  }
  return std::make_unique<NcclCommunicator>(comm, rank, size);
}
