// The search: the same optimum as brute force on small instances, its constraints, the Pareto
// front, and the errors a user meets.
#include "pruner/search.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/model_files.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

UNetLayout tiny_layout() {
  return load_arch(locate_model(test::config_path("tiny"))).student_layout();
}

// A synthetic profile of a layout: every unit gets a time; the forward is their sum plus `rest`.
ProfileLatency synthetic_profile(const UNetLayout& layout, uint32_t seed, double rest = 5.0) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> t(0.5, 10.0);
  ProfileLatency p;
  p.path = "synthetic.json";
  p.forward_ms = rest;
  for (const auto& u : layout.units) {
    const double ms = t(g);
    p.units[u.id] = {ms, ms, u.parent};
    if (u.parent.empty()) p.forward_ms += ms;
  }
  return p;
}

std::map<std::string, double> synthetic_scores(const UNetLayout& layout, uint32_t seed) {
  std::mt19937 g(seed);
  std::exponential_distribution<double> e(10.0);
  std::map<std::string, double> s;
  for (const auto& id : layout.ids(true)) s[id] = e(g);
  return s;
}

TEST(Search, MatchesBruteForceOnSmallInstances) {
  const UNetLayout layout = tiny_layout();
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const ProfileLatency p = synthetic_profile(layout, seed);
    const LatencyModel lat(p, layout);
    const auto scores = synthetic_scores(layout, seed + 100);
    // Search over 12 units (keep the rest), brute force over their 4096 subsets.
    const auto all = layout.ids(true);
    std::vector<std::string> free(all.begin() + 10, all.begin() + 22), keep;
    for (const auto& id : all)
      if (std::find(free.begin(), free.end(), id) == free.end()) keep.push_back(id);
    SearchOptions o;
    o.keep = keep;
    o.target_speedup = 0.15;
    o.bins = 1000;
    const SearchResult r = search(layout, lat, scores, o);
    ASSERT_FALSE(r.candidates.empty());
    EXPECT_EQ(r.searched_units, 12);
    const double delta = lat.teacher_ms() / o.bins;
    const int required = static_cast<int>(std::ceil(o.target_speedup * o.bins - 1e-9));
    double best = 1e300;
    for (int mask = 0; mask < (1 << 12); ++mask) {
      std::vector<std::string> set;
      int w = 0;
      double loss = 0;
      for (int k = 0; k < 12; ++k)
        if (mask >> k & 1) {
          set.push_back(free[k]);
          w += static_cast<int>(std::floor(lat.saved_ms(free[k]) / delta));
          loss += scores.at(free[k]);
        }
      // The cross-attention constraint: no block loses all its attention units.
      bool ok = true;
      for (const auto* blocks : {&layout.down, &layout.up})
        for (const auto& b : *blocks) {
          if (!b.cross_attention || b.attentions.empty()) continue;
          bool all_gone = true;
          for (int i : b.attentions)
            all_gone =
                all_gone && std::find(set.begin(), set.end(), layout.units[i].id) != set.end();
          ok = ok && !all_gone;
        }
      if (layout.mid && layout.mid->cross_attention)
        for (int i : layout.mid->attentions)
          ok = ok && std::find(set.begin(), set.end(), layout.units[i].id) == set.end();
      if (ok && w >= required) best = std::min(best, loss);
    }
    const Candidate& c = r.candidates.front();
    EXPECT_NEAR(c.predicted_loss, best, 1e-12) << "seed " << seed;
    EXPECT_GE(c.predicted_speedup, o.target_speedup) << "seed " << seed;
    EXPECT_NEAR(c.predicted_ms, lat.predict_ms(c.removed), 1e-9);
    // Later candidates are faster; the front's loss rises with speedup.
    for (size_t k = 1; k < r.candidates.size(); ++k)
      EXPECT_GT(r.candidates[k].predicted_speedup, r.candidates[k - 1].predicted_speedup);
    for (size_t k = 1; k < r.front.size(); ++k) EXPECT_GT(r.front[k].loss, r.front[k - 1].loss);
  }
}

// With GRI choices each attention unit is kept, removed or made GRI (a cross-attention kept);
// the search's optimum equals brute force over all 3-way assignments.
TEST(Search, GriIsAThirdChoiceAndTheOptimumMatchesBruteForce) {
  const UNetLayout layout = tiny_layout();
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    const ProfileLatency p = synthetic_profile(layout, seed);
    const LatencyModel lat(p, layout);
    const auto scores = synthetic_scores(layout, seed + 200);
    const auto all = layout.ids(true);
    std::vector<std::string> free(all.begin() + 8, all.begin() + 17), keep;
    for (const auto& id : all)
      if (std::find(free.begin(), free.end(), id) == free.end()) keep.push_back(id);
    SearchOptions o;
    o.keep = keep;
    o.target_speedup = 0.12;
    o.bins = 1000;
    std::mt19937 g(seed);
    int gri_units = 0;
    for (const auto& id : free)
      if (layout.at(id).kind == UnitKind::kAttention) {
        // GRI saves part of what removal saves, at a part of its loss.
        o.gri[id] = {lat.saved_ms(id) * std::uniform_real_distribution<double>(0.2, 0.8)(g),
                     scores.at(id) * std::uniform_real_distribution<double>(0.01, 0.5)(g)};
        ++gri_units;
      }
    ASSERT_GE(gri_units, 3);
    const SearchResult r = search(layout, lat, scores, o);
    ASSERT_FALSE(r.candidates.empty());
    const double delta = lat.teacher_ms() / o.bins;
    const int required = static_cast<int>(std::ceil(o.target_speedup * o.bins - 1e-9));
    double best = 1e300;
    int states = 1;
    for (size_t k = 0; k < free.size(); ++k) states *= 3;
    for (int code = 0; code < states; ++code) {
      std::vector<std::string> removed;
      int w = 0;
      double loss = 0;
      bool valid = true;
      for (size_t k = 0, c = code; k < free.size(); ++k, c /= 3) {
        const int state = c % 3;
        if (state == 1) {
          removed.push_back(free[k]);
          w += static_cast<int>(std::floor(lat.saved_ms(free[k]) / delta));
          loss += scores.at(free[k]);
        } else if (state == 2) {
          if (!o.gri.count(free[k]))
            valid = false;
          else {
            w += static_cast<int>(std::floor(o.gri.at(free[k]).saved_ms / delta));
            loss += o.gri.at(free[k]).loss;
          }
        }
      }
      if (!valid) continue;
      std::vector<const BlockInfo*> blocks;
      for (const auto& b : layout.down) blocks.push_back(&b);
      if (layout.mid) blocks.push_back(&*layout.mid);
      for (const auto& b : layout.up) blocks.push_back(&b);
      for (const BlockInfo* b : blocks) {
        if (!b->cross_attention || b->attentions.empty()) continue;
        bool all_gone = true;
        for (int i : b->attentions)
          all_gone = all_gone &&
                     std::find(removed.begin(), removed.end(), layout.units[i].id) != removed.end();
        valid = valid && !all_gone;
      }
      if (valid && w >= required) best = std::min(best, loss);
    }
    const Candidate& c = r.candidates.front();
    EXPECT_NEAR(c.predicted_loss, best, 1e-12) << "seed " << seed;
    double gri_ms = 0;
    for (const auto& id : c.gri) {
      gri_ms += o.gri.at(id).saved_ms;
      EXPECT_EQ(std::find(c.removed.begin(), c.removed.end(), id), c.removed.end())
          << id << " both removed and GRI";
    }
    EXPECT_NEAR(c.predicted_ms, lat.predict_ms(c.removed) - gri_ms, 1e-9);
    EXPECT_GE(c.predicted_speedup, o.target_speedup);
  }
}

TEST(Search, FreeGriIsTakenAndCountsAsKeepingTheCrossAttention) {
  const UNetLayout layout = tiny_layout();
  const ProfileLatency p = synthetic_profile(layout, 3);
  const LatencyModel lat(p, layout);
  auto scores = synthetic_scores(layout, 4);
  SearchOptions o;
  o.target_speedup = 0.1;
  for (const auto& u : layout.units)
    if (u.kind == UnitKind::kAttention && u.parent.empty())
      o.gri[u.id] = {lat.saved_ms(u.id) * 0.5, 0.0};
  const SearchResult r = search(layout, lat, scores, o);
  ASSERT_FALSE(r.candidates.empty());
  // GRI at no loss is in every candidate wherever the unit is not removed.
  for (const auto& c : r.candidates)
    for (const auto& [id, g] : o.gri)
      EXPECT_TRUE(std::find(c.removed.begin(), c.removed.end(), id) != c.removed.end() ||
                  std::find(c.gri.begin(), c.gri.end(), id) != c.gri.end())
          << id;
  SearchOptions bad = o;
  bad.gri["down_blocks.0.resnets.0"] = {1, 0};
  try {
    search(layout, lat, scores, bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "GRI choice for 'down_blocks.0.resnets.0': not an attention unit");
  }
}

TEST(Search, KeepsACrossAttentionInEveryBlockAndHonoursLists) {
  const UNetLayout layout = tiny_layout();
  ProfileLatency p = synthetic_profile(layout, 7);
  auto scores = synthetic_scores(layout, 8);
  // Attention units are free to remove and save a lot: without the constraint all would go.
  for (const auto& u : layout.units)
    if (u.kind == UnitKind::kAttention) {
      scores[u.id] = 0;
      p.units[u.id].inclusive_ms = 40;
      p.forward_ms += 40 - p.units[u.id].exclusive_ms;
    }
  const LatencyModel lat(p, layout);
  SearchOptions o;
  o.target_speedup = 0.3;
  o.remove = {"up_blocks.0.resnets.1"};
  o.keep = {"down_blocks.0.resnets.0"};
  const SearchResult r = search(layout, lat, scores, o);
  for (const auto& c : r.candidates) {
    for (const auto* blocks : {&layout.down, &layout.up})
      for (const auto& b : *blocks) {
        if (!b.cross_attention) continue;
        int kept = 0;
        for (int i : b.attentions)
          kept +=
              std::find(c.removed.begin(), c.removed.end(), layout.units[i].id) == c.removed.end();
        EXPECT_GE(kept, 1) << b.id;
      }
    EXPECT_NE(std::find(c.removed.begin(), c.removed.end(), "up_blocks.0.resnets.1"),
              c.removed.end());
    EXPECT_EQ(std::find(c.removed.begin(), c.removed.end(), "down_blocks.0.resnets.0"),
              c.removed.end());
  }
  o.keep_cross_attention = false;
  const SearchResult free = search(layout, lat, scores, o);
  EXPECT_LE(free.candidates.front().predicted_loss, r.candidates.front().predicted_loss);
}

// A profile whose units and forward were timed under different load says so.
TEST(Search, APredictorOnAnInconsistentProfileWarns) {
  const UNetLayout layout = tiny_layout();
  ProfileLatency p = synthetic_profile(layout, 3);
  const LatencyModel ok(p, layout);
  EXPECT_GT(ok.unit_share(), 0.9);
  EXPECT_LT(ok.unit_share(), 1.0);
  EXPECT_EQ(ok.consistency_warning(), "");
  const double units = ok.unit_share() * p.forward_ms;
  p.forward_ms = units / 0.1;  // the forward's runs slowed by a busy machine, the units' not
  const std::string w = LatencyModel(p, layout).consistency_warning();
  EXPECT_EQ(w.rfind("warning: in synthetic.json the units add up to 10% of the forward's ", 0), 0u)
      << w;
  p.forward_ms = units / 1.5;
  EXPECT_NE(LatencyModel(p, layout).consistency_warning().find("add up to 150%"),
            std::string::npos);
}

TEST(Search, BadInputGivesClearErrors) {
  const UNetLayout layout = tiny_layout();
  const ProfileLatency p = synthetic_profile(layout, 3);
  const LatencyModel lat(p, layout);
  const auto scores = synthetic_scores(layout, 4);
  SearchOptions o;
  o.target_speedup = 0.97;
  const std::string e = test::error_of([&] { search(layout, lat, scores, o); });
  EXPECT_EQ(e.rfind("target speedup 0.970 is unreachable: the best reachable is 0.", 0), 0u) << e;
  o.target_speedup = 0.2;
  o.keep = {"down_blocks.7.resnets.0"};
  EXPECT_EQ(test::error_of([&] {
              search(layout, lat, scores, o);
            }).rfind("unit 'down_blocks.7.resnets.0' not found; known: ", 0),
            0u);
  o.keep = {"conv_in"};
  EXPECT_EQ(test::error_of([&] {
              search(layout, lat, scores, o);
            }).rfind("unit 'conv_in' (fixed) is not one the search removes; searchable units: ", 0),
            0u);
  o.keep.clear();
  auto foreign = scores;
  foreign["down_blocks.5.resnets.0"] = 1;
  EXPECT_EQ(test::error_of([&] { search(layout, lat, foreign, o); }),
            "the importance scores are for another model: it has no down_blocks.5.resnets.0");
  // A profile of another model.
  const UNetLayout sd15 = load_arch(locate_model(test::config_path("sd15"))).student_layout();
  ProfileLatency other = synthetic_profile(layout, 3);
  other.units.erase("mid_block.resnets.1");
  other.units["down_blocks.0.resnets.7"] = {};
  EXPECT_EQ(test::error_of([&] { LatencyModel(other, layout); }),
            "synthetic.json is a profile of another model: no times for mid_block.resnets.1; units "
            "the model lacks: "
            "down_blocks.0.resnets.7");
}

TEST(Search, SearchesEveryUnitOfSd15) {
  const UNetLayout layout = load_arch(locate_model(test::config_path("sd15"))).student_layout();
  const LatencyModel lat(synthetic_profile(layout, 11), layout);
  const SearchResult r = search(layout, lat, synthetic_scores(layout, 12), SearchOptions{});
  EXPECT_EQ(r.searched_units, static_cast<int>(layout.ids(true).size()));
  EXPECT_EQ(r.candidates.size(), 8u);
  EXPECT_GE(r.candidates.front().predicted_speedup, 0.22);
}

}  // namespace
}  // namespace asdm
