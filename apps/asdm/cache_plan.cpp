// asdm cache-plan: cache plans (model/cache_plan.h), the temporal redundancy of issue 23: which
// units reuse their branch output across the sampler's model calls. `uniform` writes DeepCache's
// uniform policy on chosen units; `show` prints a plan.
#include <cstdio>
#include <set>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/cache_plan.h"
#include "model/model_files.h"
#include "model/runtime.h"
#include "model/sampler.h"

namespace asdm::cli {
namespace {

struct UniformCli {
  std::string model, output;
  std::vector<std::string> units;
  int level = -1, skip_level = 0, skip_layers = -1, interval = 3, branch = -1;
  SamplerOptions sampler;
};

void print_plan(const CachePlan& p) {
  const std::set<std::string> units = p.units();
  std::printf("%s\n%d model calls, %d reuse; %zu unit(s): %s\n", p.policy.c_str(), p.calls,
              p.reusing_calls(), units.size(),
              join_limited({units.begin(), units.end()}, 8).c_str());
  std::string row;
  for (size_t c = 0; c < p.reuse.size(); ++c)
    row += p.skips(int(c)) ? 's' : p.reuse[c].empty() ? 'C' : 'r';
  std::printf("calls (C computes everything, r reuses units, s skips the deep part): %s\n",
              row.c_str());
}

void run_uniform(const UniformCli& o, const std::vector<std::string>& argv) {
  const ArchSpec spec = load_arch(locate_model(o.model));
  std::vector<std::string> units = o.units;
  validate(o.sampler, NoiseSchedule::make());
  CachePlan p;
  int skip_level = o.skip_level, skip_layers = o.skip_layers;
  if (o.branch >= 0) {  // DeepCache's cache_branch_id, as its SD helper maps it
    skip_level = o.branch % 3 + 1;
    skip_layers = o.branch / 3 + 1;
  }
  if (skip_layers >= 0 && skip_level == 0) fail("--skip-layers goes with --skip-level");
  if (skip_level > 0) {
    if (!units.empty() || o.level >= 0) fail("--skip-level goes without --units and --level");
    p = CachePlan::uniform_skip(spec, skip_level, o.interval, model_calls(o.sampler), skip_layers);
  } else {
    if (o.level >= 0) {
      // The deep part of the UNet, as DeepCache caches it: every unit at this resolution level or
      // below (down, mid and up), which the model keeps.
      const auto removed = spec.removed_units();
      for (const auto& u : spec.student_layout().units)
        if (u.removable() && u.parent.empty() && u.level >= o.level && !removed.count(u.id))
          units.push_back(u.id);
      if (units.empty()) fail("no unit of {} is at resolution level {} or below", o.model, o.level);
    }
    if (units.empty()) fail("name the units to reuse: --units, --level or --skip-level");
    p = CachePlan::uniform(spec, units, o.interval, model_calls(o.sampler));
  }
  p.header = ArtifactHeader::make(CachePlan::kArtifact, CachePlan::kSchemaVersion,
                                  make_run_context(argv, "cpu"));
  p.policy += fmt::format(" ({} {} steps)", o.sampler.sampler, o.sampler.steps);
  p.check(spec, p.calls);
  p.write(o.output);
  print_plan(p);
  log::info("wrote {}", o.output);
}

constexpr const char* kHelp =
    R"(Cache plans: temporal redundancy. A unit's output changes little from one denoising step to the
next, so at some steps it can take its branch output from the last step that computed it and keep
only its shortcut on the new input: out = shortcut(x_t) + branch(x_t'). A plan says, per model call
of one sampling run, which units do that; asdm proxy eval --cache-plan samples with it.
  uniform  DeepCache's uniform policy: the units compute every --interval-th call, reuse between
  search   plans searched per unit and call under a budget on the whole sampling run, from
           asdm ablate --temporal's temporal.json (optionally with removals), DeepCache beside
  show     print a plan)";

}  // namespace

void add_cache_plan(CLI::App& app, const std::vector<std::string>& argv) {
  auto* sub = app.add_subcommand("cache-plan", kHelp);
  sub->require_subcommand(1);
  auto o = std::make_shared<UniformCli>();
  auto* uni = sub->add_subcommand(
      "uniform", "DeepCache's uniform policy: the units compute every --interval-th call");
  uni->add_option("--model", o->model,
                  "The model the plan is for (a UNet or pipeline folder, or a single file)")
      ->required();
  uni->add_option("--units", o->units, "Units to reuse (comma-separated)")->delimiter(',');
  uni->add_option("--level", o->level,
                  "Or: every unit at this resolution level or below (0: full resolution; "
                  "DeepCache caches the deep part)");
  uni->add_option("--skip-level", o->skip_level,
                  "Or DeepCache's skip-branch form: nothing at this resolution level or below "
                  "runs on the calls between (its down, mid and up blocks), the first up block "
                  "above takes the hidden state kept from the last full call")
      ->check(kPositive);
  uni->add_option("--skip-layers", o->skip_layers,
                  "With --skip-level L: the branch inside the blocks at level L - 1: their down "
                  "block runs only its first K layers and their up block its last K + 1 on the "
                  "calls between (-1: those blocks run whole)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 20));
  uni->add_option("--branch", o->branch,
                  "DeepCache's cache_branch_id b (its default: 0): --skip-level b % 3 + 1, "
                  "--skip-layers b / 3 + 1")
      ->excludes("--skip-level")
      ->excludes("--skip-layers")
      ->check(kNonNegative);
  uni->add_option("--interval", o->interval, "Compute every N-th call (DeepCache: 2, 3, 5)")
      ->capture_default_str()
      ->check(kPositive);
  uni->add_option("--steps", o->sampler.steps, "Sampler steps")->capture_default_str();
  uni->add_option("--sampler", o->sampler.sampler,
                  "ddim, euler, dpm++2m or pndm (PNDM makes "
                  "steps + 1 model calls)")
      ->capture_default_str();
  uni->add_option("-o,--output", o->output, "cache_plan.json to write")
      ->required()
      ->check(output_file());
  uni->callback([o, argv] { run_uniform(*o, argv); });
  auto file = std::make_shared<std::string>();
  auto* show = sub->add_subcommand("show", "Print a cache plan");
  show->add_option("plan", *file, "cache_plan.json")->required()->check(CLI::ExistingFile);
  show->callback([file] { print_plan(CachePlan::read(*file)); });
  add_cache_search(*sub, argv);
}

}  // namespace asdm::cli
