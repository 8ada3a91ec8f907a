#pragma once
// Ablation over the ranks of a job (issue 24; distributed/group.h): rank r runs shard r/N of the
// units into `out`.shardRofN (resumable as any shard), the finished shards travel to rank 0 through
// the job's store (no shared file system needed), and rank 0 merges them into `out`, the file one
// process writes, and removes the shard files. Light header.
#include <filesystem>
#include <functional>
#include <optional>

#include "analysis/ablation.h"

namespace asdm {

namespace dist {
class Group;
}

// The merged document on rank 0, nullopt on the other ranks. Throws asdm::Error when `options`
// already names a shard (--shard and ranks both split the units). A job of one runs run_ablation.
std::optional<ImportanceArtifact> run_ablation_over_ranks(
    const AblationSubject& subject, AblationOptions options, const RunContext& context,
    const std::filesystem::path& out, bool resume, dist::Group& job,
    const std::function<void(const AblationProgress&)>& progress = {});

}  // namespace asdm
