#include "incubation/data.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/tensor_io.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"

namespace asdm {
namespace {

class ProxyData : public DataSource {
 public:
  ProxyData(const proxy::ProxyPipeline& p, uint64_t seed, double cond_drop)
      : p_(p), seed_(seed), drop_(cond_drop) {}
  TrainBatch rows(uint64_t step, int size, int first, int count) const override {
    torch::NoGradGuard ng;
    std::vector<std::vector<uint8_t>> images;
    std::vector<std::string> captions;
    for (int i = first; i < first + count; ++i) {
      const uint64_t k = (step - 1) * uint64_t(size) + uint64_t(i);
      proxy::Example e = proxy::make_example(p_.world, seed_, k);
      proxy::SplitMix64 drop(seed_ ^ (k * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995ull);
      images.push_back(std::move(e.pixels));
      captions.push_back(drop.uniform() < drop_ ? std::string() : e.caption);
    }
    TrainBatch b;
    b.x0 = p_.to_latent(images);
    auto [hidden, pooled] = p_.encode(captions);
    b.hidden = hidden;
    b.class_labels = pooled;
    return b;
  }
  std::string describe() const override {
    return fmt::format("the proxy world's stream (seed {}, captions dropped at {})", seed_, drop_);
  }

 private:
  const proxy::ProxyPipeline& p_;
  uint64_t seed_;
  double drop_;
};

class LatentsData : public DataSource {
 public:
  LatentsData(const std::filesystem::path& file, uint64_t seed) : file_(file), seed_(seed) {
    TensorMap t = read_tensors(file);
    auto need = [&](const char* name, int dims) {
      auto it = t.find(name);
      if (it == t.end())
        fail("{} has no '{}' tensor (incubation data needs latents and encoder_hidden_states)",
             file.string(), name);
      if (it->second.dim() != dims)
        fail("{}: '{}' must have {} dimensions, has {}", file.string(), name, dims,
             it->second.dim());
      return it->second.to(torch::kFloat32);
    };
    latents_ = need("latents", 4);
    hidden_ = need("encoder_hidden_states", 3);
    n_ = latents_.size(0);
    if (hidden_.size(0) != n_)
      fail("{}: {} latents but {} encoder_hidden_states", file.string(), n_, hidden_.size(0));
    for (const char* name : {"class_labels", "text_embeds", "time_ids"})
      if (t.count(name)) {
        if (t.at(name).size(0) != n_)
          fail("{}: '{}' has {} rows, latents {}", file.string(), name, t.at(name).size(0), n_);
        extra_[name] = t.at(name).to(torch::kFloat32);
      }
    if (n_ == 0) fail("{} holds no examples", file.string());
  }
  TrainBatch rows(uint64_t step, int size, int first, int count) const override {
    std::vector<int64_t> idx;
    for (int i = first; i < first + count; ++i) {
      const uint64_t k = (step - 1) * uint64_t(size) + uint64_t(i);
      idx.push_back(permutation(k / uint64_t(n_))[k % uint64_t(n_)]);
    }
    const at::Tensor sel = torch::tensor(idx, torch::kInt64);
    TrainBatch b;
    b.x0 = latents_.index_select(0, sel);
    b.hidden = hidden_.index_select(0, sel);
    if (extra_.count("class_labels"))
      b.class_labels = extra_.at("class_labels").index_select(0, sel);
    if (extra_.count("text_embeds")) b.text_embeds = extra_.at("text_embeds").index_select(0, sel);
    if (extra_.count("time_ids")) b.time_ids = extra_.at("time_ids").index_select(0, sel);
    return b;
  }
  std::string describe() const override {
    return fmt::format("{} ({} examples, shuffled per epoch with seed {})", file_.string(), n_,
                       seed_);
  }

 private:
  std::vector<int64_t> permutation(uint64_t epoch) const {
    std::vector<int64_t> p(n_);
    std::iota(p.begin(), p.end(), 0);
    std::mt19937_64 g(seed_ * 0x9e3779b97f4a7c15ull + epoch);
    for (int64_t i = n_ - 1; i > 0; --i) std::swap(p[i], p[g() % uint64_t(i + 1)]);
    return p;
  }
  std::filesystem::path file_;
  uint64_t seed_;
  at::Tensor latents_, hidden_;
  std::map<std::string, at::Tensor> extra_;
  int64_t n_ = 0;
};

}  // namespace

std::unique_ptr<DataSource> proxy_data(const proxy::ProxyPipeline& p, uint64_t seed,
                                       double cond_drop) {
  return std::make_unique<ProxyData>(p, seed, cond_drop);
}

std::unique_ptr<DataSource> latents_data(const std::filesystem::path& file, uint64_t seed) {
  return std::make_unique<LatentsData>(file, seed);
}

}  // namespace asdm
