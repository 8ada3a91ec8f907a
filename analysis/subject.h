#pragma once
// What an ablation runs on (issue 5): a teacher UNet with its noise schedule, the conditioning of
// each validation prompt (and the unconditional one for classifier-free guidance), the space its
// final samples are compared in, and optionally quality metrics of final samples (the proxy
// world's attribute accuracy and proxy FID). Two kinds: a proxy pipeline with a prompt file (the
// pipeline's own text encoder encodes it), and a bare UNet with a safetensors file of precomputed
// text embeddings. Light header: tensors are forward-declared.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/arch_spec.h"
#include "model/noise_schedule.h"

namespace at {
class Tensor;
}

namespace asdm {

class UNet;
class UnitObserver;

class AblationSubject {
 public:
  struct Impl;  // analysis/subject_impl.h
  explicit AblationSubject(std::shared_ptr<const Impl> impl);
  ~AblationSubject();

  const UNet& unet() const;
  // The same prompts, conditioning and scheduler with a variant of this subject's UNet: its
  // ArchSpec plus `edits`, with the same weights (edits that add no tensors, e.g. GRI attention;
  // others are an error). For scoring a replacement block the way a removal is scored.
  AblationSubject with_edits(const std::vector<Edit>& edits) const;
  std::string device() const;
  // What was loaded, for artifacts: "proxy pipeline assets/... ; 16 prompts from val.txt".
  const std::string& description() const;
  // A label per prompt: the text, or "embedding i" (the file's "prompts" metadata when present).
  const std::vector<std::string>& prompts() const;
  int num_prompts() const;
  // SHA-256 over the conditioning tensors' bytes and the labels, to tell prompt sets apart.
  const std::string& prompts_sha256() const;
  const std::vector<int64_t>& sample_shape() const;  // [C, H, W]
  const SchedulerConfig& scheduler() const;
  double default_guidance() const;  // 1 for the proxy world (its teacher's setting), 7.5 otherwise
  bool has_unconditional() const;

  // The model's raw output (epsilon or v) for x [B, C, H, W] at timestep t, row r conditioned on
  // prompt prompts[r] (-1: the unconditional embedding).
  at::Tensor predict(const at::Tensor& x, double t, const std::vector<int>& prompts,
                     UnitObserver* observer) const;

  // Final samples -> the space PSNR and SSIM are measured in ([B, C, H, W], float32, CPU), the
  // data range there (0: each reference sample's own max - min) and its name.
  at::Tensor to_output(const at::Tensor& samples) const;
  double output_range() const;
  const std::string& output_space() const;

  // Quality of final samples for the given prompts (proxy world with a classifier: attribute
  // accuracies and the proxy FID); empty when the subject has no quality metrics.
  bool has_quality() const;
  std::map<std::string, double> quality(const at::Tensor& samples, const std::vector<int>& prompts,
                                        uint64_t seed) const;

 private:
  std::shared_ptr<const Impl> impl_;
};

// A proxy pipeline folder and a prompt file (one prompt per line; every word in the world's
// vocabulary, errors name file and line). `classifier` "" looks for PIPELINE/../classifier and
// goes without quality metrics when there is none.
AblationSubject load_proxy_subject(const std::filesystem::path& pipeline,
                                   const std::filesystem::path& prompts,
                                   const std::filesystem::path& classifier = {},
                                   const std::string& device = "cpu");

// A UNet (diffusers folder, pipeline folder or asdm student) and a safetensors file of text
// embeddings: "encoder_hidden_states" [N, T, D] and, as the UNet's config needs them,
// "class_labels", "text_embeds", "time_ids", "timestep_cond" ([N, ...]); "negative_<name>"
// [1, ...] are the unconditional inputs for classifier-free guidance. The file's metadata may hold
// "prompts" (a JSON list of N strings). The scheduler comes from `scheduler` (a
// scheduler_config.json), else the pipeline's scheduler/ folder, else SD 1.x's DDIM settings.
AblationSubject load_embeddings_subject(const std::filesystem::path& model,
                                        const std::filesystem::path& embeddings,
                                        const std::filesystem::path& scheduler = {},
                                        const std::string& device = "cpu",
                                        const std::string& dtype = "float32");

// A Stable Diffusion pipeline folder (SD 1.x/2.x, SDXL; or a single-file checkpoint with `config`)
// and a prompt file: the pipeline's text encoders embed the prompts and the empty negative prompt
// (SDXL: with the pooled embeddings and size/crop ids at the sampled size); the pipeline's UNet and
// scheduler config are the subject's. Samples are `resolution` pixels square (0: the UNet's
// sample_size times the VAE's factor), or `latent_side` latents square when that is given (the
// search re-scores at an importance run's size). With `clip` (a CLIP folder, eval/clip_scorer.h)
// the subject has a quality metric: the CLIP score of the decoded samples against their prompts
// (tier 2 records it per unit with its change from the teacher's).
AblationSubject load_sd_subject(const std::filesystem::path& pipeline,
                                const std::filesystem::path& prompts,
                                const std::filesystem::path& config = {},
                                const std::string& device = "cpu",
                                const std::string& dtype = "float32", int resolution = 0,
                                int latent_side = 0, const std::filesystem::path& clip = {});
// Whether `model` is a diffusers pipeline folder (model_index.json, not an asdm proxy pipeline) or
// a single-file checkpoint (.safetensors, or torch.save's .ckpt/.pt/.pth/.bin).
bool is_sd_pipeline_path(const std::filesystem::path& model);

// Where a subject comes from, as asdm ablate takes it: a proxy or SD pipeline with a prompt file,
// or a bare UNet with an embeddings file.
struct SubjectSource {
  std::string model, prompts, embeddings;
  std::string config;      // a single-file SD checkpoint's pipeline folder (with prompts)
  std::string classifier;  // proxy pipelines
  std::string scheduler;   // bare UNets
  std::string device = "cpu", dtype = "fp32";
  int resolution = 0;  // SD pipelines: image side in pixels (0: the UNet's default)
  std::string clip;    // SD pipelines: a CLIP folder, for the CLIP score as tier 2's quality
};
// Picks the loader above. Throws asdm::Error for neither or both of prompts and embeddings, prompts
// for a model without a text encoder, or a config without a single-file model; `note` hears that a
// proxy pipeline ignores the dtype.
AblationSubject load_subject(const SubjectSource& source,
                             const std::function<void(const std::string&)>& note = {});

// The embedding names load_embeddings_subject reads.
const std::vector<std::string>& embedding_names();

}  // namespace asdm
