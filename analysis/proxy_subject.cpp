// The proxy world as an ablation subject: its pipeline encodes the prompts, its classifier scores
// final samples (analysis/subject.h).
#include <fstream>

#include "analysis/subject.h"
#include "analysis/subject_impl.h"
#include "core/error.h"
#include "core/log.h"
#include "proxy/classifier.h"
#include "proxy/metrics.h"
#include "proxy/pipeline.h"

namespace asdm {

namespace {

// One prompt per line; blank lines skipped; every prompt tokenised here so that an error names
// the file and line.
std::vector<std::string> read_checked_prompts(const std::filesystem::path& path,
                                              const proxy::Tokenizer& tok) {
  std::ifstream in(path);
  if (!in) fail("cannot read prompts file {}", path.string());
  std::vector<std::string> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    try {
      tok.encode(line);
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), number, e.what());
    }
    out.push_back(line);
  }
  if (out.empty()) fail("prompts file {} has no prompts", path.string());
  return out;
}

struct ProxyOwner {
  proxy::ProxyPipeline pipeline;
  std::unique_ptr<proxy::AttributeClassifier> classifier;
};

}  // namespace

AblationSubject load_proxy_subject(const std::filesystem::path& dir,
                                   const std::filesystem::path& prompts_file,
                                   const std::filesystem::path& classifier,
                                   const std::string& device) {
  auto owner = std::make_shared<ProxyOwner>();
  owner->pipeline = proxy::ProxyPipeline::load(dir);
  proxy::ProxyPipeline& p = owner->pipeline;
  auto impl = std::make_shared<AblationSubject::Impl>();
  impl->prompts = read_checked_prompts(prompts_file, *p.tokenizer);

  std::filesystem::path cdir = classifier;
  if (cdir.empty()) {
    const auto guess = dir.lexically_normal().parent_path() / "classifier";
    if (std::filesystem::exists(guess / "config.json")) cdir = guess;
  }
  if (!cdir.empty()) {
    owner->classifier = proxy::AttributeClassifier::load(cdir);
    if (owner->classifier->world().name != p.world.name)
      fail("the classifier in {} is for the {} world, the model for the {} world", cdir.string(),
           owner->classifier->world().name, p.world.name);
  }

  torch::InferenceMode guard;
  const auto [hidden, pooled] = p.encode(impl->prompts);
  const auto [uh, up] = p.encode({""});
  p.unet->to(device, p.unet->dtype());
  impl->cond["encoder_hidden_states"] = torch::cat({uh, hidden}).to(device);
  impl->cond["class_labels"] = torch::cat({up, pooled}).to(device);
  impl->has_unconditional = true;
  impl->unet = p.unet.get();
  impl->device = device;
  const int s = p.space_to_depth, lat = p.world.image_size / s;
  impl->sample_shape = {3 * s * s, lat, lat};
  impl->scheduler = p.scheduler;
  impl->default_guidance = 1.0;
  impl->to_output = [s](const at::Tensor& x) {
    return torch::pixel_shuffle(x.detach().to(torch::kCPU, torch::kFloat32), s).clamp(-1, 1);
  };
  impl->output_range = 2.0;
  impl->output_space = "images in [-1, 1] (PSNR/SSIM data range 2)";
  if (owner->classifier) {
    const ProxyOwner* o = owner.get();
    const std::vector<std::string> texts = impl->prompts;
    impl->quality = [o, texts](const at::Tensor& samples, const std::vector<int>& idx,
                               uint64_t seed) {
      std::vector<std::string> sel;
      for (int i : idx) sel.push_back(texts.at(i));
      const auto r = proxy::score_images(*o->classifier, o->pipeline.to_images(samples), sel, seed);
      std::map<std::string, double> q = {{"mean_accuracy", r.mean_accuracy},
                                         {"all_correct", r.all_correct}};
      for (const auto& [name, acc] : r.accuracy) q[name + "_accuracy"] = acc;
      if (r.n >= 2) q["proxy_fid"] = r.fid;
      return q;
    };
  }
  impl->description =
      fmt::format("proxy pipeline {} ({} world) with {} prompts from {}{}", dir.string(),
                  p.world.name, impl->prompts.size(), prompts_file.string(),
                  cdir.empty() ? "" : ", classifier " + cdir.string());
  impl->fingerprint();
  impl->owner = owner;
  return AblationSubject(impl);
}

}  // namespace asdm
