#include "pruner/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"

namespace asdm {

namespace {

struct Option {
  std::vector<std::string> units;  // removed
  std::vector<std::string> gri;    // made GRI
  int weight = 0;                  // latency saved, in bins (rounded down)
  double loss = 0;
};

// One choice of the knapsack: a ResBlock (remove or not) or a block's attention units (a subset).
struct Group {
  std::vector<Option> options;
};

}  // namespace

SearchResult search(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& o) {
  if (!(o.target_speedup > 0 && o.target_speedup < 1))
    fail("target speedup must be in (0, 1) (got {})", o.target_speedup);
  if (o.max_candidates < 1) fail("max candidates must be at least 1 (got {})", o.max_candidates);
  if (o.bins < 10) fail("bins must be at least 10 (got {})", o.bins);
  for (const auto& list : {o.keep, o.remove})
    for (const auto& id : list) {
      const UnitInfo& u = layout.at(id);  // unknown ids: "unit 'x' not found; known: ..."
      if (!u.removable() || !u.parent.empty())
        fail("unit '{}' ({}) is not one the search removes; searchable units: {}", id,
             to_string(u.kind), join_limited(layout.ids(true), 6));
    }
  for (const auto& id : o.keep)
    if (std::find(o.remove.begin(), o.remove.end(), id) != o.remove.end())
      fail("unit '{}' is both kept and removed", id);
  std::vector<std::string> foreign;
  for (const auto& [id, s] : scores)
    if (!layout.find(id)) foreign.push_back(id);
  if (!foreign.empty())
    fail("the importance scores are for another model: it has no {}", join_limited(foreign, 3));

  const double teacher = latency.teacher_ms(), delta = teacher / o.bins;
  auto is_kept = [&](const std::string& id) {
    return std::find(o.keep.begin(), o.keep.end(), id) != o.keep.end() || !scores.count(id);
  };
  auto is_forced = [&](const std::string& id) {
    return std::find(o.remove.begin(), o.remove.end(), id) != o.remove.end();
  };
  for (const auto& [id, g] : o.gri) {
    const UnitInfo& u = layout.at(id);
    if (u.kind != UnitKind::kAttention || !u.parent.empty())
      fail("GRI choice for '{}': not an attention unit", id);
    if (!(g.saved_ms >= 0) || !(g.loss >= 0))
      fail("GRI choice for '{}': saved ms and loss must be >= 0", id);
  }
  auto option = [&](std::vector<std::string> units, std::vector<std::string> gri = {}) {
    Option op;
    for (const auto& id : units) {
      op.weight += static_cast<int>(std::floor(latency.saved_ms(id) / delta));
      op.loss += scores.at(id);
    }
    for (const auto& id : gri) {
      op.weight += static_cast<int>(std::floor(o.gri.at(id).saved_ms / delta));
      op.loss += o.gri.at(id).loss;
    }
    op.units = std::move(units);
    op.gri = std::move(gri);
    return op;
  };

  // The groups, in forward order.
  std::vector<Group> groups;
  SearchResult result;
  result.teacher_ms = teacher;
  std::vector<const BlockInfo*> blocks;
  for (const auto& b : layout.down) blocks.push_back(&b);
  if (layout.mid) blocks.push_back(&*layout.mid);
  for (const auto& b : layout.up) blocks.push_back(&b);
  for (const BlockInfo* b : blocks) {
    for (int i : b->resnets) {
      const std::string& id = layout.units[i].id;
      if (is_kept(id)) continue;
      ++result.searched_units;
      Group g;
      if (!is_forced(id)) g.options.push_back(Option{});
      g.options.push_back(option({id}));
      groups.push_back(g);
    }
    std::vector<std::string> free, forced;
    bool any_kept = false;
    for (int i : b->attentions) {
      const std::string& id = layout.units[i].id;
      if (is_kept(id)) {
        any_kept = true;
      } else {
        (is_forced(id) ? forced : free).push_back(id);
        ++result.searched_units;
      }
    }
    if (free.empty() && forced.empty()) continue;
    const bool must_keep_one = o.keep_cross_attention && b->cross_attention && !any_kept;
    if (must_keep_one && free.empty())
      fail(
          "removing every attention unit of {} ({}) leaves it no cross-attention; keep one, or "
          "allow it",
          b->id, join_limited(forced, 4));
    // Every free unit kept (0), removed (1) or, where it may, made GRI (2): 3^n states, n <= 3 in
    // SD-family blocks.
    Group g;
    const size_t n = free.size();
    size_t states = 1;
    for (size_t k = 0; k < n; ++k) states *= 3;
    for (size_t code = 0; code < states; ++code) {
      std::vector<std::string> units = forced, gri;
      bool valid = true, all_removed = true;
      for (size_t k = 0, c = code; k < n; ++k, c /= 3) {
        const size_t state = c % 3;
        if (state == 2 && !o.gri.count(free[k])) valid = false;
        if (state == 1) units.push_back(free[k]);
        if (state == 2) gri.push_back(free[k]);
        all_removed = all_removed && state == 1;
      }
      if (!valid || (must_keep_one && all_removed)) continue;
      g.options.push_back(option(units, gri));
    }
    groups.push_back(g);
  }

  // Least loss for each total weight, exactly.
  int W = 0;
  for (const auto& g : groups) {
    int w = 0;
    for (const auto& op : g.options) w = std::max(w, op.weight);
    W += w;
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> dp(W + 1, inf);
  std::vector<std::vector<int>> choice(groups.size(), std::vector<int>(W + 1, -1));
  dp[0] = 0;
  int reach = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    std::vector<double> next(W + 1, inf);
    const auto& opts = groups[gi].options;
    // Forced options carry weight too: the first group's minimum weight may exceed 0.
    for (int w = 0; w <= reach; ++w) {
      if (dp[w] == inf) continue;
      for (size_t k = 0; k < opts.size(); ++k) {
        const int nw = w + opts[k].weight;
        const double nl = dp[w] + opts[k].loss;
        if (nl < next[nw]) {
          next[nw] = nl;
          choice[gi][nw] = static_cast<int>(k);
        }
      }
    }
    int maxw = 0;
    for (const auto& op : opts) maxw = std::max(maxw, op.weight);
    reach += maxw;
    dp.swap(next);
  }
  // The choices behind a total weight: removed units and GRI units, in forward order.
  auto backtrack = [&](int w) {
    std::set<std::string> chosen, made_gri;
    for (size_t gi = groups.size(); gi-- > 0;) {
      const int k = choice[gi][w];
      ASDM_CHECK(k >= 0, "search: no choice at group {} weight {}", gi, w);
      for (const auto& id : groups[gi].options[k].units) chosen.insert(id);
      for (const auto& id : groups[gi].options[k].gri) made_gri.insert(id);
      w -= groups[gi].options[k].weight;
    }
    std::pair<std::vector<std::string>, std::vector<std::string>> out;
    for (const auto& u : layout.units) {
      if (chosen.count(u.id)) out.first.push_back(u.id);
      if (made_gri.count(u.id)) out.second.push_back(u.id);
    }
    return out;
  };
  auto predict_ms = [&](const std::pair<std::vector<std::string>, std::vector<std::string>>& sets) {
    double ms = latency.predict_ms(sets.first);
    for (const auto& id : sets.second) ms -= o.gri.at(id).saved_ms;
    return ms;
  };
  int best_w = 0;
  for (int w = W; w >= 0; --w)
    if (dp[w] < inf) {
      best_w = w;
      break;
    }
  result.best_reachable_speedup = 1 - predict_ms(backtrack(best_w)) / teacher;
  const int required = static_cast<int>(std::ceil(o.target_speedup * o.bins - 1e-9));
  if (best_w < required)
    fail(
        "target speedup {:.3f} is unreachable: the best reachable is {:.3f} (predicted {:.2f} ms "
        "of {:.2f} ms with "
        "every allowed unit removed)",
        o.target_speedup, result.best_reachable_speedup,
        teacher * (1 - result.best_reachable_speedup), teacher);

  // The front: least loss for at least each saving.
  std::vector<int> arg(W + 1, -1);
  double best = inf;
  int at = -1;
  for (int w = W; w >= 0; --w) {
    if (dp[w] < best) {
      best = dp[w];
      at = w;
    }
    arg[w] = at;
  }
  for (int w = 0; w <= W; ++w)
    if (dp[w] < inf && arg[w] == w)
      result.front.push_back({1 - predict_ms(backtrack(w)) / teacher, dp[w]});

  std::set<std::pair<std::vector<std::string>, std::vector<std::string>>> seen;
  for (int k = 0; k < o.max_candidates * 4 && int(result.candidates.size()) < o.max_candidates;
       ++k) {
    const int req =
        static_cast<int>(std::ceil((o.target_speedup + k * o.candidate_step) * o.bins - 1e-9));
    if (req > W || arg[req] < 0) break;
    const auto sets = backtrack(arg[req]);
    if (!seen.insert(sets).second) continue;
    Candidate c;
    c.removed = sets.first;
    c.gri = sets.second;
    c.predicted_ms = predict_ms(sets);
    c.predicted_speedup = 1 - c.predicted_ms / teacher;
    c.predicted_loss = dp[arg[req]];
    result.candidates.push_back(c);
  }
  return result;
}

}  // namespace asdm
