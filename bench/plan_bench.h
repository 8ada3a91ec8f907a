#pragma once
// asdm cache-plan search --measure as a library call: one interleaved bench of the model searched
// and every plan the search wrote on it, with temporal.json's sampler settings. Light header.
#include <filesystem>
#include <functional>
#include <string>

#include "bench/bench_result.h"
#include "core/artifact.h"
#include "pruner/cache_search.h"

namespace asdm {

// The models benched, in order: "no-plan" (the model searched), then every candidate and baseline
// of `search` by name, each sampling with its <out>/<name>.plan.json. A plan that removes units
// runs on its student, built training-free into <out>/<name>.student (asdm build --arch
// <name>.arch.json). `bench`: the bench's other options (its sampler comes from `temporal`; one
// UNet round, since a plan acts across the sampling run). Writes <out>/bench.json.
BenchResult bench_cache_plans(const CacheSearchOutput& search, const std::filesystem::path& out,
                              const std::filesystem::path& temporal, BenchOptions bench,
                              const RunContext& context,
                              const std::function<void(const std::string&)>& note = {});

// How many models bench_cache_plans times: the model searched and every plan.
size_t cache_plan_bench_models(const CacheSearchOutput& search);

}  // namespace asdm
