#pragma once
// The eval stage (asdm eval) as library calls: score a folder of images, or a pipeline's images of
// a caption file (a student UNet optionally swapped in), with FID, IS, CLIP score and CMMD
// (eval/fid.h, inception_score.h, clip_scorer.h, cmmd.h), at 30K-image scale:
//   * work in batches of the caption list; each batch's features (and generated PNGs) are written
//     to <out>/features/batch-NNNNNN.safetensors as it finishes, so a killed run resumes where it
//     stopped, with the settings checked against <out>/eval-settings.json;
//   * --shard i/n (or the ranks of a torchrun job) takes batches i, i+n, ...; merge_eval joins
//     shard folders; the metrics are computed once every batch is present;
//   * <out>/eval.json (DESIGN.md §8 artifact fields; every metric with its n, definition and the
//     weights' SHA-256) and <out>/stats.npz (this set's FID statistics, pytorch-fid's layout).
// Light header.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "eval/eval_record.h"

namespace asdm {

struct EvalOptions {
  // What is scored: a folder of images, or what a pipeline generates from the captions.
  std::string images;               // eval images DIR
  std::string model, config, unet;  // eval generate: pipeline (+ single-file config), student
  std::string captions;             // caption file (eval/captions.h); needed to generate
  int limit = 0;                    // the first N captions (0: all)
  int steps = 25, height = 0, width = 0, clip_skip = 0;
  double guidance = 7.5;
  std::string sampler;
  uint64_t seed = 0;         // image i starts from noise seeded by (seed, i)
  bool keep_images = false;  // generated PNGs in <out>/images with captions.json
  std::string cache_plan;    // cache_plan.json (model/cache_plan.h) the sampler applies
  int score_size = 0;        // generated images resized to this square side before scoring (Pillow
                             // bicubic, 8-bit; BK-SDM scores its 512 px images at 256)
  // Metrics: each runs when its weights are given.
  std::string inception;  // FID Inception-v3 weights: FID and IS
  std::string fid_mode = "pytorch-fid";
  int fid_dims = 2048;
  bool inception_score = true;
  std::string ref_stats;             // FID reference: an .npz (mu, sigma) ...
  std::string ref_images;            // ... or a folder of images (also CMMD's reference)
  std::string clip, clip_tokenizer;  // CLIP folder: CLIP score (needs captions), CMMD
  // How.
  std::string out = "eval";
  int batch = 16;
  std::string device = "cpu", dtype = "fp32";
  int shard_index = 0, shard_count = 1;
};

struct EvalProgress {
  int batches_done = 0, batches_total = 0;  // this shard's batches, resumed ones included
  int64_t images_done = 0, images_total = 0;
  double elapsed_s = 0, eta_s = -1;  // this process; -1 until a batch was timed
};

using EvalNote = std::function<void(const std::string&)>;
using EvalProgressFn = std::function<void(const EvalProgress&)>;

// Validates everything before any work (files, weights, captions, settings of an earlier run in
// <out>), then computes this shard's missing batches. Returns true when every batch of the run is
// now in <out>. Throws asdm::Error naming the bad input.
bool compute_eval_batches(const EvalOptions& options, const EvalNote& note,
                          const EvalProgressFn& progress);

// The metrics from the batches in `out` (all must be there; asdm::Error lists the missing ones):
// writes <out>/stats.npz and <out>/eval.json and returns the record.
EvalRecord finish_eval(const std::filesystem::path& out, const RunContext& context,
                       const EvalNote& note);

// Copies the batches of shard folders (runs of the same settings) into `out`; asdm::Error when the
// settings differ or a batch is in none of them. Then finish_eval.
EvalRecord merge_eval(const std::vector<std::filesystem::path>& shards,
                      const std::filesystem::path& out, const RunContext& context,
                      const EvalNote& note);

// FID statistics of a folder of images (pytorch-fid's `--save-stats`): the same Inception,
// preprocessing and feature layer as an eval run.
struct FolderStatsOptions {
  std::string images, inception, fid_mode = "pytorch-fid", device = "cpu", dtype = "fp32";
  int fid_dims = 2048, batch = 16;
};
void write_folder_stats(const FolderStatsOptions& options, const std::filesystem::path& npz,
                        const EvalProgressFn& progress);

}  // namespace asdm
