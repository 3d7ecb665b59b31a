//===- NoNccl.cpp - Built without NCCL ------------------------------------===//

#include "ckpt/runtime/Communicator.h"

std::unique_ptr<ckpt::rt::Communicator>
ckpt::rt::makeNcclCommunicator(std::string &error) {
  error = "this build has no NCCL (it needs the CUDA backend and MPI)";
  return nullptr;
}
