#include "analysis/ablation_ranks.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "distributed/group.h"

namespace asdm {

std::optional<ImportanceArtifact> run_ablation_over_ranks(
    const AblationSubject& subject, AblationOptions o, const RunContext& context,
    const std::filesystem::path& out, bool resume, dist::Group& job,
    const std::function<void(const AblationProgress&)>& progress) {
  if (job.world() == 1) return run_ablation(subject, o, context, out, resume, progress);
  if (o.shard_count != 1)
    fail("--shard with {} ranks: the ranks split the units themselves (rank r takes shard r/{})",
         job.world(), job.world());
  o.shard_index = job.rank();
  o.shard_count = job.world();
  auto shard_file = [&](int r) {
    return std::filesystem::path(out.string() + fmt::format(".shard{}of{}", r, job.world()));
  };
  const ImportanceArtifact mine = run_ablation(subject, o, context, shard_file(job.rank()), resume,
                                               job.leader() ? progress : nullptr);
  const std::vector<std::string> shards =
      job.all_gather(mine.to_json().dump(), "the ranks' importance shards");
  if (!job.leader()) return std::nullopt;
  std::vector<std::filesystem::path> files;
  for (int r = 0; r < job.world(); ++r) {
    files.push_back(shard_file(r));
    if (r != job.rank()) write_file_atomic(files.back(), shards[r]);
  }
  ImportanceArtifact doc = merge_importance(files, context, out);
  for (const auto& f : files) std::filesystem::remove(f);
  return doc;
}

}  // namespace asdm
