#include "pruner/search_ranks.h"

#include <nlohmann/json.hpp>

#include "analysis/importance_io.h"
#include "core/error.h"
#include "distributed/group.h"

namespace asdm {
namespace {

// The refinement's messages between ranks: rank 0 sends {"op": "score", model, edits, sets} or
// {"op": "stop"}; every rank answers with its share of the scores (set i goes to rank i % world).
nlohmann::json edits_json(const std::vector<Edit>& edits) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : edits)
    a.push_back({{"op", int(e.op)},
                 {"unit", e.unit},
                 {"stage", e.stage},
                 {"index", e.index},
                 {"window", e.window},
                 {"pool", e.pool},
                 {"experts", e.experts}});
  return a;
}

std::vector<Edit> edits_from(const nlohmann::json& a) {
  std::vector<Edit> edits;
  for (const auto& j : a) {
    Edit e;
    e.op = Edit::Op(j.at("op").get<int>());
    e.unit = j.at("unit");
    e.stage = j.at("stage");
    e.index = j.at("index");
    e.window = j.at("window");
    e.pool = j.at("pool");
    e.experts = j.at("experts").get<std::vector<std::string>>();
    edits.push_back(e);
  }
  return edits;
}

// This rank's share of `sets`, scored.
std::vector<double> my_scores(const dist::Group& job, const GroupLossFn& scorer,
                              const std::vector<Edit>& edits,
                              const std::vector<std::vector<std::string>>& sets) {
  std::vector<double> mine;
  for (size_t i = size_t(job.rank()); i < sets.size(); i += size_t(job.world()))
    mine.push_back(scorer(edits, sets[i]));
  return mine;
}

// A rank other than 0: scores what rank 0 sends until it says stop.
void serve_scores(dist::Group& job, const CandidateSearchOptions& o,
                  const GroupLossFactory& factory) {
  GroupLossFn scorer;
  while (true) {
    const auto request = nlohmann::json::parse(job.all_gather("", "the refinement's sets").at(0));
    if (request.at("op") != "score") return;
    if (!scorer)
      scorer = factory(request.at("model"), read_importance_scores(o.importance, o.metric));
    const auto sets = request.at("sets").get<std::vector<std::vector<std::string>>>();
    job.all_gather(
        nlohmann::json(my_scores(job, scorer, edits_from(request.at("edits")), sets)).dump(),
        "the refinement's scores");
  }
}

}  // namespace

std::optional<CandidateSet> search_candidates_over_ranks(const CandidateSearchOptions& so,
                                                         const GroupLossFactory& scorer,
                                                         const RunContext& context,
                                                         const SearchProgress& progress,
                                                         dist::Group& job) {
  GroupLossSpread spread;
  std::string model;  // the teacher the scorer was made for, for the other ranks
  GroupLossFactory factory = scorer;
  if (job.world() > 1) {
    if (!scorer)
      fail(
          "asdm search over {} ranks spreads the refinement's grouped scores, which need "
          "--refine-prompts or --refine-embeddings; without them run one process",
          job.world());
    if (!job.leader()) {
      serve_scores(job, so, scorer);
      return std::nullopt;
    }
    factory = [&](const std::string& m, const ImportanceScores& importance) {
      model = m;
      return scorer(m, importance);
    };
    spread = [&](const GroupLossFn& one, const std::vector<Edit>& edits,
                 const std::vector<std::vector<std::string>>& sets) {
      job.all_gather(
          nlohmann::json{
              {"op", "score"}, {"model", model}, {"edits", edits_json(edits)}, {"sets", sets}}
              .dump(),
          "the refinement's sets");
      const std::vector<std::string> parts = job.all_gather(
          nlohmann::json(my_scores(job, one, edits, sets)).dump(), "the refinement's scores");
      std::vector<std::vector<double>> per_rank;
      for (const auto& p : parts) per_rank.push_back(nlohmann::json::parse(p));
      std::vector<double> losses;
      for (size_t i = 0; i < sets.size(); ++i)
        losses.push_back(per_rank[i % parts.size()].at(i / parts.size()));
      return losses;
    };
  }
  auto stop_others = [&] {
    if (job.world() > 1) job.all_gather(nlohmann::json{{"op", "stop"}}.dump(), "the stop");
  };
  CandidateSet set;
  try {
    set = search_candidates(so, factory, context, progress, spread);
  } catch (const std::exception&) {
    try {
      stop_others();  // the other ranks end too; the error is rank 0's
    } catch (const std::exception&) {
    }
    throw;
  }
  stop_others();
  return set;
}

}  // namespace asdm
