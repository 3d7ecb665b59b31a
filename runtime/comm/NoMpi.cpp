//===- NoMpi.cpp - Built without MPI --------------------------------------===//

#include "ckpt/runtime/Communicator.h"

std::unique_ptr<ckpt::rt::Communicator> ckpt::rt::makeMpiCommunicator() {
  return nullptr;
}
