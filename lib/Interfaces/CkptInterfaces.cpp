//===- CkptInterfaces.cpp - Differentiation and cost ----------------------===//

#include "ckpt/Interfaces/CkptInterfaces.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

#include "ckpt/Interfaces/CkptInterfaces.cpp.inc"

int64_t ckpt::getNumElements(Type type) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  return shaped.getNumElements();
}

int64_t ckpt::getTensorBytes(Type type) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  // Masks (i1) and other sub-byte types take whole bytes.
  int64_t bits = shaped.getElementTypeBitWidth();
  return shaped.getNumElements() * std::max<int64_t>(1, (bits + 7) / 8);
}

ckpt::OpCost ckpt::getOpCost(Operation *op) {
  if (auto costed = dyn_cast<CostOpInterface>(op))
    return costed.getCost();
  OpCost cost;
  for (Type type : op->getResultTypes())
    cost.otherFlops += getNumElements(type);
  return cost;
}
