//===- CommTest.cpp - Every collective on its own, under mpirun ----------===//
//
//   mpirun -np N ckpt-comm-test
//
// Each rank fills its buffers with values that name the rank and the
// element, runs one collective, and checks every element of the result
// against the value worked out by hand. Prints one line per check and
// exits non-zero on any failure.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Communicator.h"

#include <mpi.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

using namespace ckpt::rt;

namespace {
int failures = 0, checks = 0;

void expect(bool ok, const char *what, int rank) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAILED on rank %d: %s\n", rank, what);
  }
}

template <typename T> void run(Communicator &comm, const char *type) {
  const int r = comm.rank(), n = comm.size(), count = 5;
  // all-reduce: element i of rank q holds q·100 + i; the sum over ranks is
  // 100·n(n-1)/2 + n·i.
  std::vector<T> data(count);
  for (int i = 0; i < count; ++i)
    data[i] = T(r * 100 + i);
  comm.allReduceSum(data.data(), count);
  bool ok = true;
  for (int i = 0; i < count; ++i)
    ok &= data[i] == T(100 * n * (n - 1) / 2 + n * i);
  expect(ok, "all-reduce", r);

  // all-gather: rank q's piece lands at q·count.
  std::vector<T> piece(count), whole(count * n);
  for (int i = 0; i < count; ++i)
    piece[i] = T(r * 100 + i);
  comm.allGather(piece.data(), whole.data(), count);
  ok = true;
  for (int q = 0; q < n; ++q)
    for (int i = 0; i < count; ++i)
      ok &= whole[q * count + i] == T(q * 100 + i);
  expect(ok, "all-gather", r);

  // reduce-scatter: every rank contributes j + r at position j; rank r keeps
  // the sums of its piece: n·(r·count + i) + n(n-1)/2.
  std::vector<T> full(count * n), mine(count);
  for (int j = 0; j < count * n; ++j)
    full[j] = T(j + r);
  comm.reduceScatter(full.data(), mine.data(), count);
  ok = true;
  for (int i = 0; i < count; ++i)
    ok &= mine[i] == T(n * (r * count + i) + n * (n - 1) / 2);
  expect(ok, "reduce-scatter", r);
  if (r == 0)
    std::printf("%s: all-reduce, all-gather, reduce-scatter checked on %d "
                "ranks\n",
                type, n);
}

/// Pipeline-shaped groups: with n even, ranks form n/2 stages of 2 (a
/// stage's tensor-parallel group, split by r / 2); each rank of stage s
/// sends to its partner in stage s + 1, which receives what names the
/// sender. Then the ranks of one position across the stages (split by
/// r % 2) sum, and the collectives run inside each group.
template <typename T> void runGroups(Communicator &comm, const char *type) {
  const int r = comm.rank(), n = comm.size(), count = 4;
  if (n % 2 || n < 4)
    return;
  std::unique_ptr<Communicator> stage = comm.split(r / 2, r % 2);
  expect(stage->size() == 2 && stage->rank() == r % 2, "stage split", r);
  std::vector<T> data(count);
  for (int i = 0; i < count; ++i)
    data[i] = T(r * 10 + i);
  stage->allReduceSum(data.data(), count);
  bool ok = true;
  int first = r / 2 * 2; // The stage's ranks are first and first + 1.
  for (int i = 0; i < count; ++i)
    ok &= data[i] == T((2 * first + 1) * 10 + 2 * i);
  expect(ok, "all-reduce within a stage", r);

  std::vector<T> message(count);
  if (r + 2 < n) {
    for (int i = 0; i < count; ++i)
      message[i] = T(r * 1000 + i);
    comm.send(message.data(), count, r + 2);
  }
  if (r >= 2) {
    comm.recv(message.data(), count, r - 2);
    ok = true;
    for (int i = 0; i < count; ++i)
      ok &= message[i] == T((r - 2) * 1000 + i);
    expect(ok, "receive from the previous stage", r);
  }

  std::unique_ptr<Communicator> position = comm.split(r % 2, r / 2);
  expect(position->size() == n / 2 && position->rank() == r / 2,
         "position split", r);
  T one = T(r);
  position->allReduceSum(&one, 1);
  T want = 0;
  for (int q = r % 2; q < n; q += 2)
    want += T(q);
  expect(one == want, "all-reduce across the stages", r);
  bool refused = false;
  try {
    comm.send(message.data(), count, r);
  } catch (const std::runtime_error &) {
    refused = true;
  }
  expect(refused, "a send to oneself is refused", r);
  if (r == 0)
    std::printf("%s: split into %d stages of 2, send and receive between "
                "stages, all-reduce within and across them\n",
                type, n / 2);
}
} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  std::unique_ptr<Communicator> comm = makeMpiCommunicator();
  run<float>(*comm, "f32");
  run<double>(*comm, "f64");
  runGroups<float>(*comm, "f32");
  runGroups<double>(*comm, "f64");
  int total[2] = {checks - failures, failures}, sum[2];
  MPI_Reduce(total, sum, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (comm->rank() == 0)
    std::printf("%d passed, %d failed\n", sum[0], sum[1]);
  int code = failures ? 1 : 0;
  MPI_Finalize();
  return code;
}
