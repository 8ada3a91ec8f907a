#pragma once
// eval.json (asdm eval; DESIGN.md §8), torch-free: what was scored (a folder, or a pipeline with
// an optional student UNet and its sampler settings), how many images, and one entry per metric
// with its value, n, definition, the weights' SHA-256 and its reference. finish_eval
// (eval/eval_run.h) fills and writes it; reports/ reads it back.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"

namespace asdm {

struct EvalSource {
  std::string kind;                          // "images" | "generate"
  std::string folder;                        // images
  std::string model, config, unet, sampler;  // generate
  std::string cache_plan;                    // generate: "" = none
  int steps = 0, height = 0, width = 0, clip_skip = 0, score_size = 0;
  double guidance = 0;
  uint64_t seed = 0;
  // What the images are of, for tables: the student's folder name, else the pipeline's or the
  // image folder's.
  std::string label() const;
};
nlohmann::json to_json(const EvalSource& s);
// asdm::Error (through nlohmann) when a field has the wrong type; callers parse inside
// parse_artifact_fields.
EvalSource eval_source_from_json(const nlohmann::json& j);

struct EvalMetric {
  std::string name;  // "fid" | "inception_score" | "clip_score" | "cmmd"
  double value = 0;
  std::optional<double> std;  // inception_score: over its splits
  int64_t n = 0;
  std::string definition;
  std::string weights_sha256;  // the Inception's or the CLIP model's
  std::string mode;            // fid: pytorch-fid | clean | torch-fidelity
  int dims = 0;                // fid
  int splits = 0;              // inception_score
  std::string model, flavour;  // clip_score, cmmd: the CLIP folder's name and kind
  std::string reference;       // fid, cmmd: the reference statistics file or image folder
  int64_t reference_n = 0;
  std::string reference_sha256;  // fid with --ref-stats
};

struct EvalRecord {
  static constexpr const char* kArtifact = "eval";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm eval";
  ArtifactHeader header;
  int64_t n = 0;
  EvalSource source;
  std::string captions;  // the caption file ("" for none)
  int batch = 0;
  std::string dtype;
  std::vector<EvalMetric> metrics;  // in name order
  std::string statistics;           // this set's FID statistics file, beside eval.json
  double features_s = 0;            // time spent computing the batches (all shards)
  double images_per_s = 0;

  const EvalMetric* find(const std::string& name) const;
  nlohmann::json to_json() const;
  static EvalRecord from_json(const nlohmann::json& j, const std::string& source = "eval");
  static EvalRecord read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// The table asdm eval prints: one line per metric, "name  value [± std]  (n = N)".
std::string eval_table(const EvalRecord& r);

}  // namespace asdm
