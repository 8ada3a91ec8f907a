// asdm bench: teacher against students end to end (bench/bench.h), as a table and bench.json.
#include <cstdio>
#include <set>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/progress.h"
#include "bench/bench.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"
#include "model/sampler.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct BenchCli {
  std::vector<std::string> models, cache_plans;
  std::string output;
  int threads = 0;
  bool no_samples = false;
  BenchOptions bench;
};

void run_bench_cli(BenchCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.bench.device);
  const auto models = parse_model_list(o.models);
  for (const auto& kv : o.cache_plans) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
      fail("--cache-plan takes name=cache_plan.json (a model of --models), got '{}'", kv);
    o.bench.cache_plans[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  o.bench.progress = bench_progress(models.size(), o.bench);
  const BenchResult r = bench_to_file(models, o.bench, o.output, !o.no_samples,
                                      make_run_context(argv, o.bench.device));
  std::fputs(bench_table(r).c_str(), stdout);
  if (o.output != "-") log::info("wrote {}", o.output);
}

}  // namespace

void add_bench(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<BenchCli>();
  auto* sub = app.add_subcommand(
      "bench",
      "Compare models end to end (the first is the reference): UNet forward latency (median, p10, "
      "p90), the\n"
      "whole pipeline split into text encoder, UNet x steps and decoder, peak tensor memory, "
      "params and MACs,\n"
      "and quality: for proxy pipelines attribute accuracy and proxy FID (with --classifier) and "
      "PSNR/SSIM of\n"
      "each model's samples against the first model's from the same noise. Models run interleaved "
      "(A B A B\n"
      "...) so speed-ups are ratios of medians from one run. Proxy pipelines and their quality run "
      "on the CPU;\n"
      "--device and --dtype apply to the UNet timing.\n"
      "Real Stable Diffusion: UNet models (the teacher's pipeline folder, students from asdm "
      "build) run inside\n"
      "one diffusers pipeline, --sd-pipeline or else the first model that is a pipeline folder, on "
      "--device in\n"
      "--dtype: the pipeline split and PSNR/SSIM against the first model's images (default "
      "prompts: 16 everyday\n"
      "ones, or --prompts). Writes bench.json and sample grids in <output stem>-samples/.");
  sub->add_option("--models", o->models,
                  "Models, comma-separated: PATH or NAME=PATH (pipeline or UNet folders, configs, "
                  "single-file checkpoints). A NAME has no '/'; a path with '=' in it that exists "
                  "is that path (runs/lr=1e-4, ./a=b)")
      ->required()
      ->delimiter(',');
  sub->add_option("-o,--output", o->output, "bench.json")->required()->check(output_file());
  sub->add_option("--cache-plan", o->cache_plans,
                  "name=cache_plan.json: that model samples with the plan (asdm cache-plan) in the "
                  "pipeline and quality passes; name the same folder twice in --models to compare "
                  "it with and without")
      ->take_all();
  sub->add_option("--device", o->bench.device, "cpu, cuda or cuda:N (UNet timing)")
      ->capture_default_str();
  sub->add_option("--dtype", o->bench.dtype, "fp32, fp16 or bf16 (UNet timing)")
      ->capture_default_str()
      ->check(one_of(dtype_names()));
  sub->add_option("--resolution", o->bench.resolution,
                  "Image side in pixels (0: a proxy pipeline's, else the UNet's sample size x 8)")
      ->capture_default_str();
  sub->add_option("--batch", o->bench.batch, "UNet forward batch")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--text-tokens", o->bench.text_tokens,
                  "Text tokens of the UNet input (0: the pipeline's, else 77)")
      ->capture_default_str();
  sub->add_option("--runs", o->bench.runs, "Interleaved UNet rounds")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_flag("--graphs", o->bench.graphs,
                "CUDA graphs: each UNet's forward captured once and replayed in the UNet rounds, "
                "as deployed (CUDA devices only)");
  sub->add_flag("--channels-last", o->bench.channels_last,
                "Run every UNet in channels-last (NHWC) memory, in all passes (on this project's "
                "2-core CPU it measured no faster; cuDNN's fp16 convolutions are NHWC-native)");
  sub->add_option("--warmup", o->bench.warmup, "Warm-up rounds")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--steps", o->bench.sampler.steps,
                  "Sampler steps of the pipeline and quality runs")
      ->capture_default_str();
  sub->add_option("--sampler", o->bench.sampler.sampler, "ddim, euler, dpm++2m or pndm")
      ->capture_default_str()
      ->check(one_of(sampler_names()));
  sub->add_option("--guidance", o->bench.sampler.guidance,
                  "Classifier-free guidance scale (1: none)")
      ->capture_default_str();
  sub->add_option("--pipeline-batch", o->bench.pipeline_batch, "Images per pipeline run")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--pipeline-runs", o->bench.pipeline_runs,
                  "Interleaved pipeline rounds after one warm-up round (0: none)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--quality-prompts", o->bench.quality_prompts,
                  "Validation prompts for the quality pass (0: none)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--prompts", o->bench.prompts_file,
                  "Prompt file for the quality pass instead (one per line)");
  sub->add_option("--classifier", o->bench.classifier,
                  "Proxy attribute classifier (accuracy, FID); without it PSNR/SSIM only");
  sub->add_option("--clip", o->bench.clip,
                  "CLIP folder (transformers or OpenCLIP): the CLIP score of every model's quality "
                  "images against their prompts (Stable Diffusion pipelines)");
  sub->add_option("--inception", o->bench.inception,
                  "FID Inception-v3 weights: the FID of every model's quality images against the "
                  "first model's (Stable Diffusion pipelines; needs more --quality-prompts than "
                  "--fid-dims)");
  sub->add_option("--fid-dims", o->bench.fid_dims, "Inception feature layer for bench's FID")
      ->capture_default_str()
      ->check(one_of({"64", "192", "768", "2048"}));
  sub->add_option("--seed", o->bench.seed, "Seed of inputs and sampling noise")
      ->capture_default_str();
  sub->add_option("--sd-pipeline", o->bench.sd_pipeline,
                  "Stable Diffusion pipeline folder (or single-file checkpoint with --sd-config) "
                  "to run the UNet "
                  "models in");
  sub->add_option("--sd-config", o->bench.sd_config,
                  "Pipeline folder with the configs of a single-file --sd-pipeline");
  add_threads_option(sub, o->threads);
  sub->add_flag("--no-samples", o->no_samples, "Do not write sample grids");
  sub->callback([o, argv] { run_bench_cli(*o, argv); });
}

}  // namespace asdm::cli
