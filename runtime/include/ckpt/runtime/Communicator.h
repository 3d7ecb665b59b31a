//===- Communicator.h - Collectives across ranks ----------------*- C++ -*-===//
//
// One interface for the collectives of tensor-parallel programs: MPI on the
// CPU (ranks are processes under mpirun), NCCL on CUDA (one process per
// GPU, bootstrapped through MPI). Buffers are the compute type (float or
// double); pieces are contiguous, `count` elements each.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_COMMUNICATOR_H
#define CKPT_RUNTIME_COMMUNICATOR_H

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace ckpt::rt {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  /// Whether the collectives take device buffers (NCCL); host
  /// communicators get device data staged through host memory.
  virtual bool deviceBuffers() const { return false; }

  /// In place: every rank ends with the sum over ranks.
  virtual void allReduceSum(float *data, int64_t count) = 0;
  virtual void allReduceSum(double *data, int64_t count) = 0;
  /// `out` (size() · count) receives every rank's `count` elements, rank r
  /// at r · count.
  virtual void allGather(const float *in, float *out, int64_t count) = 0;
  virtual void allGather(const double *in, double *out, int64_t count) = 0;
  /// Sums `in` (size() · count) over ranks; rank r keeps piece r in `out`.
  virtual void reduceScatter(const float *in, float *out, int64_t count) = 0;
  virtual void reduceScatter(const double *in, double *out, int64_t count) = 0;

  /// Point to point, for pipeline stages: `count` elements to or from rank
  /// `peer` of this communicator. Each send meets one receive of the same
  /// count, in order; a rank cannot send to itself.
  virtual void send(const float *data, int64_t count, int peer) = 0;
  virtual void send(const double *data, int64_t count, int peer) = 0;
  virtual void recv(float *data, int64_t count, int peer) = 0;
  virtual void recv(double *data, int64_t count, int peer) = 0;

  /// Pipeline transfers of raw bytes (any element type). `postSend` copies
  /// `data` and returns at once: the send completes in the background, so
  /// two stages may both send before they receive, as 1F1B's steady state
  /// does. `recvBytes` waits for the bytes. `finishSends` waits until every
  /// posted send has been received. Communicators without point-to-point
  /// transfers throw.
  /// A send meets the peer's receive of the same `tag` (>= 0).
  virtual void postSend(const void *data, int64_t bytes, int peer, int tag);
  virtual void recvBytes(void *data, int64_t bytes, int peer, int tag);
  virtual void finishSends() {}

  /// The ranks that give the same `color`, ordered by `key` (as
  /// MPI_Comm_split): the tensor-parallel group of one pipeline stage, or
  /// the ranks of one tensor-parallel position across the stages. Every
  /// rank of this communicator must call it.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  /// Ends every rank of the job with exit code `code` (MPI_Abort): one
  /// rank's failure must not leave the others waiting in a collective.
  [[noreturn]] virtual void abort(int code) = 0;
};

inline void Communicator::postSend(const void *, int64_t, int, int) {
  throw std::runtime_error("the " + name() +
                           " communicator has no pipeline transfers");
}
inline void Communicator::recvBytes(void *, int64_t, int, int) {
  throw std::runtime_error("the " + name() +
                           " communicator has no pipeline transfers");
}

/// One rank alone: every collective is a copy.
std::unique_ptr<Communicator> makeSingleProcessCommunicator();

/// MPI's world communicator (MPI must be initialised), or null when the
/// runtime was built without MPI.
std::unique_ptr<Communicator> makeMpiCommunicator();

/// An NCCL communicator over MPI's world, one rank per GPU (MPI must be
/// initialised and the rank's CUDA device current); null with `error` set
/// when the runtime was built without NCCL and MPI or NCCL fails.
std::unique_ptr<Communicator> makeNcclCommunicator(std::string &error);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_COMMUNICATOR_H
