// asdm ablate: block importance on validation prompts (analysis/ablation.h), resumable and
// shardable; `merge` joins shard files, `show` prints a file's table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "analysis/importance_io.h"
#include "analysis/subject.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"
#include "model/sampler.h"

namespace asdm::cli {
namespace {

struct AblateCli {
  std::string model, config, prompts, embeddings, classifier, scheduler, output, profile, shard, groups_file, rank_from;
  std::vector<std::string> units, group;
  std::string device = "cpu", dtype = "fp32";
  int threads = 0;
  bool resume = false;
  int rows = 0;
  AblationOptions ablation;
};

std::string num(double v, const char* f = "{:.4g}") { return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(f), v); }

void print_table(const nlohmann::json& doc, int max_rows) {
  auto rows = importance_rows(doc);
  const bool t1 = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.tier1); });
  const bool per_ms = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.tier1_per_ms); });
  const bool quality = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.quality_delta); });
  const bool t2 = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.tier2); });
  auto key = [&](const ImportanceRow& r) { return t1 ? r.tier1 : r.tier2; };
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    const double x = key(a), y = key(b);
    return std::isnan(y) ? !std::isnan(x) : (!std::isnan(x) && x > y);
  });
  auto print = [&](const std::vector<ImportanceRow>& rs, const char* title) {
    std::printf("%s\n%4s  %-44s %-17s", title, "rank", "unit", "kind");
    if (t1) std::printf(" %10s %-21s %7s", "tier1 nMSE", "  95% CI", "cosine");
    if (t2) std::printf(" %8s %7s", "1-SSIM", "PSNR");
    if (quality) std::printf(" %8s", "d acc");
    if (per_ms) std::printf(" %8s %10s", "saved ms", "nMSE/ms");
    std::printf("\n");
    int k = 0;
    for (const auto& r : rs) {
      if (max_rows > 0 && k >= max_rows) break;
      const std::string ci = std::isnan(r.tier1_low) ? "" : fmt::format("  [{:.3g}, {:.3g}]", r.tier1_low, r.tier1_high);
      std::string id = r.id;
      if (id.size() > 44) {  // long groups: the first units and a count
        const std::string more = fmt::format("... ({} units)", std::count(id.begin(), id.end(), '+') + 1);
        id = id.substr(0, 44 - more.size()) + more;
      }
      std::printf("%4d  %-44s %-17s", ++k, id.c_str(), r.kind.c_str());
      if (t1) std::printf(" %10s %-21s %7s", num(r.tier1).c_str(), ci.c_str(), num(r.cosine, "{:.4f}").c_str());
      if (t2) std::printf(" %8s %7s", num(r.tier2).c_str(), num(r.psnr_db, "{:.1f}").c_str());
      if (quality) std::printf(" %8s", num(r.quality_delta, "{:+.3f}").c_str());
      if (per_ms) std::printf(" %8s %10s", num(r.saved_ms, "{:.3f}").c_str(), num(r.tier1_per_ms).c_str());
      std::printf("\n");
    }
  };
  print(rows, t1 ? "by tier-1 importance (highest first):" : "by tier-2 importance (highest first):");
  if (per_ms) {
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::isnan(b.tier1_per_ms) ? !std::isnan(a.tier1_per_ms) : (!std::isnan(a.tier1_per_ms) && a.tier1_per_ms < b.tier1_per_ms);
    });
    print(rows, "\nby importance per ms saved (lowest first: the cheapest to remove):");
  }
  const auto& rc = doc.value("rank_correlation", nlohmann::json::object());
  for (const auto& [name, v] : rc.items())
    if (v.value("n", 0) >= 2 && v.at("spearman").is_number())
      std::printf("rank correlation %s: Spearman %.3f over %d units\n", name.c_str(), v.at("spearman").get<double>(),
                  v.at("n").get<int>());
  if (doc.contains("/teacher/quality"_json_pointer)) {
    std::string q;
    for (const auto& [k, v] : doc.at("/teacher/quality"_json_pointer).items())
      if (v.is_number()) q += fmt::format("{} {:.3f}  ", k, v.get<double>());
    std::printf("teacher: %s\n", q.c_str());
  }
}

void run_ablate(AblateCli o, const std::vector<std::string>& argv) {
  if (o.model.empty()) fail("--model is required");
  if (o.output.empty()) fail("-o/--output is required");
  if (o.prompts.empty() == o.embeddings.empty())
    fail("give one of --prompts (a text file, for a proxy or Stable Diffusion pipeline) or --embeddings (a safetensors "
         "file, for a bare UNet)");
  if (!o.prompts.empty() && !std::filesystem::exists(std::filesystem::path(o.model) / "proxy.json") &&
      !is_sd_pipeline_path(o.model))
    fail("{} is neither a proxy pipeline (proxy.json) nor a Stable Diffusion pipeline folder (model_index.json): "
         "--prompts needs a text encoder; for a bare UNet pass --embeddings FILE of precomputed text embeddings "
         "(see --help)",
         o.model);
  if (!o.config.empty() && o.prompts.empty()) fail("--config goes with a single-file --model and --prompts");
  if (!o.shard.empty()) {
    int i = -1, n = 0;
    char rest = 0;
    if (std::sscanf(o.shard.c_str(), "%d/%d%c", &i, &n, &rest) != 2 || n < 1 || i < 0 || i >= n)
      fail("--shard takes i/n with 0 <= i < n (got '{}')", o.shard);
    o.ablation.shard_index = i;
    o.ablation.shard_count = n;
  }
  o.ablation.units = o.units;
  for (const auto& g : o.group) o.ablation.groups.push_back(parse_group(g));
  if (!o.groups_file.empty())
    for (auto& g : read_groups(o.groups_file)) o.ablation.groups.push_back(g);
  if (o.ablation.groups_only && o.ablation.groups.empty()) fail("--groups-only needs --group or --groups");
  if (!o.rank_from.empty()) {
    o.ablation.rank_from = read_importance_scores(o.rank_from, "tier1").units;
    o.ablation.rank_from_path = o.rank_from;
  }
  if (!o.profile.empty()) o.ablation.profile = read_profile_latency(o.profile);

  set_threads(o.threads);
  ensure_device(o.device);
  const std::string dtype = o.dtype == "fp16" ? "float16" : o.dtype == "bf16" ? "bfloat16" : o.dtype == "fp32" ? "float32" : o.dtype;
  const bool sd = !o.prompts.empty() && is_sd_pipeline_path(o.model);
  const AblationSubject subject = o.prompts.empty() ? load_embeddings_subject(o.model, o.embeddings, o.scheduler, o.device, dtype)
                                  : sd              ? load_sd_subject(o.model, o.prompts, o.config, o.device, dtype)
                                                    : load_proxy_subject(o.model, o.prompts, o.classifier, o.device);
  if (!o.prompts.empty() && !sd && dtype != "float32") log::info("a proxy pipeline runs in its saved dtype; --dtype is ignored");
  if (std::isnan(o.ablation.sampler.guidance)) o.ablation.sampler.guidance = subject.default_guidance();
  log::info("{}", subject.description());

  // Progress on stderr: one line rewritten in place on a terminal, a line per item in a log.
  const bool show = log::level() <= log::Level::kInfo, tty = ::isatty(2);
  const auto doc = run_ablation(
      subject, o.ablation, make_run_context(argv, o.device), o.output, o.resume, [&](const AblationProgress& p) {
        if (!show) return;
        if (p.tier == "teacher") {
          const std::string done = p.resumed ? fmt::format("; {} of {} items already done", p.resumed, p.total) : "";
          std::fprintf(stderr, "teacher: sampling %d prompts, %d steps%s\n", subject.num_prompts(),
                       o.ablation.sampler.steps, done.c_str());
          return;
        }
        const int mine = p.done - p.resumed;
        const double eta = mine > 0 ? p.seconds / mine * (p.total - p.done) : 0;
        const std::string line = fmt::format("ablating: {}/{}  {} {}  elapsed {}  ETA {}", p.done, p.total, p.tier, p.id,
                                             hms(p.seconds), hms(eta));
        if (tty)
          std::fprintf(stderr, "\r%-110s%s", line.c_str(), p.done == p.total ? "\n" : "");
        else
          std::fprintf(stderr, "%s\n", line.c_str());
      });
  print_table(doc, o.rows);
  log::info("wrote {}", o.output);
}

}  // namespace

void add_ablate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<AblateCli>();
  o->ablation.sampler.guidance = std::numeric_limits<double>::quiet_NaN();
  auto* sub = app.add_subcommand(
      "ablate",
      "Score every removable unit's importance: how far the teacher's output moves when the unit's branch is\n"
      "bypassed (it keeps only its shortcut), on validation prompts.\n"
      "  tier 1  the teacher samples each prompt once; at K of its states (timesteps spread over the\n"
      "          trajectory) the bypassed model's epsilon is compared with the teacher's: normalised MSE\n"
      "          (the score) and cosine. K forwards per prompt per unit: cheap; ranks units.\n"
      "  tier 2  the bypassed model samples from the same noise; its final samples against the teacher's:\n"
      "          1 - SSIM (the score) and PSNR, and on the proxy world attribute accuracy and proxy FID.\n"
      "Scores are means over prompts with bootstrap 95% intervals; with --profile, the latency each removal\n"
      "saves and importance per ms saved. importance.json is rewritten after every unit: an interrupted run\n"
      "continues with --resume; --shard i/n takes every n-th unit from the i-th, and 'asdm ablate merge'\n"
      "joins the shard files into the file one run would write (e.g. a Slurm array, one shard per GPU).\n"
      "Inputs: a proxy pipeline or a Stable Diffusion pipeline folder (or single file with --config) with\n"
      "--prompts (one prompt per line; SD: its text encoders embed them and the empty negative prompt), or a\n"
      "UNet with --embeddings: a\n"
      "safetensors file with encoder_hidden_states [N, tokens, dim] (and class_labels, text_embeds, time_ids,\n"
      "timestep_cond as the config needs; negative_<name> [1, ...] for guidance; metadata 'prompts': a JSON\n"
      "list of the N prompts).");
  sub->add_option("--model", o->model, "Proxy pipeline folder, or a diffusers UNet / pipeline folder");
  sub->add_option("--prompts", o->prompts, "Prompt file, one per line (proxy and Stable Diffusion pipelines)");
  sub->add_option("--config", o->config, "Pipeline folder with the configs of a single-file --model");
  sub->add_option("--embeddings", o->embeddings, "safetensors file of text embeddings (bare UNets; see above)");
  sub->add_option("--classifier", o->classifier, "Proxy attribute classifier (default: MODEL/../classifier when present)");
  sub->add_option("--scheduler", o->scheduler,
                  "scheduler_config.json for a bare UNet (default: the pipeline's scheduler/, else SD 1.x DDIM)");
  sub->add_option("--tier", o->ablation.tier, "1, 2 or both")->capture_default_str()->check(CLI::IsMember({"1", "2", "both"}));
  sub->add_option("--timesteps", o->ablation.timesteps, "Tier 1: states kept per prompt (K)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--steps", o->ablation.sampler.steps, "Sampler steps")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--guidance", o->ablation.sampler.guidance,
                  "Classifier-free guidance scale (default: 1 for proxy pipelines, 7.5 otherwise)");
  sub->add_option("--sampler", o->ablation.sampler.sampler, "ddim, euler, dpm++2m or pndm")->capture_default_str()->check(
      CLI::IsMember(sampler_names()));
  sub->add_option("--seed", o->ablation.seed, "Noise seed (prompt i's noise depends on (seed, i) only)")->capture_default_str();
  sub->add_option("--batch", o->ablation.batch, "Prompts per forward")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--bootstrap", o->ablation.bootstrap, "Bootstrap resamples for the 95% intervals")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--units", o->units, "Only these units (comma-separated ids; default: every removable unit)")->delimiter(',');
  sub->add_option("--group", o->group, "Also ablate these units together (ids joined by ',' or '+'); repeatable");
  sub->add_option("--groups", o->groups_file, "File of groups: one per line, ids separated by commas or spaces");
  sub->add_flag("--groups-only", o->ablation.groups_only, "Score the groups only, not single units");
  sub->add_option("--top", o->ablation.top,
                  "Tier 2 only on the N units with the highest tier-1 scores (with --tier both; or --tier 2 --rank-from)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--rank-from", o->rank_from, "importance.json whose tier-1 scores pick the --top units");
  sub->add_option("--profile", o->profile, "profile.json of this model (asdm profile): latency saved per unit");
  sub->add_option("--shard", o->shard, "i/n: score every n-th unit starting at the i-th (0-based)");
  sub->add_flag("--resume", o->resume, "Continue the run in --output");
  add_device_options(sub, o->device, o->dtype, "fp32, fp16 or bf16 (bare UNets)");
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  sub->add_option("--rows", o->rows, "Rows of the printed tables (0: all)")->capture_default_str();
  sub->add_option("-o,--output", o->output, "importance.json to write");

  auto merge_files = std::make_shared<std::vector<std::string>>();
  auto merge_out = std::make_shared<std::string>();
  auto* merge = sub->add_subcommand("merge", "Join the shard files of one run (all shards, each complete) into one importance.json");
  merge->add_option("files", *merge_files, "Shard files")->required()->check(CLI::ExistingFile);
  merge->add_option("-o,--output", *merge_out, "importance.json to write")->required();
  merge->callback([merge_files, merge_out, argv] {
    std::vector<std::filesystem::path> files(merge_files->begin(), merge_files->end());
    const auto doc = merge_importance(files, make_run_context(argv, "cpu"));
    write_json_atomic(*merge_out, doc);
    print_table(doc, 0);
    log::info("merged {} shards into {}", files.size(), *merge_out);
  });
  auto show_file = std::make_shared<std::string>();
  auto show_rows = std::make_shared<int>(0);
  auto* show = sub->add_subcommand("show", "Print the tables of an importance.json");
  show->add_option("file", *show_file, "importance.json")->required()->check(CLI::ExistingFile);
  show->add_option("--rows", *show_rows, "Rows (0: all)")->capture_default_str();
  show->callback([show_file, show_rows] { print_table(read_json_file(*show_file), *show_rows); });

  sub->callback([o, sub, merge, show, argv] {
    if (merge->parsed() || show->parsed()) return;
    run_ablate(*o, argv);
  });
}

}  // namespace asdm::cli
