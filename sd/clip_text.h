#pragma once
// A CLIP text transformer (transformers' CLIPTextModel, key for key: "text_model.embeddings...",
// pre-LayerNorm blocks, causal self-attention, final LayerNorm). The proxy world's text encoder is
// a tiny one trained with the UNet; the same code is the start of SD's text encoders (issue 9).
// Light header: libtorch types are forward-declared.
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace at {
class Tensor;
}
namespace torch::nn {
class Module;
}

namespace asdm {

struct ClipTextConfig {
  int vocab_size = 49408;
  int hidden_size = 512;
  int intermediate_size = 2048;
  int num_hidden_layers = 12;
  int num_attention_heads = 8;
  int max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" | "gelu"
  double layer_norm_eps = 1e-5;
  // transformers' pooling rule: 2 (the legacy value in SD's configs) pools at each row's highest
  // id (CLIP's end token is the last id); any other value at the first occurrence of that id.
  int eos_token_id = 2;
  // CLIPTextModelWithProjection (SDXL's second encoder): text_projection [projection_dim, hidden]
  // maps the pooled state; 0 for CLIPTextModel.
  int projection_dim = 0;
};
ClipTextConfig parse_clip_text_config(
    const nlohmann::json& j);                     // throws asdm::Error naming the field
nlohmann::json to_json(const ClipTextConfig& c);  // transformers' config.json form

class ClipTextModel {
 public:
  explicit ClipTextModel(const ClipTextConfig& config);  // CPU, float32, libtorch's default init
  ~ClipTextModel();
  ClipTextModel(const ClipTextModel&) = delete;
  ClipTextModel& operator=(const ClipTextModel&) = delete;

  const ClipTextConfig& config() const;
  // ids [B, T] int64 (T <= max_position_embeddings). Returns the last hidden state [B, T, D].
  at::Tensor forward(const at::Tensor& ids) const;
  // One pass for the pipelines: the hidden state after all layers but the last `skip`
  // (transformers' hidden_states[-1 - skip]), with the final LayerNorm when `final_norm`
  // (SD 1.x/2.x: skip 0 or clip_skip, normed; SDXL: skip 1, not normed). `pooled`, when given,
  // receives the normed last hidden state at each row's end token, through text_projection when the
  // model has one.
  at::Tensor encode(const at::Tensor& ids, int skip, bool final_norm,
                    at::Tensor* pooled = nullptr) const;
  // The hidden state at `positions` ([B] int64, e.g. each caption's end token): [B, D].
  static at::Tensor pool(const at::Tensor& hidden, const at::Tensor& positions);

  torch::nn::Module& module();
  const torch::nn::Module& module() const;
  // A transformers-style folder: config.json and model.safetensors.
  void save(const std::filesystem::path& dir) const;
  static std::unique_ptr<ClipTextModel> load(const std::filesystem::path& dir);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
