//===- PlacementPlan.cpp - The placement plan and its file
//-----------------===//

#include "ckpt/Plan/PlacementPlan.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <set>

using namespace ckpt;
using namespace ckpt::plan;

namespace {
constexpr llvm::StringLiteral kSchema = "ckpt-plan";

struct PlacementName {
  Placement placement;
  const char *name;
};
constexpr PlacementName kPlacements[] = {
    {Placement::Keep, "keep"},
    {Placement::Recompute, "recompute"},
    {Placement::Shard, "shard"},
    {Placement::Offload, "offload"},
};

std::string allowedPlacements() {
  std::vector<std::string> names;
  for (const PlacementName &entry : kPlacements)
    names.push_back(entry.name);
  return llvm::join(names, ", ");
}

int64_t shardBytes(int64_t bytes, int64_t ranks) {
  return ranks > 1 ? bytes / ranks : bytes;
}

} // namespace

const char *plan::placementName(Placement placement) {
  for (const PlacementName &entry : kPlacements)
    if (entry.placement == placement)
      return entry.name;
  return "?";
}

std::optional<Placement> plan::parsePlacement(llvm::StringRef name) {
  for (const PlacementName &entry : kPlacements)
    if (name == entry.name)
      return entry.placement;
  return std::nullopt;
}

const PlanGroup *PlacementPlan::findGroup(llvm::StringRef label) const {
  for (const PlanGroup &group : groups)
    if (group.label == label)
      return &group;
  return nullptr;
}

int64_t PlacementPlan::keptBytes() const {
  int64_t bytes = 0;
  for (const PlannedValue &value : values)
    if (value.placement == Placement::Keep)
      bytes += value.bytes;
    else if (value.placement == Placement::Shard)
      bytes += shardBytes(value.bytes, tensorParallelSize);
  return bytes;
}

namespace {
/// A JSON string literal.
std::string quote(llvm::StringRef text) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::json::Value(text);
  return out;
}

std::string layerText(std::optional<int64_t> layer) {
  return layer ? std::to_string(*layer) : "null";
}

/// The values of one layer (or of a run outside the layers), one per line,
/// indented by `in`.
void printSection(const PlacementPlan &plan, size_t begin, size_t end,
                  const std::string &in, llvm::raw_ostream &os) {
  int64_t kept = 0, recomputed = 0, sharded = 0;
  for (size_t i = begin; i < end; ++i) {
    const PlannedValue &value = plan.values[i];
    if (value.placement == Placement::Keep)
      kept += value.bytes;
    else if (value.placement == Placement::Recompute)
      recomputed += value.bytes;
    else if (value.placement == Placement::Shard) {
      sharded += value.bytes;
      kept += shardBytes(value.bytes, plan.tensorParallelSize);
    }
  }
  os << in << "{\"layer\": " << layerText(plan.values[begin].layer)
     << ", \"kept_bytes\": " << kept << ", \"recomputed_bytes\": " << recomputed
     << ", \"sharded_bytes\": " << sharded << ", \"values\": [\n";
  for (size_t i = begin; i < end; ++i) {
    const PlannedValue &value = plan.values[i];
    os << in << "  {\"value\": " << quote(value.name) << ", \"placement\": \""
       << placementName(value.placement) << "\"";
    if (value.placement == Placement::Recompute)
      os << ", \"group\": " << quote(value.group);
    os << ", \"bytes\": " << value.bytes << "}" << (i + 1 < end ? "," : "")
       << "\n";
  }
  os << in << "]}";
}

/// A plan's fields, each line indented by `in`, without the braces.
void printPlan(const PlacementPlan &plan, const std::string &in,
               llvm::raw_ostream &os) {
  if (plan.pipelineStage)
    os << in << "\"pipeline_stage\": " << *plan.pipelineStage << ",\n";
  os << in << "\"policy\": " << quote(plan.policy) << ",\n"
     << in << "\"model\": {";
  for (auto [i, field] : llvm::enumerate(plan.model))
    os << (i ? ", " : "") << quote(field.first) << ": " << quote(field.second);
  os << "},\n"
     << in << "\"tensor_parallel_size\": " << plan.tensorParallelSize << ",\n"
     << in << "\"kept_bytes\": " << plan.keptBytes() << ",\n"
     << in << "\"groups\": [";
  for (auto [i, group] : llvm::enumerate(plan.groups)) {
    os << (i ? ",\n" : "\n") << in << "  {\"label\": " << quote(group.label)
       << ", \"layer\": " << layerText(group.layer) << ", \"ops\": [";
    for (auto [j, op] : llvm::enumerate(group.ops))
      os << (j ? ", " : "") << quote(op);
    os << "]}";
  }
  os << (plan.groups.empty() ? "" : "\n" + in) << "],\n"
     << in << "\"layers\": [";
  // Consecutive values of one layer form one section; its sums are for
  // people and are not read back.
  size_t begin = 0;
  while (begin < plan.values.size()) {
    size_t end = begin;
    while (end < plan.values.size() &&
           plan.values[end].layer == plan.values[begin].layer)
      ++end;
    os << (begin ? ",\n" : "\n");
    printSection(plan, begin, end, in + "  ", os);
    begin = end;
  }
  os << (plan.values.empty() ? "" : "\n" + in) << "]";
}
} // namespace

// Written by hand rather than through llvm::json, which sorts keys: a person
// reads each value's name first, and each value on one line.
std::string plan::formatPlanFile(const PlacementPlan &plan) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "{\n  \"schema\": " << quote(kSchema)
     << ",\n  \"version\": " << PlacementPlan::kVersion << ",\n";
  printPlan(plan, "  ", os);
  os << "\n}\n";
  return text;
}

std::string plan::formatPlanFile(const std::vector<PlacementPlan> &stages) {
  if (stages.size() == 1)
    return formatPlanFile(stages.front());
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "{\n  \"schema\": " << quote(kSchema)
     << ",\n  \"version\": " << PlacementPlan::kVersion << ",\n  \"stages\": [";
  for (auto [i, plan] : llvm::enumerate(stages)) {
    os << (i ? ",\n" : "\n") << "    {\n";
    printPlan(plan, "      ", os);
    os << "\n    }";
  }
  os << "\n  ]\n}\n";
  return text;
}

namespace {

/// Reads one JSON object field by field, with the path of each for errors.
class Reader {
public:
  explicit Reader(std::string &error) : error_(error) {}

  bool fail(const std::string &path, const std::string &message) {
    if (error_.empty())
      error_ = path + ": " + message;
    return false;
  }

  /// `json` is an object whose keys are all in `allowed`.
  const llvm::json::Object *
  object(const llvm::json::Value &json, const std::string &path,
         std::initializer_list<llvm::StringRef> allowed) {
    const llvm::json::Object *object = json.getAsObject();
    if (!object) {
      fail(path.empty() ? "plan" : path, "must be a JSON object");
      return nullptr;
    }
    for (const auto &[key, value] : *object)
      if (llvm::find(allowed, llvm::StringRef(key)) == allowed.end()) {
        fail(join(path, key),
             "unknown field (allowed: " + llvm::join(allowed, ", ") + ")");
        return nullptr;
      }
    return object;
  }

  static std::string join(const std::string &path, llvm::StringRef key) {
    return path.empty() ? key.str() : path + "." + key.str();
  }
  static std::string index(const std::string &path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  bool string(const llvm::json::Object &object, const std::string &path,
              llvm::StringRef key, std::string &out, bool required = true) {
    const llvm::json::Value *value = object.get(key);
    if (!value)
      return !required || fail(join(path, key), "is missing (a string)");
    std::optional<llvm::StringRef> text = value->getAsString();
    if (!text)
      return fail(join(path, key), "must be a string");
    out = text->str();
    return true;
  }

  bool integer(const llvm::json::Object &object, const std::string &path,
               llvm::StringRef key, int64_t &out, int64_t min) {
    const llvm::json::Value *value = object.get(key);
    if (!value)
      return fail(join(path, key), "is missing (an integer)");
    std::optional<int64_t> number = value->getAsInteger();
    if (!number)
      return fail(join(path, key), "must be an integer");
    if (*number < min)
      return fail(join(path, key), "must be at least " + std::to_string(min) +
                                       ", got " + std::to_string(*number));
    out = *number;
    return true;
  }

  /// A layer index or null.
  bool layer(const llvm::json::Object &object, const std::string &path,
             std::optional<int64_t> &out) {
    const llvm::json::Value *value = object.get("layer");
    if (!value)
      return fail(join(path, "layer"),
                  "is missing (a layer index, or null outside the layers)");
    if (value->getAsNull()) {
      out.reset();
      return true;
    }
    std::optional<int64_t> number = value->getAsInteger();
    if (!number || *number < 0)
      return fail(join(path, "layer"),
                  "must be a layer index (0 or more) or null");
    out = *number;
    return true;
  }

  const llvm::json::Array *array(const llvm::json::Object &object,
                                 const std::string &path, llvm::StringRef key) {
    const llvm::json::Array *array = object.getArray(key);
    if (!array)
      fail(join(path, key),
           object.get(key) ? "must be a list" : "is missing (a list)");
    return array;
  }

private:
  std::string &error_;
};

bool readGroups(Reader &reader, const llvm::json::Array &groups,
                const std::string &at, PlacementPlan &plan) {
  llvm::StringSet<> labels;
  for (auto [i, json] : llvm::enumerate(groups)) {
    std::string path = Reader::index(Reader::join(at, "groups"), i);
    const llvm::json::Object *object =
        reader.object(json, path, {"label", "layer", "ops"});
    if (!object)
      return false;
    PlanGroup group;
    if (!reader.string(*object, path, "label", group.label) ||
        !reader.layer(*object, path, group.layer))
      return false;
    if (group.label.empty())
      return reader.fail(path + ".label", "must not be empty");
    if (!labels.insert(group.label).second)
      return reader.fail(path + ".label", "'" + group.label +
                                              "' labels two groups; each "
                                              "group needs its own label");
    const llvm::json::Array *ops = reader.array(*object, path, "ops");
    if (!ops)
      return false;
    if (ops->empty())
      return reader.fail(path + ".ops", "must name at least one op");
    for (auto [j, op] : llvm::enumerate(*ops)) {
      std::optional<llvm::StringRef> name = op.getAsString();
      if (!name)
        return reader.fail(Reader::index(path + ".ops", j),
                           "must be an op's name (a string)");
      group.ops.push_back(name->str());
    }
    plan.groups.push_back(std::move(group));
  }
  return true;
}

bool readValues(Reader &reader, const llvm::json::Array &layers,
                const std::string &base, PlacementPlan &plan) {
  llvm::StringMap<std::string> seen; // value -> its path
  for (auto [i, json] : llvm::enumerate(layers)) {
    std::string path = Reader::index(Reader::join(base, "layers"), i);
    const llvm::json::Object *section = reader.object(
        json, path,
        {"layer", "kept_bytes", "recomputed_bytes", "sharded_bytes", "values"});
    if (!section)
      return false;
    std::optional<int64_t> layer;
    if (!reader.layer(*section, path, layer))
      return false;
    const llvm::json::Array *values = reader.array(*section, path, "values");
    if (!values)
      return false;
    for (auto [j, entry] : llvm::enumerate(*values)) {
      std::string at = Reader::index(path + ".values", j);
      const llvm::json::Object *object =
          reader.object(entry, at, {"value", "bytes", "placement", "group"});
      if (!object)
        return false;
      PlannedValue value;
      value.layer = layer;
      std::string placement;
      if (!reader.string(*object, at, "value", value.name) ||
          !reader.integer(*object, at, "bytes", value.bytes, 0) ||
          !reader.string(*object, at, "placement", placement))
        return false;
      auto [it, fresh] = seen.try_emplace(value.name, at);
      if (!fresh)
        return reader.fail(at + ".value", "'" + value.name +
                                              "' is placed twice (also at " +
                                              it->second + ")");
      std::optional<Placement> kind = parsePlacement(placement);
      if (!kind)
        return reader.fail(at + ".placement", "must be one of " +
                                                  allowedPlacements() +
                                                  ", got '" + placement + "'");
      value.placement = *kind;
      if (!reader.string(*object, at, "group", value.group,
                         /*required=*/*kind == Placement::Recompute))
        return false;
      if (*kind != Placement::Recompute && object->get("group"))
        return reader.fail(at + ".group",
                           "only a recomputed value names a group; this "
                           "value's placement is " +
                               placement);
      if (*kind == Placement::Recompute && !plan.findGroup(value.group))
        return reader.fail(at + ".group",
                           "no group is labelled '" + value.group +
                               "' (the plan's groups list them)");
      if (*kind == Placement::Shard && plan.tensorParallelSize < 2)
        return reader.fail(at + ".placement",
                           "a shard needs tensor_parallel_size 2 or more; "
                           "the plan's is " +
                               std::to_string(plan.tensorParallelSize));
      plan.values.push_back(std::move(value));
    }
  }
  return true;
}

bool readModel(Reader &reader, const llvm::json::Object &root,
               const std::string &at, ModelFields &model) {
  const llvm::json::Value *json = root.get("model");
  if (!json)
    return true;
  const llvm::json::Object *fields = json->getAsObject();
  std::string path = Reader::join(at, "model");
  if (!fields)
    return reader.fail(path, "must be an object of the model's fields");
  for (const auto &[key, value] : *fields) {
    std::optional<llvm::StringRef> text = value.getAsString();
    if (!text)
      return reader.fail(Reader::join(path, key), "must be a string");
    model.emplace_back(key.str(), text->str());
  }
  llvm::sort(model);
  return true;
}

/// One plan's fields in `object` (at `path`; "" for the file's root).
std::optional<PlacementPlan> readPlan(Reader &reader,
                                      const llvm::json::Object &object,
                                      const std::string &path) {
  PlacementPlan plan;
  if (object.get("pipeline_stage")) {
    int64_t stage = 0;
    if (!reader.integer(object, path, "pipeline_stage", stage, 0))
      return std::nullopt;
    plan.pipelineStage = stage;
  }
  if (!reader.string(object, path, "policy", plan.policy, false) ||
      !readModel(reader, object, path, plan.model) ||
      !reader.integer(object, path, "tensor_parallel_size",
                      plan.tensorParallelSize, 1))
    return std::nullopt;
  const llvm::json::Array *groups = reader.array(object, path, "groups");
  if (!groups || !readGroups(reader, *groups, path, plan))
    return std::nullopt;
  const llvm::json::Array *layers = reader.array(object, path, "layers");
  if (!layers || !readValues(reader, *layers, path, plan))
    return std::nullopt;
  return plan;
}

} // namespace

std::optional<std::vector<PlacementPlan>>
plan::planFromJSON(const llvm::json::Value &json, std::string &error) {
  error.clear();
  Reader reader(error);
  const llvm::json::Object *root = reader.object(
      json, "",
      {"schema", "version", "pipeline_stage", "policy", "model",
       "tensor_parallel_size", "kept_bytes", "groups", "layers", "stages"});
  if (!root)
    return std::nullopt;
  std::string schema;
  if (!reader.string(*root, "", "schema", schema))
    return std::nullopt;
  if (schema != kSchema) {
    reader.fail("schema", "must be '" + kSchema.str() + "', got '" + schema +
                              "': not a placement plan");
    return std::nullopt;
  }
  int64_t version = 0;
  if (!reader.integer(*root, "", "version", version, 1))
    return std::nullopt;
  if (version != PlacementPlan::kVersion) {
    reader.fail("version",
                "is " + std::to_string(version) + "; this build reads " +
                    "version " + std::to_string(PlacementPlan::kVersion) +
                    (version > PlacementPlan::kVersion
                         ? " (the plan was written by a newer ckpt-opt)"
                         : ""));
    return std::nullopt;
  }
  std::vector<PlacementPlan> plans;
  const llvm::json::Value *stages = root->get("stages");
  if (!stages) {
    std::optional<PlacementPlan> plan = readPlan(reader, *root, "");
    if (!plan)
      return std::nullopt;
    plans.push_back(std::move(*plan));
    return plans;
  }
  // A pipeline's plans, one per stage: nothing else at the root.
  for (const auto &[key, value] : *root)
    if (key != "schema" && key != "version" && key != "stages") {
      reader.fail(key.str(), "a file of stages holds its plans under "
                             "stages only");
      return std::nullopt;
    }
  const llvm::json::Array *list = stages->getAsArray();
  if (!list || list->empty()) {
    reader.fail("stages", "must be a list of plans, one per pipeline stage");
    return std::nullopt;
  }
  std::set<int64_t> seen;
  for (auto [i, entry] : llvm::enumerate(*list)) {
    std::string path = Reader::index("stages", i);
    const llvm::json::Object *object = reader.object(
        entry, path,
        {"pipeline_stage", "policy", "model", "tensor_parallel_size",
         "kept_bytes", "groups", "layers"});
    if (!object)
      return std::nullopt;
    std::optional<PlacementPlan> plan = readPlan(reader, *object, path);
    if (!plan)
      return std::nullopt;
    if (!plan->pipelineStage) {
      reader.fail(path + ".pipeline_stage",
                  "is missing (the stage this plan is for)");
      return std::nullopt;
    }
    if (!seen.insert(*plan->pipelineStage).second) {
      reader.fail(path + ".pipeline_stage",
                  "stage " + std::to_string(*plan->pipelineStage) +
                      " has two plans");
      return std::nullopt;
    }
    plans.push_back(std::move(*plan));
  }
  return plans;
}

std::optional<std::vector<PlacementPlan>>
plan::readPlanFile(llvm::StringRef path, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    error =
        path.str() + ": cannot read the plan: " + buffer.getError().message();
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = path.str() +
            ": not a JSON plan file: " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  std::optional<std::vector<PlacementPlan>> plans = planFromJSON(*json, error);
  if (!plans)
    error = path.str() + ": " + error;
  return plans;
}
