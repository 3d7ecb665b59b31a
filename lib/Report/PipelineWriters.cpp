//===- PipelineWriters.cpp - Per-stage memory of a pipeline ---------------===//

#include "ckpt/Report/Report.h"
#include "ckpt/Support/AtomicOutput.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace ckpt;

int64_t PipelineMemory::limitingStage() const {
  int64_t best = 0;
  for (const PipelineStageMemory &s : perStage)
    if (s.totalBytes() > perStage[best].totalBytes())
      best = s.stage;
  return best;
}

namespace {
/// "0-1, 4-5": the stage's layers, chunk by chunk.
std::string layerRanges(const PipelineStageMemory &s) {
  std::string text;
  for (auto [begin, end] : s.layers) {
    if (!text.empty())
      text += ", ";
    text += end - begin == 1
                ? std::to_string(begin)
                : std::to_string(begin) + "-" + std::to_string(end - 1);
  }
  return text;
}
} // namespace

void ckpt::printPipelineTable(const PipelineMemory &pipeline,
                              llvm::raw_ostream &os) {
  os << "pipeline: " << pipeline.stages << " stages";
  if (pipeline.virtualStages > 1)
    os << " of " << pipeline.virtualStages << " model chunks (interleaved)";
  else
    os << " (1F1B)";
  os << ", " << pipeline.microBatches << " micro-batches\n";
  os << llvm::formatv("{0,-6}{1,-12}{2,10}{3,18}{4,16}{5,14}{6,14}{7,14}"
                      "{8,11}\n",
                      "stage", "layers", "in flight", "kept/micro-batch",
                      "kept at once", "peak", "arena", "persistent",
                      "recompute");
  for (const PipelineStageMemory &s : pipeline.perStage)
    os << llvm::formatv(
        "{0,-6}{1,-12}{2,10}{3,18}{4,16}{5,14}{6,14}{7,14}{8,10:F2}%\n",
        s.stage, layerRanges(s), s.inFlight, formatBytes(s.keptPerMicroBatch),
        formatBytes(s.keptInFlight), formatBytes(s.peakBytes),
        formatBytes(s.arenaBytes), formatBytes(s.persistentBytes),
        s.stepFlops ? 100.0 * static_cast<double>(s.recomputeFlops) /
                          static_cast<double>(s.stepFlops)
                    : 0.0);
  const PipelineStageMemory &limit =
      pipeline.perStage[pipeline.limitingStage()];
  os << "the job is limited by stage " << limit.stage << ": "
     << formatBytes(limit.totalBytes()) << " (" << limit.totalBytes()
     << " bytes: arena and persistent state)\n"
     << "(recompute: the recompute FLOPs over the forward + backward FLOPs "
        "of a micro-batch)\n";
}

std::string
ckpt::pipelineReportToJson(const PipelineMemory &pipeline,
                           const std::vector<std::string> &stageReports) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os, 2);
  json.object([&] {
    json.attribute("schema", "ckpt-pipeline-report");
    json.attribute("version", 1);
    json.attributeObject("pipeline", [&] {
      json.attribute("stages", pipeline.stages);
      json.attribute("virtual_stages", pipeline.virtualStages);
      json.attribute("micro_batches", pipeline.microBatches);
      json.attribute("limiting_stage", pipeline.limitingStage());
    });
    json.attributeArray("stages", [&] {
      for (const PipelineStageMemory &s : pipeline.perStage)
        json.object([&] {
          json.attribute("stage", s.stage);
          json.attributeArray("layers", [&] {
            for (auto [begin, end] : s.layers)
              json.array([&, begin = begin, end = end] {
                json.value(begin);
                json.value(end);
              });
          });
          json.attribute("in_flight", s.inFlight);
          json.attribute("kept_bytes_per_micro_batch", s.keptPerMicroBatch);
          json.attribute("kept_bytes_at_once", s.keptInFlight);
          json.attribute("peak_bytes", s.peakBytes);
          json.attribute("arena_bytes", s.arenaBytes);
          json.attribute("persistent_bytes", s.persistentBytes);
          json.attribute("recompute_flops_per_micro_batch", s.recomputeFlops);
          json.attribute("step_flops_per_micro_batch", s.stepFlops);
          // The stage's report as written, not parsed again.
          json.attributeBegin("report");
          json.rawValue(llvm::StringRef(stageReports[s.stage]).trim());
          json.attributeEnd();
        });
    });
  });
  os << "\n";
  return text;
}
