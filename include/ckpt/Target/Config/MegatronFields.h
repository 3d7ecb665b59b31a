//===- MegatronFields.h - Megatron fields vetted for the importer -*- C++
//-*-===//
//
// A Megatron config (TransformerConfig fields, or a dump of Megatron-LM's
// arguments) holds many switches besides the model. Each field the importer
// does not read is on one of these lists, or it is an error: "ignored" is
// never the answer for a field that changes the model. docs/models.md lists
// both, with the reasons.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_TARGET_CONFIG_MEGATRONFIELDS_H
#define CKPT_TARGET_CONFIG_MEGATRONFIELDS_H

#include <set>
#include <string>
#include <vector>

namespace ckpt::config {

/// Fields that change neither the memory, the compute nor the values of
/// one training step given its parameters and inputs: the optimizer and
/// its schedule, data, logging, checkpoints, initialization, process
/// set-up, and fused kernels that keep the same tensors for the backward.
const std::set<std::string> &megatronFieldsWithoutEffect();

/// A field that would change the model, accepted at the value that leaves
/// it as the importer builds it (Megatron's default), and refused at any
/// other.
struct NeutralField {
  std::string key;
  std::string neutral; ///< The one accepted value, as JSON text.
  std::string effect;  ///< What another value would change.
};
const std::vector<NeutralField> &megatronNeutralFields();

} // namespace ckpt::config

#endif // CKPT_TARGET_CONFIG_MEGATRONFIELDS_H
