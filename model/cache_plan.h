#pragma once
// A cache plan (issue 23, in the ArchSpec family of files): per model call of one sampling run,
// which units take their branch output from the last call that computed them instead of computing
// it (`out = shortcut(x_t) + branch(x_t')`: the unit keeps its shortcut on this call's input).
// Temporal redundancy, next to the structural kind an ArchSpec removes; applied to a UNet forward
// by model/branch_cache.h. Torch-free.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "model/arch_spec.h"

namespace asdm {

struct CachePlan {
  static constexpr const char* kArtifact = "cache_plan";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm cache-plan";
  ArtifactHeader header;

  ArchSpec model;  // the architecture the plan is for (a teacher, or a student with its edits)
  int calls = 0;   // model calls of one sampling run (a sampler's steps; PNDM: steps + 1)
  std::vector<std::vector<std::string>> reuse;  // per call: the units reused there
  // DeepCache's skip-branch form: on the calls marked in `skip` the whole network at resolution
  // level >= skip_level (those down blocks, the mid block, those up blocks) does not run; the
  // first up block below it takes the hidden state kept from the last call that ran them. The
  // shallower blocks run as usual, on their fresh skip connections. 0: no skipping.
  int skip_level = 0;
  // DeepCache's branch inside a block: with skip_layers k >= 0, on skip calls the down block at
  // level skip_level - 1 runs only its first k layers and the up block at that level only its last
  // k + 1 (those fed by skip connections computed at this call); the hidden state entering the
  // first of them is the one kept. -1: those blocks run whole. DeepCache's cache_branch_id b on SD
  // is skip_level b % 3 + 1 with skip_layers b / 3 + 1 (its default, branch 0: level 1, 1 layer).
  int skip_layers = -1;
  std::vector<bool> skip;  // per call (empty: none)
  std::string policy;      // how it was made, in words ("uniform: every 3rd call computes ...")

  // Every unit the plan reuses somewhere (the ones whose branch must be kept between calls).
  std::set<std::string> units() const;
  // Model calls that reuse at least one unit or skip the deep part.
  int reusing_calls() const;
  bool skips(int call) const { return call >= 0 && call < int(skip.size()) && skip[call]; }

  // Throws asdm::Error with one line naming the first mismatch: a plan for another model (its
  // teacher config or edits differ), for another number of model calls, a unit the model lacks,
  // that is not removable (only units with a shortcut have a branch) or that it removes, or a unit
  // reused before any call computed it; a skip level outside 1..the model's deepest level, skip
  // layers outside -1..the layers of the down block above it, or a skip before any call ran the
  // deep part.
  void check(const ArchSpec& model, int calls) const;

  // DeepCache's uniform policy on `units`: every `interval`-th call (0, interval, 2·interval, ...)
  // computes them, the calls between reuse them.
  static CachePlan uniform(const ArchSpec& model, const std::vector<std::string>& units,
                           int interval, int calls);

  // DeepCache's skip-branch form: every `interval`-th call runs the whole network, the calls
  // between skip everything at resolution level >= `level` (and, with layers >= 0, the layers of
  // the blocks at level - 1 that skip_layers says).
  static CachePlan uniform_skip(const ArchSpec& model, int level, int interval, int calls,
                                int layers = -1);

  nlohmann::json to_json() const;
  static CachePlan from_json(const nlohmann::json& j, const std::string& source = "cache plan");
  static CachePlan read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

}  // namespace asdm
