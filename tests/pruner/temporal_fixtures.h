#pragma once
// Synthetic inputs of the cache-plan search's tests: the tiny config's spec, a profile with random
// unit times, and a temporal.json with random one-step costs whose changes grow with the gap.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "analysis/temporal_record.h"
#include "model/model_files.h"
#include "model/unet_layout.h"
#include "profiler/profile_io.h"
#include "tests/test_env.h"

namespace asdm::test {

inline ArchSpec tiny_spec() { return load_arch(locate_model(config_path("tiny"))); }

inline ProfileLatency profile_of(const UNetLayout& layout, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> t(0.5, 10.0);
  ProfileLatency p;
  p.path = "synthetic.json";
  p.forward_ms = 5.0;
  for (const auto& u : layout.units) {
    const double ms = t(g);
    p.units[u.id] = {ms, ms, u.parent};
    if (u.parent.empty()) p.forward_ms += ms;
  }
  return p;
}

// Random one-step costs and changes that grow with the gap, for the given units.
inline TemporalArtifact temporal_of(const std::vector<std::string>& units, int calls, int max_gap,
                                    uint32_t seed) {
  std::mt19937 g(seed);
  std::exponential_distribution<double> e(100.0);
  std::uniform_real_distribution<double> grow(1.5, 4.0);
  TemporalArtifact t;
  t.settings.calls = calls;
  t.settings.steps = calls;
  t.settings.sampler = "ddim";
  t.settings.max_gap = max_gap;
  t.settings.units = units;
  t.prompts_done = 4;
  t.complete = true;
  for (const auto& id : units) {
    TemporalUnit u;
    u.id = id;
    u.reuse_nmse.assign(calls, std::nan(""));
    u.change_sq.assign(max_gap, std::vector<double>(calls, std::nan("")));
    for (int c = 1; c < calls; ++c) u.reuse_nmse[c] = e(g);
    for (int c = 0; c < calls; ++c) {
      double d = 0.01 + e(g);
      for (int gap = 1; gap <= max_gap; ++gap) {
        if (c >= gap) u.change_sq[gap - 1][c] = d;
        d *= grow(g);
      }
    }
    t.units.push_back(u);
  }
  return t;
}

}  // namespace asdm::test
