// asdm eval: quality the way the field measures it (issue 19): FID, IS, CLIP score and CMMD of a
// folder of images or of a pipeline's images of a caption file, as pytorch-fid, clean-fid,
// torch-fidelity, torchmetrics and the CMMD reference compute them (eval/). Resumable, shardable,
// and spread over the ranks of a torchrun job.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/job.h"
#include "apps/asdm/progress.h"
#include "core/error.h"
#include "core/log.h"
#include "eval/eval_run.h"
#include "model/runtime.h"

namespace asdm::cli {
namespace {

struct EvalCli {
  EvalOptions eval;
  std::string shard;
  int threads = 0;
};

void run_eval(EvalCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.eval.device);
  if (!o.shard.empty()) std::tie(o.eval.shard_index, o.eval.shard_count) = parse_shard(o.shard);
  const auto job = join_job(o.eval.device);
  if (job->world() > 1) {
    if (!o.shard.empty()) fail("--shard and a torchrun job of several ranks do not combine");
    o.eval.shard_index = job->rank();
    o.eval.shard_count = job->world();
    o.eval.device = job->device();
  }
  const bool complete = compute_eval_batches(o.eval, note, eval_progress("eval"));
  job->barrier("the eval batches");
  if (!job->leader()) return;
  if (job->world() == 1 && !complete) {
    log::info("shard {}/{} done; when every shard is, 'asdm eval merge' joins their folders",
              o.eval.shard_index, o.eval.shard_count);
    return;
  }
  const auto doc = finish_eval(o.eval.out, make_run_context(argv, o.eval.device), note);
  std::printf("%s", eval_table(doc).c_str());
  log::info("wrote {}", (std::filesystem::path(o.eval.out) / "eval.json").string());
}

void add_common(CLI::App* sub, EvalCli& o) {
  auto& e = o.eval;
  sub->add_option("--captions", e.captions,
                  "captions: .txt (one per line), .json (strings, {id, caption} objects, or a COCO "
                  "captions file: first caption per image), .csv (id and caption columns)");
  sub->add_option("--limit", e.limit, "use the first N captions/images (0: all)")
      ->capture_default_str();
  sub->add_option("--inception", e.inception,
                  "FID Inception-v3 weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth, "
                  "torch-fidelity's file, or safetensors): FID and IS");
  sub->add_option("--fid-mode", e.fid_mode,
                  "pytorch-fid (default), clean (clean-fid) or torch-fidelity preprocessing")
      ->capture_default_str()
      ->check(one_of({"pytorch-fid", "clean", "torch-fidelity"}));
  sub->add_option("--fid-dims", e.fid_dims, "Inception feature layer: 64, 192, 768 or 2048")
      ->capture_default_str()
      ->check(one_of({"64", "192", "768", "2048"}));
  sub->add_flag("!--no-is", e.inception_score, "skip the Inception Score");
  sub->add_option("--ref-stats", e.ref_stats,
                  "FID reference statistics: an .npz with mu and sigma (pytorch-fid's layout; "
                  "'asdm eval stats' writes one)");
  sub->add_option("--ref-images", e.ref_images,
                  "FID and CMMD reference: a folder of images (statistics cached in OUT/ref/)");
  sub->add_option(
      "--clip", e.clip,
      "CLIP folder: a transformers CLIPModel (torchmetrics' CLIPScore) or an OpenCLIP "
      "one (open_clip_config.json): CLIP score with --captions, CMMD with --ref-images");
  sub->add_option("--clip-tokenizer", e.clip_tokenizer,
                  "folder with CLIP's vocab.json + merges.txt, when the CLIP folder has none");
  sub->add_option("-o,--out", e.out,
                  "work folder: features/ (per batch, for resuming), eval.json, stats.npz")
      ->capture_default_str()
      ->check(output_folder());
  sub->add_option("--batch", e.batch, "images per batch")->capture_default_str()->check(kPositive);
  sub->add_option("--shard", o.shard,
                  "i/n: compute batches i, i+n, ... only; 'asdm eval merge' joins the folders");
  add_device_options(sub, e.device, e.dtype);
  add_threads_option(sub, o.threads);
}

constexpr const char* kHelp =
    R"(Quality as papers report it: FID, IS, CLIP score and CMMD, computed as pytorch-fid (or clean-fid,
torch-fidelity), torch-fidelity's IS, torchmetrics' CLIPScore and the CMMD reference compute them.
  images DIR  score a folder of images (captions pair by file name = caption id, or by order)
  generate    generate from --captions with a pipeline (--unet: a student) and score the images
  merge       join the folders of --shard runs and compute the metrics
  stats DIR   FID statistics of a folder (pytorch-fid's .npz), to use as --ref-stats
Work is saved per batch in --out: a killed run resumes with the same command. Under torchrun
(torchrun --nproc-per-node N --no-python asdm eval ...) each rank takes every N-th batch of a
shared --out folder and rank 0 writes eval.json. See README "Quality metrics" for the COCO protocol.)";

}  // namespace

void add_eval(CLI::App& app, const std::vector<std::string>& argv) {
  auto* sub = app.add_subcommand("eval", kHelp);
  sub->require_subcommand(1);

  auto io = std::make_shared<EvalCli>();
  auto* images = sub->add_subcommand("images", "score a folder of images");
  images->add_option("dir", io->eval.images, "folder of images (png, jpg, ...) of one size")
      ->required();
  add_common(images, *io);
  images->callback([io, argv] { run_eval(*io, argv); });

  auto go = std::make_shared<EvalCli>();
  auto* gen = sub->add_subcommand(
      "generate", "generate images of --captions with a pipeline (and --unet) and score them");
  gen->add_option("--model", go->eval.model,
                  "diffusers pipeline folder, or a single-file checkpoint with --config")
      ->required();
  gen->add_option("--config", go->eval.config, "for a single-file --model: a pipeline folder");
  gen->add_option("--unet", go->eval.unet, "a student UNet folder instead of the pipeline's");
  gen->add_option("--steps", go->eval.steps, "denoising steps")->capture_default_str();
  gen->add_option("--guidance", go->eval.guidance, "classifier-free guidance scale")
      ->capture_default_str();
  gen->add_option("--scheduler", go->eval.sampler,
                  "ddim, euler, dpm++2m or pndm (default: the "
                  "pipeline's)");
  gen->add_option("--height", go->eval.height, "image height (default: the UNet's)");
  gen->add_option("--width", go->eval.width, "image width (default: the UNet's)");
  gen->add_option("--clip-skip", go->eval.clip_skip, "text encoder layers to skip");
  gen->add_option("--seed", go->eval.seed, "image i starts from noise seeded by (seed, i)")
      ->capture_default_str();
  gen->add_option("--score-size", go->eval.score_size,
                  "resize the generated images to this square side before scoring and keeping "
                  "them (Pillow bicubic; 0: as generated). The BK-SDM protocol: 512 px images "
                  "scored at 256")
      ->capture_default_str()
      ->check(kNonNegative);
  gen->add_option("--cache-plan", go->eval.cache_plan,
                  "cache_plan.json (asdm cache-plan): the sampler reuses units' branch outputs "
                  "across its calls as the plan says (temporal redundancy)");
  gen->add_flag("--keep-images", go->eval.keep_images,
                "write the PNGs to OUT/images/<id>.png with OUT/images/captions.json");
  add_common(gen, *go);
  gen->get_option("--captions")->required();
  gen->callback([go, argv] { run_eval(*go, argv); });

  auto shards = std::make_shared<std::vector<std::string>>();
  auto merged = std::make_shared<std::string>("eval");
  auto merge_threads = std::make_shared<int>(0);
  auto* merge = sub->add_subcommand("merge", "join --shard folders and compute the metrics");
  merge->add_option("shards", *shards, "the shard runs' --out folders")->required();
  merge->add_option("-o,--out", *merged, "folder for the merged run")
      ->capture_default_str()
      ->check(output_folder());
  merge
      ->add_option("--threads", *merge_threads,
                   "intra-op CPU threads for the reference features (0: libtorch's default; "
                   "the shards' value gives their run's numbers exactly)")
      ->capture_default_str();
  merge->callback([shards, merged, merge_threads, argv] {
    set_threads(*merge_threads);
    std::vector<std::filesystem::path> dirs(shards->begin(), shards->end());
    const auto doc = merge_eval(dirs, *merged, make_run_context(argv, "cpu"), note);
    std::printf("%s", eval_table(doc).c_str());
    log::info("wrote {}", (std::filesystem::path(*merged) / "eval.json").string());
  });

  auto so = std::make_shared<FolderStatsOptions>();
  auto stats_out = std::make_shared<std::string>();
  auto* stats = sub->add_subcommand("stats", "FID statistics of a folder of images (.npz)");
  stats->add_option("dir", so->images, "folder of images of one size")->required();
  stats->add_option("--inception", so->inception, "FID Inception-v3 weights")->required();
  stats->add_option("--fid-mode", so->fid_mode, "pytorch-fid, clean or torch-fidelity")
      ->capture_default_str()
      ->check(one_of({"pytorch-fid", "clean", "torch-fidelity"}));
  stats->add_option("--fid-dims", so->fid_dims, "64, 192, 768 or 2048")
      ->capture_default_str()
      ->check(one_of({"64", "192", "768", "2048"}));
  stats->add_option("--batch", so->batch, "images per batch")->capture_default_str();
  stats->add_option("-o,--output", *stats_out, ".npz to write (mu, sigma, n)")
      ->required()
      ->check(output_file());
  add_device_options(stats, so->device, so->dtype);
  auto stats_threads = std::make_shared<int>(0);
  add_threads_option(stats, *stats_threads);
  stats->callback([so, stats_out, stats_threads] {
    set_threads(*stats_threads);
    ensure_device(so->device);
    write_folder_stats(*so, *stats_out, eval_progress("stats"));
    log::info("wrote {}", *stats_out);
  });
}

}  // namespace asdm::cli
