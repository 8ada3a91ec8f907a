#include "incubation/latent_dataset.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/artifact.h"
#include "core/error.h"
#include "core/png.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm {

namespace fs = std::filesystem;

std::vector<ImageCaption> list_image_captions(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("image folder '{}' does not exist", dir.string());
  std::vector<ImageCaption> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (!e.is_regular_file() || (ext != ".png" && ext != ".jpg" && ext != ".jpeg" && ext != ".bmp"))
      continue;
    fs::path txt = e.path();
    txt.replace_extension(".txt");
    if (!fs::exists(txt))
      fail("image '{}' has no caption file '{}'", e.path().string(), txt.filename().string());
    std::string caption = read_text_file(txt);
    while (!caption.empty() && (caption.back() == '\n' || caption.back() == '\r'))
      caption.pop_back();
    out.push_back({e.path(), caption});
  }
  if (out.empty()) fail("image folder '{}' has no .png, .jpg or .bmp images", dir.string());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.image < b.image; });
  return out;
}

TensorMap encode_latent_dataset(const SdPipeline& pipe, const std::vector<ImageCaption>& items,
                                int resolution, int batch,
                                const std::function<void(int, int)>& progress) {
  const int f = pipe.vae().downscale();
  if (resolution <= 0 || resolution % f)
    fail("resolution {} is not a positive multiple of the VAE's factor {}", resolution, f);
  if (batch < 1) fail("batch must be at least 1 (got {})", batch);
  torch::InferenceMode guard;
  std::vector<at::Tensor> latents, hidden, pooled, time_ids;
  const bool xl = pipe.family() == PipelineFamily::kSdxl;
  for (size_t start = 0; start < items.size(); start += batch) {
    const size_t end = std::min(items.size(), start + batch);
    std::vector<at::Tensor> images;
    std::vector<std::string> captions;
    for (size_t i = start; i < end; ++i) {
      int w = 0, h = 0;
      const auto rgb = read_image_rgb(items[i].image, &w, &h);
      at::Tensor img = torch::from_blob(const_cast<uint8_t*>(rgb.data()), {h, w, 3}, torch::kUInt8)
                               .permute({2, 0, 1})
                               .to(torch::kFloat32)
                               .unsqueeze(0) /
                           127.5 -
                       1.0;
      // Shorter side to the resolution, then the centre crop (SDXL records both).
      const double s = double(resolution) / std::min(w, h);
      const int64_t nh = std::max<int64_t>(resolution, std::llround(h * s)),
                    nw = std::max<int64_t>(resolution, std::llround(w * s));
      img = torch::nn::functional::interpolate(img, torch::nn::functional::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{nh, nw})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false)
                                                        .antialias(true));
      const int64_t top = (nh - resolution) / 2, left = (nw - resolution) / 2;
      images.push_back(
          img.slice(2, top, top + resolution).slice(3, left, left + resolution).clamp(-1, 1));
      captions.push_back(items[i].caption);
      if (xl)
        time_ids.push_back(torch::tensor({double(h), double(w), double(top), double(left),
                                          double(resolution), double(resolution)},
                                         torch::kFloat32)
                               .unsqueeze(0));
    }
    latents.push_back(pipe.vae().encode(torch::cat(images)).to(torch::kCPU, torch::kFloat32));
    const PromptEmbeddings e = pipe.encode_prompts(captions, {}, 1.0);
    hidden.push_back(e.cond.to(torch::kCPU, torch::kFloat32));
    if (xl) pooled.push_back(e.pooled.to(torch::kCPU, torch::kFloat32));
    if (progress) progress(int(end), int(items.size()));
  }
  TensorMap out = {{"latents", torch::cat(latents)}, {"encoder_hidden_states", torch::cat(hidden)}};
  if (xl) {
    out["text_embeds"] = torch::cat(pooled);
    out["time_ids"] = torch::cat(time_ids);
  }
  return out;
}

}  // namespace asdm
