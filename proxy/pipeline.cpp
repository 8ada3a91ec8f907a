#include "proxy/pipeline.h"

#include <chrono>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "model/checkpoint.h"

namespace asdm::proxy {

namespace {

nlohmann::json world_json(const WorldSpec& w) {
  return {{"name", w.name},
          {"image_size", w.image_size},
          {"sprite_size", w.sprite_size},
          {"grid", w.grid},
          {"jitter", w.jitter},
          {"shapes", w.shapes},
          {"colours", w.colours},
          {"max_objects", w.max_objects},
          {"two_object_rate", w.two_object_rate},
          {"max_tokens", w.max_tokens}};
}

WorldSpec world_from_json(const nlohmann::json& j) {
  WorldSpec w;
  try {
    w.name = j.at("name");
    w.image_size = j.at("image_size");
    w.sprite_size = j.at("sprite_size");
    w.grid = j.at("grid");
    w.jitter = j.at("jitter");
    w.shapes = j.at("shapes").get<std::vector<std::string>>();
    w.colours = j.at("colours").get<std::vector<std::string>>();
    w.max_objects = j.at("max_objects");
    w.two_object_rate = j.at("two_object_rate");
    w.max_tokens = j.at("max_tokens");
  } catch (const nlohmann::json::exception& e) {
    fail("proxy.json: the world description is incomplete ({})", json_error_text(e.what()));
  }
  return w;
}

// The teacher: SD 1.x topology (three cross-attention down stages and a plain one, mirrored up
// stages, a cross-attention mid block, two layers per block) at small widths.
nlohmann::json unet_json(const WorldSpec& w, int text_dim) {
  const bool small = w.name == "test";
  const int s2d = 2;
  return {{"_class_name", "UNet2DConditionModel"},
          {"in_channels", 3 * s2d * s2d},
          {"out_channels", 3 * s2d * s2d},
          {"sample_size", w.image_size / s2d},
          {"down_block_types",
           {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
          {"up_block_types",
           {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
          {"mid_block_type", "UNetMidBlock2DCrossAttn"},
          {"block_out_channels",
           small ? std::vector<int>{16, 32, 32, 32} : std::vector<int>{32, 64, 128, 128}},
          {"layers_per_block", 2},
          {"attention_head_dim", small ? 2 : 4},
          {"cross_attention_dim", text_dim},
          {"norm_num_groups", 8},
          {"class_embed_type", "projection"},
          {"projection_class_embeddings_input_dim", text_dim}};
}

ClipTextConfig text_config(const WorldSpec& w, int vocab) {
  ClipTextConfig c;
  c.vocab_size = vocab;
  c.max_position_embeddings = w.max_tokens;
  c.hidden_act = "gelu";
  if (w.name == "test") {
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 2;
  } else {
    c.hidden_size = 64;
    c.intermediate_size = 256;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
  }
  return c;
}

}  // namespace

SchedulerConfig ProxyPipeline::default_scheduler() {
  SchedulerConfig c;
  c.prediction = Prediction::kV;
  c.sampler = "ddim";
  return c;
}

ProxyPipeline ProxyPipeline::create(const WorldSpec& world, uint64_t seed) {
  torch::manual_seed(seed);
  ProxyPipeline p;
  p.world = world;
  p.tokenizer = std::make_unique<Tokenizer>(world);
  const ClipTextConfig tc = text_config(world, p.tokenizer->vocab_size());
  p.text_encoder = std::make_unique<ClipTextModel>(tc);
  p.unet =
      std::make_unique<UNet>(arch_from_config(parse_unet_config(unet_json(world, tc.hidden_size))));
  return p;
}

void ProxyPipeline::save(const std::filesystem::path& dir, const std::string& dtype) const {
  std::filesystem::create_directories(dir);
  save_unet(*unet, dir / "unet", dtype);
  text_encoder->save(dir / "text_encoder");
  std::filesystem::create_directories(dir / "tokenizer");
  nlohmann::json vocab = nlohmann::json::object();
  for (int i = 0; i < tokenizer->vocab_size(); ++i) vocab[tokenizer->vocab[i]] = i;
  write_json_atomic(dir / "tokenizer" / "vocab.json", vocab);
  write_json_atomic(
      dir / "tokenizer" / "tokenizer_config.json",
      {{"tokenizer_class", "AsdmProxyTokenizer"},
       {"model_max_length", tokenizer->max_tokens},
       {"pad_token", "<pad>"},
       {"bos_token", "<start>"},
       {"eos_token", "<end>"},
       {"note", "word-level over a closed vocabulary; lower-cased, split on spaces"}});
  std::filesystem::create_directories(dir / "scheduler");
  write_json_atomic(dir / "scheduler" / "scheduler_config.json",
                    {{"_class_name", "DDIMScheduler"},
                     {"num_train_timesteps", scheduler.schedule.train_steps()},
                     {"beta_schedule", scheduler.schedule.kind},
                     {"beta_start", scheduler.schedule.beta_start},
                     {"beta_end", scheduler.schedule.beta_end},
                     {"prediction_type", to_string(scheduler.prediction)},
                     {"steps_offset", scheduler.steps_offset},
                     {"set_alpha_to_one", scheduler.final_alpha_one},
                     {"clip_sample", false},
                     {"timestep_spacing", scheduler.spacing}});
  write_json_atomic(dir / "proxy.json",
                    {{"world", world_json(world)}, {"space_to_depth", space_to_depth}});
  write_json_atomic(dir / "model_index.json", {{"_class_name", "AsdmProxyPipeline"},
                                               {"unet", {"diffusers", "UNet2DConditionModel"}},
                                               {"text_encoder", {"transformers", "CLIPTextModel"}},
                                               {"tokenizer", {"asdm", "AsdmProxyTokenizer"}},
                                               {"scheduler", {"diffusers", "DDIMScheduler"}}});
}

ProxyPipeline ProxyPipeline::load(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / "proxy.json"))
    fail("{} is not a proxy pipeline folder (no proxy.json; make one with 'asdm proxy train')",
         dir.string());
  const auto pj = read_json_file(dir / "proxy.json");
  ProxyPipeline p;
  p.world = world_from_json(pj.at("world"));
  p.space_to_depth = pj.value("space_to_depth", 2);
  p.tokenizer = std::make_unique<Tokenizer>(p.world);
  p.text_encoder = ClipTextModel::load(dir / "text_encoder");
  if (p.text_encoder->config().vocab_size != p.tokenizer->vocab_size())
    fail("{}: the text encoder has {} tokens, the world's vocabulary {}", dir.string(),
         p.text_encoder->config().vocab_size, p.tokenizer->vocab_size());
  p.unet = load_unet(dir / "unet");
  p.scheduler = read_scheduler_config(dir / "scheduler" / "scheduler_config.json");
  return p;
}

std::pair<at::Tensor, at::Tensor> ProxyPipeline::encode(
    const std::vector<std::string>& captions) const {
  std::vector<int64_t> ids, ends;
  for (const auto& c : captions) {
    const auto e = tokenizer->encode(c);
    ids.insert(ids.end(), e.begin(), e.end());
    ends.push_back(Tokenizer::end_position(e));
  }
  const auto t =
      torch::tensor(ids, torch::kInt64).view({int64_t(captions.size()), tokenizer->max_tokens});
  const at::Tensor hidden = text_encoder->forward(t);
  return {hidden, ClipTextModel::pool(hidden, torch::tensor(ends, torch::kInt64))};
}

at::Tensor ProxyPipeline::to_latent(const std::vector<std::vector<uint8_t>>& images) const {
  const int N = world.image_size, s = space_to_depth;
  std::vector<uint8_t> all;
  for (const auto& im : images) {
    ASDM_CHECK(im.size() == size_t(N) * N * 3, "image of {} bytes, expected {}", im.size(),
               N * N * 3);
    all.insert(all.end(), im.begin(), im.end());
  }
  const int64_t B = images.size();
  at::Tensor x =
      torch::from_blob(all.data(), {B, N, N, 3}, torch::kUInt8).to(torch::kFloat32) / 127.5 - 1.0;
  x = x.permute({0, 3, 1, 2}).contiguous();  // [B, 3, N, N]
  return torch::pixel_unshuffle(x, s);       // [B, 3 s^2, N/s, N/s]
}

std::vector<std::vector<uint8_t>> ProxyPipeline::to_images(const at::Tensor& latent) const {
  at::Tensor x = torch::pixel_shuffle(latent.to(torch::kCPU).to(torch::kFloat32), space_to_depth);
  x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
  std::vector<std::vector<uint8_t>> out;
  const int64_t per = x[0].numel();
  for (int64_t i = 0; i < x.size(0); ++i) {
    const uint8_t* p = x[i].data_ptr<uint8_t>();
    out.emplace_back(p, p + per);
  }
  return out;
}

at::Tensor ProxyPipeline::predict(const at::Tensor& x, double t, const at::Tensor& hidden,
                                  const at::Tensor& pooled, UnitObserver* observer) const {
  AddedConditions added;
  added.class_labels = &pooled;
  return unet->forward(x, torch::full({x.size(0)}, t), hidden, added, observer);
}

std::vector<std::vector<uint8_t>> ProxyPipeline::generate(
    const std::vector<std::string>& captions, uint64_t seed, const SamplerOptions& options,
    UnitObserver* observer, uint64_t first_index, GenerateTimes* times) const {
  torch::InferenceMode guard;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const auto [hidden, pooled] = encode(captions);
  const auto [uh, up] = encode({""});
  const int lat = world.image_size / space_to_depth, ch = 3 * space_to_depth * space_to_depth;
  std::vector<at::Tensor> noise;
  for (size_t i = 0; i < captions.size(); ++i)
    noise.push_back(prompt_noise({ch, lat, lat}, seed, first_index + i));
  // Conditioning travels as [hidden | pooled] through the sampler's one conditioning tensor.
  const int64_t T = hidden.size(1);
  auto pack = [&](const at::Tensor& h, const at::Tensor& p) {
    return torch::cat({h, p.unsqueeze(1)}, 1);
  };
  ConditionalModel model = [&](const at::Tensor& x, double t, const at::Tensor& cond) {
    return predict(x, t, cond.slice(1, 0, T), cond.select(1, T), observer);
  };
  const SamplerOptions o = with_scheduler(options, scheduler);
  const at::Tensor cond = pack(hidden, pooled), uncond = pack(uh, up);
  const auto t1 = Clock::now();
  const at::Tensor x =
      sample(guided(model, cond, uncond, o.guidance), torch::cat(noise), scheduler.schedule, o);
  const auto t2 = Clock::now();
  auto images = to_images(x);
  if (times) {
    const auto s = [](auto d) { return std::chrono::duration<double>(d).count(); };
    *times = {s(t1 - t0), s(t2 - t1), s(Clock::now() - t2)};
  }
  return images;
}

}  // namespace asdm::proxy
