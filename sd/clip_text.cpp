#include "sd/clip_text.h"

#include <algorithm>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "model/model_files.h"
#include "model/module_init.h"
#include "model/module_io.h"
#include "sd/clip_layer.h"

#include <fmt/ranges.h>

namespace asdm {

namespace nn = torch::nn;
using torch::Tensor;

ClipTextConfig parse_clip_text_config(const nlohmann::json& j) {
  if (!j.is_object()) fail("a text encoder config must be a JSON object");
  ClipTextConfig c;
  auto get = [&](const char* key, int& v) {
    if (!j.contains(key)) return;
    const auto i = json_int(j[key], 1);
    if (!i)
      fail("text encoder config field '{}' must be a positive integer, got {}", key, j[key].dump());
    v = *i;
  };
  get("vocab_size", c.vocab_size);
  get("hidden_size", c.hidden_size);
  get("intermediate_size", c.intermediate_size);
  get("num_hidden_layers", c.num_hidden_layers);
  get("num_attention_heads", c.num_attention_heads);
  get("max_position_embeddings", c.max_position_embeddings);
  if (j.contains("hidden_act")) {
    if (!j["hidden_act"].is_string())
      fail("text encoder config field 'hidden_act' must be a string, got {}",
           j["hidden_act"].dump());
    c.hidden_act = j["hidden_act"].get<std::string>();
  }
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu")
    fail(
        "text encoder config field 'hidden_act' = \"{}\" is not supported (asdm implements "
        "quick_gelu, gelu)",
        c.hidden_act);
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number() || j["layer_norm_eps"].get<double>() < 0)
      fail("text encoder config field 'layer_norm_eps' must be a number >= 0, got {}",
           j["layer_norm_eps"].dump());
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  }
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) {
    const auto eos = json_int(j["eos_token_id"], 0);
    if (!eos)
      fail("text encoder config field 'eos_token_id' must be a token id, got {}",
           j["eos_token_id"].dump());
    c.eos_token_id = *eos;
  }
  bool with_projection = false;
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"]) with_projection |= a == "CLIPTextModelWithProjection";
  if (with_projection) {
    c.projection_dim = 512;  // transformers' default
    get("projection_dim", c.projection_dim);
  }
  if (c.hidden_size % c.num_attention_heads != 0)
    fail("text encoder hidden_size {} is not divisible by num_attention_heads {}", c.hidden_size,
         c.num_attention_heads);
  return c;
}

nlohmann::json to_json(const ClipTextConfig& c) {
  nlohmann::json j = {
      {"architectures", {c.projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel"}},
      {"model_type", "clip_text_model"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"max_position_embeddings", c.max_position_embeddings},
      {"hidden_act", c.hidden_act},
      {"layer_norm_eps", c.layer_norm_eps},
      {"eos_token_id", c.eos_token_id},
      {"torch_dtype", "float32"}};
  if (c.projection_dim) j["projection_dim"] = c.projection_dim;
  return j;
}

struct ClipTextModel::Impl {
  ClipTextConfig config;
  std::shared_ptr<nn::Module> root;
  nn::Embedding token{nullptr}, position{nullptr};
  std::vector<std::shared_ptr<ClipEncoderLayer>> layers;
  nn::LayerNorm final_ln{nullptr};
  nn::Linear projection{nullptr};

  explicit Impl(const ClipTextConfig& c) : config(c) {
    root = std::make_shared<nn::Module>();
    auto tm = root->register_module("text_model", std::make_shared<nn::Module>());
    auto emb = tm->register_module("embeddings", std::make_shared<nn::Module>());
    token = emb->register_module("token_embedding",
                                 make_embedding(nn::EmbeddingOptions(c.vocab_size, c.hidden_size)));
    position = emb->register_module(
        "position_embedding",
        make_embedding(nn::EmbeddingOptions(c.max_position_embeddings, c.hidden_size)));
    auto enc = tm->register_module("encoder", std::make_shared<nn::Module>());
    auto list = enc->register_module("layers", std::make_shared<nn::Module>());
    for (int i = 0; i < c.num_hidden_layers; ++i)
      layers.push_back(list->register_module(
          std::to_string(i), std::make_shared<ClipEncoderLayer>(
                                 c.hidden_size, c.num_attention_heads, c.intermediate_size,
                                 c.hidden_act == "quick_gelu", c.layer_norm_eps, /*causal=*/true)));
    final_ln = tm->register_module(
        "final_layer_norm",
        nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
    if (c.projection_dim)
      projection = root->register_module(
          "text_projection",
          make_linear(nn::LinearOptions(c.hidden_size, c.projection_dim).bias(false)));
  }
};

ClipTextModel::ClipTextModel(const ClipTextConfig& c) : impl_(std::make_unique<Impl>(c)) {}
ClipTextModel::~ClipTextModel() = default;
const ClipTextConfig& ClipTextModel::config() const { return impl_->config; }
torch::nn::Module& ClipTextModel::module() { return *impl_->root; }
const torch::nn::Module& ClipTextModel::module() const { return *impl_->root; }

Tensor ClipTextModel::forward(const Tensor& ids) const { return encode(ids, 0, true); }

Tensor ClipTextModel::encode(const Tensor& ids, int skip, bool final_norm, Tensor* pooled) const {
  const auto& c = impl_->config;
  if (skip < 0 || skip >= c.num_hidden_layers)
    fail("cannot skip {} of the text encoder's {} layers", skip, c.num_hidden_layers);
  if (ids.dim() != 2) fail("token ids must be [batch, tokens], got {} dimensions", ids.dim());
  const int64_t T = ids.size(1);
  if (T > c.max_position_embeddings)
    fail("{} tokens exceed the text encoder's {} positions", T, c.max_position_embeddings);
  const auto dev = impl_->token->weight.device();
  Tensor x = impl_->token->forward(ids.to(dev)) +
             impl_->position->forward(
                 torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(dev)));
  Tensor kept;
  const int n = c.num_hidden_layers;
  for (int i = 0; i < n; ++i) {
    if (i == n - skip) {
      kept = x;
      if (!pooled) break;  // the last layers matter only for the pooled state
    }
    x = impl_->layers[i]->forward(x);
  }
  if (skip == 0) kept = x;
  if (pooled) {
    const Tensor last = impl_->final_ln->forward(x);
    const Tensor idx =
        c.eos_token_id == 2 ? ids.argmax(-1) : (ids == c.eos_token_id).to(torch::kInt).argmax(-1);
    *pooled = pool(last, idx);
    if (impl_->projection) *pooled = impl_->projection->forward(*pooled);
    if (skip == 0 && final_norm) return last;
  }
  return final_norm ? impl_->final_ln->forward(kept) : kept;
}

Tensor ClipTextModel::pool(const Tensor& hidden, const Tensor& positions) {
  const auto idx = positions.to(hidden.device()).to(torch::kInt64);
  return hidden.index({torch::arange(hidden.size(0), idx.options()), idx});
}

void ClipTextModel::save(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  write_json_atomic(dir / "config.json", to_json(impl_->config));
  write_tensors(dir / "model.safetensors", module_tensors(*impl_->root));  // atomic
}

std::unique_ptr<ClipTextModel> ClipTextModel::load(const std::filesystem::path& dir) {
  const ClipTextConfig config = parse_clip_text_config(read_json_file(dir / "config.json"));
  std::unique_ptr<ClipTextModel> m;
  {
    SkipInitGuard skip;  // the strict load below fills every parameter
    m = std::make_unique<ClipTextModel>(config);
  }
  const auto files = component_weights(dir, "model");
  if (files.empty())
    fail("text encoder folder '{}' has no weights (model.safetensors, nor pytorch_model.bin)",
         dir.string());
  TensorMap tensors = map_tensors(files);
  // transformers 5 saves CLIPTextModel without its "text_model." prefix (4 and the hub's SD
  // checkpoints keep it; CLIPTextModelWithProjection keeps it in both).
  if (!tensors.empty() && std::none_of(tensors.begin(), tensors.end(), [](const auto& kv) {
        return kv.first.rfind("text_model.", 0) == 0;
      })) {
    TensorMap prefixed;
    for (auto& [k, v] : tensors)
      prefixed.emplace(k.rfind("text_projection.", 0) == 0 ? k : "text_model." + k, v);
    tensors = std::move(prefixed);
  }
  adopt_module_tensors(*m->impl_->root, std::move(tensors),
                       "text encoder weights " + files.front().string(), "", "position_ids");
  return m;
}

}  // namespace asdm
