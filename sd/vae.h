#pragma once
// Stable Diffusion's VAE (issue 9 item 3): diffusers' AutoencoderKL, module for module and key for
// key (encoder, quant_conv, post_quant_conv, decoder; DownEncoderBlock2D / UpDecoderBlock2D, the
// mid block's single-head attention), with its scaling factor. Light header.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace at {
class Tensor;
}
namespace torch::nn {
class Module;
}

namespace asdm {

struct VaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<int> block_out_channels = {128, 256, 512, 512};
  int layers_per_block = 2;
  int latent_channels = 4;
  int norm_num_groups = 32;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  int sample_size = 512;
  // A float16 SDXL pipeline runs this VAE in float32 (diffusers' SDXL pipelines upcast it: SDXL's
  // VAE overflows in float16). AutoencoderKL's default; fp16-safe VAEs set it false.
  bool force_upcast = true;
};
// Throws asdm::Error naming the field (only silu, DownEncoderBlock2D and UpDecoderBlock2D exist).
VaeConfig parse_vae_config(const nlohmann::json& j);
nlohmann::json to_json(const VaeConfig& c);

class Vae {
 public:
  explicit Vae(const VaeConfig& config);  // CPU, float32, libtorch's default init
  ~Vae();
  Vae(const Vae&) = delete;
  Vae& operator=(const Vae&) = delete;

  const VaeConfig& config() const;
  // latents [B, latent_channels, h, w] as the sampler leaves them (scaled): divides by the scaling
  // factor (and adds the shift) and decodes to images [B, out_channels, 8h, 8w] in about [-1, 1].
  at::Tensor decode(const at::Tensor& latents) const;
  // images [B, in_channels, H, W] in [-1, 1] -> the scaled latent distribution's mean (and, when
  // `logvar` is given, its log-variance, unscaled), as image-to-image pipelines start from.
  at::Tensor encode(const at::Tensor& images, at::Tensor* logvar = nullptr) const;
  // 2^(stages - 1): the ratio of image to latent size.
  int downscale() const;

  torch::nn::Module& module();
  const torch::nn::Module& module() const;
  // "cpu" / "cuda"; "float32" / "float16" / "bfloat16".
  void to(const std::string& device, const std::string& dtype);
  // A diffusers folder: config.json and diffusion_pytorch_model.safetensors (strict keys).
  static std::unique_ptr<Vae> load(const std::filesystem::path& dir);
  void save(const std::filesystem::path& dir) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
