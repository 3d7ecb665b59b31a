//===- XFTags.cpp - Layer and module tags on operations -------------------===//

#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Dialect/XF/XFDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

static constexpr llvm::StringLiteral kModules[] = {
    "embedding",      "layernorm", "qkv", "core_attn",
    "attn_proj",      "mlp",       "moe", "moe_act",
    "shared_experts", "head",      "loss"};

llvm::ArrayRef<llvm::StringLiteral> ckpt::xf::getKnownModuleNames() {
  return kModules;
}

bool ckpt::xf::isKnownModuleName(llvm::StringRef name) {
  return llvm::is_contained(kModules, name);
}

std::string ckpt::xf::joinKnownModuleNames() {
  return llvm::join(
      llvm::map_range(kModules, [](llvm::StringLiteral s) { return s.str(); }),
      ", ");
}

void ckpt::xf::setTag(Operation *op, llvm::StringRef module,
                      std::optional<int64_t> layer) {
  Builder builder(op->getContext());
  op->setAttr(XFDialect::kModuleAttrName, builder.getStringAttr(module));
  if (layer)
    op->setAttr(XFDialect::kLayerAttrName, builder.getI64IntegerAttr(*layer));
}

std::optional<int64_t> ckpt::xf::getLayer(Operation *op) {
  if (auto attr = op->getAttrOfType<IntegerAttr>(XFDialect::kLayerAttrName))
    return attr.getInt();
  return std::nullopt;
}

llvm::StringRef ckpt::xf::getModule(Operation *op) {
  if (auto attr = op->getAttrOfType<StringAttr>(XFDialect::kModuleAttrName))
    return attr.getValue();
  return {};
}
