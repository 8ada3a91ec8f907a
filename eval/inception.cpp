#include "eval/inception.h"

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <torch/torch.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/sha256.h"
#include "eval/fid.h"
#include "eval/pil_resize.h"
#include "eval/state_dict.h"
#include "model/runtime.h"
#include "model/tensor_io.h"

namespace asdm {

using torch::Tensor;
namespace F = torch::nn::functional;

std::string to_string(InceptionPreprocess p) {
  switch (p) {
    case InceptionPreprocess::kPytorchFid:
      return "pytorch-fid";
    case InceptionPreprocess::kClean:
      return "clean";
    case InceptionPreprocess::kTorchFidelity:
      return "torch-fidelity";
  }
  return "?";
}

InceptionPreprocess parse_inception_preprocess(const std::string& name) {
  if (name == "pytorch-fid" || name == "legacy") return InceptionPreprocess::kPytorchFid;
  if (name == "clean") return InceptionPreprocess::kClean;
  if (name == "torch-fidelity") return InceptionPreprocess::kTorchFidelity;
  fail("unknown FID mode '{}' (known: pytorch-fid, clean, torch-fidelity)", name);
}

namespace {

struct ConvSpec {
  int in, out, kh, kw, sh = 1, sw = 1, ph = 0, pw = 0;
};

// Every BasicConv2d of the network (conv without bias + BatchNorm(eps=1e-3) + ReLU).
std::map<std::string, ConvSpec> conv_specs() {
  std::map<std::string, ConvSpec> s;
  s["Conv2d_1a_3x3"] = {3, 32, 3, 3, 2, 2};
  s["Conv2d_2a_3x3"] = {32, 32, 3, 3};
  s["Conv2d_2b_3x3"] = {32, 64, 3, 3, 1, 1, 1, 1};
  s["Conv2d_3b_1x1"] = {64, 80, 1, 1};
  s["Conv2d_4a_3x3"] = {80, 192, 3, 3};
  auto a = [&](const std::string& n, int in, int pool) {
    s[n + ".branch1x1"] = {in, 64, 1, 1};
    s[n + ".branch5x5_1"] = {in, 48, 1, 1};
    s[n + ".branch5x5_2"] = {48, 64, 5, 5, 1, 1, 2, 2};
    s[n + ".branch3x3dbl_1"] = {in, 64, 1, 1};
    s[n + ".branch3x3dbl_2"] = {64, 96, 3, 3, 1, 1, 1, 1};
    s[n + ".branch3x3dbl_3"] = {96, 96, 3, 3, 1, 1, 1, 1};
    s[n + ".branch_pool"] = {in, pool, 1, 1};
  };
  a("Mixed_5b", 192, 32);
  a("Mixed_5c", 256, 64);
  a("Mixed_5d", 288, 64);
  s["Mixed_6a.branch3x3"] = {288, 384, 3, 3, 2, 2};
  s["Mixed_6a.branch3x3dbl_1"] = {288, 64, 1, 1};
  s["Mixed_6a.branch3x3dbl_2"] = {64, 96, 3, 3, 1, 1, 1, 1};
  s["Mixed_6a.branch3x3dbl_3"] = {96, 96, 3, 3, 2, 2};
  auto c = [&](const std::string& n, int c7) {
    s[n + ".branch1x1"] = {768, 192, 1, 1};
    s[n + ".branch7x7_1"] = {768, c7, 1, 1};
    s[n + ".branch7x7_2"] = {c7, c7, 1, 7, 1, 1, 0, 3};
    s[n + ".branch7x7_3"] = {c7, 192, 7, 1, 1, 1, 3, 0};
    s[n + ".branch7x7dbl_1"] = {768, c7, 1, 1};
    s[n + ".branch7x7dbl_2"] = {c7, c7, 7, 1, 1, 1, 3, 0};
    s[n + ".branch7x7dbl_3"] = {c7, c7, 1, 7, 1, 1, 0, 3};
    s[n + ".branch7x7dbl_4"] = {c7, c7, 7, 1, 1, 1, 3, 0};
    s[n + ".branch7x7dbl_5"] = {c7, 192, 1, 7, 1, 1, 0, 3};
    s[n + ".branch_pool"] = {768, 192, 1, 1};
  };
  c("Mixed_6b", 128);
  c("Mixed_6c", 160);
  c("Mixed_6d", 160);
  c("Mixed_6e", 192);
  s["Mixed_7a.branch3x3_1"] = {768, 192, 1, 1};
  s["Mixed_7a.branch3x3_2"] = {192, 320, 3, 3, 2, 2};
  s["Mixed_7a.branch7x7x3_1"] = {768, 192, 1, 1};
  s["Mixed_7a.branch7x7x3_2"] = {192, 192, 1, 7, 1, 1, 0, 3};
  s["Mixed_7a.branch7x7x3_3"] = {192, 192, 7, 1, 1, 1, 3, 0};
  s["Mixed_7a.branch7x7x3_4"] = {192, 192, 3, 3, 2, 2};
  auto e = [&](const std::string& n, int in) {
    s[n + ".branch1x1"] = {in, 320, 1, 1};
    s[n + ".branch3x3_1"] = {in, 384, 1, 1};
    s[n + ".branch3x3_2a"] = {384, 384, 1, 3, 1, 1, 0, 1};
    s[n + ".branch3x3_2b"] = {384, 384, 3, 1, 1, 1, 1, 0};
    s[n + ".branch3x3dbl_1"] = {in, 448, 1, 1};
    s[n + ".branch3x3dbl_2"] = {448, 384, 3, 3, 1, 1, 1, 1};
    s[n + ".branch3x3dbl_3a"] = {384, 384, 1, 3, 1, 1, 0, 1};
    s[n + ".branch3x3dbl_3b"] = {384, 384, 3, 1, 1, 1, 1, 0};
    s[n + ".branch_pool"] = {in, 192, 1, 1};
  };
  e("Mixed_7b", 1280);
  e("Mixed_7c", 2048);
  return s;
}

}  // namespace

struct FidInception::Impl {
  struct Conv {
    ConvSpec spec;
    Tensor weight, bias;  // batch norm folded in
  };
  std::map<std::string, Conv> convs;
  Tensor fc_weight;  // [1008, 2048]
  std::string sha256;
  c10::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;

  void fold(const std::string& name, const ConvSpec& s, const Tensor& w, const Tensor& gamma,
            const Tensor& beta, const Tensor& mean, const Tensor& var) {
    const Tensor scale = gamma.to(torch::kFloat64) / torch::sqrt(var.to(torch::kFloat64) + 1e-3);
    Conv c{s, (w.to(torch::kFloat64) * scale.view({-1, 1, 1, 1})).to(torch::kFloat32).contiguous(),
           (beta.to(torch::kFloat64) - mean.to(torch::kFloat64) * scale).to(torch::kFloat32)};
    convs[name] = std::move(c);
  }

  Tensor conv(const std::string& name, const Tensor& x) const {
    const auto& c = convs.at(name);
    return torch::relu(
        torch::conv2d(x, c.weight, c.bias, {c.spec.sh, c.spec.sw}, {c.spec.ph, c.spec.pw}));
  }
  static Tensor avg3(const Tensor& x) {
    return F::avg_pool2d(x,
                         F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
  }
  Tensor block_a(const std::string& n, const Tensor& x) const {
    return torch::cat(
        {conv(n + ".branch1x1", x), conv(n + ".branch5x5_2", conv(n + ".branch5x5_1", x)),
         conv(n + ".branch3x3dbl_3", conv(n + ".branch3x3dbl_2", conv(n + ".branch3x3dbl_1", x))),
         conv(n + ".branch_pool", avg3(x))},
        1);
  }
  Tensor block_b(const std::string& n, const Tensor& x) const {
    return torch::cat(
        {conv(n + ".branch3x3", x),
         conv(n + ".branch3x3dbl_3", conv(n + ".branch3x3dbl_2", conv(n + ".branch3x3dbl_1", x))),
         torch::max_pool2d(x, 3, 2)},
        1);
  }
  Tensor block_c(const std::string& n, const Tensor& x) const {
    Tensor b7 = conv(n + ".branch7x7_3", conv(n + ".branch7x7_2", conv(n + ".branch7x7_1", x)));
    Tensor d = conv(n + ".branch7x7dbl_1", x);
    for (int i = 2; i <= 5; ++i) d = conv(n + ".branch7x7dbl_" + std::to_string(i), d);
    return torch::cat({conv(n + ".branch1x1", x), b7, d, conv(n + ".branch_pool", avg3(x))}, 1);
  }
  Tensor block_d(const std::string& n, const Tensor& x) const {
    Tensor a = conv(n + ".branch3x3_2", conv(n + ".branch3x3_1", x));
    Tensor b = conv(n + ".branch7x7x3_1", x);
    for (int i = 2; i <= 4; ++i) b = conv(n + ".branch7x7x3_" + std::to_string(i), b);
    return torch::cat({a, b, torch::max_pool2d(x, 3, 2)}, 1);
  }
  Tensor block_e(const std::string& n, const Tensor& x, bool max_pool) const {
    const Tensor t = conv(n + ".branch3x3_1", x);
    const Tensor d = conv(n + ".branch3x3dbl_2", conv(n + ".branch3x3dbl_1", x));
    const Tensor pooled = max_pool ? torch::max_pool2d(x, 3, 1, 1) : avg3(x);
    return torch::cat(
        {conv(n + ".branch1x1", x),
         torch::cat({conv(n + ".branch3x3_2a", t), conv(n + ".branch3x3_2b", t)}, 1),
         torch::cat({conv(n + ".branch3x3dbl_3a", d), conv(n + ".branch3x3dbl_3b", d)}, 1),
         conv(n + ".branch_pool", pooled)},
        1);
  }
};

FidInception::FidInception() : impl_(std::make_unique<Impl>()) {}
FidInception::~FidInception() = default;
const std::string& FidInception::sha256() const { return impl_->sha256; }

std::unique_ptr<FidInception> FidInception::load(const std::filesystem::path& path) {
  const TensorMap t = read_state_dict(path);
  std::unique_ptr<FidInception> m(new FidInception());
  std::vector<std::string> missing, misshaped, unexpected;
  std::set<std::string> used;
  auto get = [&](const std::string& key, const std::vector<int64_t>& shape) -> Tensor {
    const auto it = t.find(key);
    if (it == t.end()) {
      missing.push_back(key);
      return {};
    }
    used.insert(key);
    if (it->second.sizes().vec() != shape) {
      misshaped.push_back(key + " is " + shape_string(it->second.sizes().vec()) + ", expected " +
                          shape_string(shape));
      return {};
    }
    return it->second;
  };
  for (const auto& [name, s] : conv_specs()) {
    const Tensor w = get(name + ".conv.weight", {s.out, s.in, s.kh, s.kw});
    const Tensor g = get(name + ".bn.weight", {s.out}), b = get(name + ".bn.bias", {s.out}),
                 mu = get(name + ".bn.running_mean", {s.out}),
                 var = get(name + ".bn.running_var", {s.out});
    used.insert(name + ".bn.num_batches_tracked");
    if (w.defined() && g.defined() && b.defined() && mu.defined() && var.defined())
      m->impl_->fold(name, s, w, g, b, mu, var);
  }
  m->impl_->fc_weight = get("fc.weight", {1008, 2048});
  get("fc.bias", {1008});
  for (const auto& kv : t)
    if (!used.count(kv.first)) unexpected.push_back(kv.first);
  if (!missing.empty() || !misshaped.empty() || !unexpected.empty()) {
    std::vector<std::string> parts;
    if (!misshaped.empty())
      parts.push_back(
          fmt::format("{} of another shape ({})", misshaped.size(), join_limited(misshaped, 3)));
    if (!unexpected.empty())
      parts.push_back(
          fmt::format("{} unexpected ({})", unexpected.size(), join_limited(unexpected, 3)));
    if (!missing.empty())
      parts.push_back(fmt::format("{} of its {} tensors missing ({})", missing.size(),
                                  conv_specs().size() * 5 + 2, join_limited(missing, 3)));
    fail("'{}' is not the FID Inception-v3 (pytorch-fid's pt_inception-2015-12-05 weights): {}",
         path.string(), join_limited(parts, 3));
  }
  m->impl_->fc_weight = m->impl_->fc_weight.to(torch::kFloat32).contiguous();
  m->impl_->sha256 = sha256_file(path);
  return m;
}

std::unique_ptr<FidInception> FidInception::random(uint64_t seed) {
  std::unique_ptr<FidInception> m(new FidInception());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto randn = [&](std::vector<int64_t> shape) {
    return at::normal(0.0, 1.0, shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
  };
  for (const auto& [name, s] : conv_specs()) {
    const Tensor w = randn({s.out, s.in, s.kh, s.kw}) * std::sqrt(2.0 / (s.in * s.kh * s.kw));
    m->impl_->fold(name, s, w, 1 + 0.1 * randn({s.out}), 0.1 * randn({s.out}), 0.1 * randn({s.out}),
                   1 + 0.1 * randn({s.out}).abs());
  }
  m->impl_->fc_weight = randn({1008, 2048}) * (1.0 / std::sqrt(2048.0));
  return m;
}

void FidInception::to(const std::string& device, const std::string& dtype) {
  ensure_device(device);
  impl_->device = torch::Device(device);
  impl_->dtype = torch_dtype(parse_dtype(dtype));
  for (auto& [name, c] : impl_->convs) {
    c.weight = c.weight.to(impl_->device, impl_->dtype);
    c.bias = c.bias.to(impl_->device, impl_->dtype);
  }
  impl_->fc_weight = impl_->fc_weight.to(impl_->device, torch::kFloat32);
}

namespace {

// torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x (align_corners=False, "slow").
Tensor resize_tf1_bilinear(const Tensor& x, int64_t out_h, int64_t out_w) {
  const int64_t in_h = x.size(2), in_w = x.size(3);
  auto axis = [&](int64_t in, int64_t out) {
    const float scale = static_cast<float>(static_cast<double>(in) / static_cast<double>(out));
    const Tensor g = torch::arange(out, x.options().dtype(torch::kFloat32)) * scale;
    const Tensor lo = g.to(torch::kLong);
    const Tensor hi = (lo + 1).clamp_max(in - 1);
    return std::make_tuple(lo, hi, (g - lo.to(torch::kFloat32)).to(x.scalar_type()));
  };
  const auto [xlo, xhi, dx] = axis(in_w, out_w);
  const auto [ylo, yhi, dy] = axis(in_h, out_h);
  const Tensor rows_lo = x.index_select(2, ylo), rows_hi = x.index_select(2, yhi);
  const Tensor in00 = rows_lo.index_select(3, xlo), in01 = rows_lo.index_select(3, xhi),
               in10 = rows_hi.index_select(3, xlo), in11 = rows_hi.index_select(3, xhi);
  const Tensor in0 = in00 + (in01 - in00) * dx.view({1, 1, 1, out_w});
  const Tensor in1 = in10 + (in11 - in10) * dx.view({1, 1, 1, out_w});
  return in0 + (in1 - in0) * dy.view({1, 1, out_h, 1});
}

}  // namespace

Tensor FidInception::preprocess(const Tensor& images, InceptionPreprocess p) const {
  if (images.dim() != 4 || images.size(1) != 3 || images.scalar_type() != torch::kUInt8)
    fail("the FID Inception takes [B, 3, H, W] uint8 images, got {} {}",
         shape_string(images.sizes().vec()), c10::toString(images.scalar_type()));
  switch (p) {
    case InceptionPreprocess::kPytorchFid: {
      Tensor x = images.to(impl_->device, torch::kFloat32) / 255;
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{299, 299})
                                .mode(torch::kBilinear)
                                .align_corners(false));
      return 2 * x - 1;
    }
    case InceptionPreprocess::kTorchFidelity:
      return (resize_tf1_bilinear(images.to(impl_->device, torch::kFloat32), 299, 299) - 128) / 128;
    case InceptionPreprocess::kClean: {
      const Tensor cpu = images.to(torch::kCPU).to(torch::kFloat32).contiguous();
      const int64_t B = cpu.size(0), H = cpu.size(2), W = cpu.size(3);
      Tensor out = torch::empty({B, 3, 299, 299}, torch::kFloat32);
      for (int64_t b = 0; b < B; ++b)
        for (int c = 0; c < 3; ++c) {
          const auto r =
              pil_resize_float(cpu[b][c].data_ptr<float>(), W, H, 299, 299, PilFilter::kBicubic);
          std::memcpy(out[b][c].data_ptr<float>(), r.data(), r.size() * sizeof(float));
        }
      return (out.clamp(0, 255).to(impl_->device) - 128) / 128;
    }
  }
  return {};
}

void FidInception::forward(const Tensor& images, InceptionPreprocess p, int pool_dims,
                           const InceptionOutputs& out) const {
  check_fid_dims(pool_dims);
  torch::NoGradGuard no_grad;
  const auto& m = *impl_;
  Tensor x = preprocess(images, p).to(m.dtype);
  auto pooled = [](const Tensor& t) { return t.mean({2, 3}).to(torch::kFloat32); };
  const bool more = out.logits != nullptr;
  x = m.conv("Conv2d_2b_3x3", m.conv("Conv2d_2a_3x3", m.conv("Conv2d_1a_3x3", x)));
  x = torch::max_pool2d(x, 3, 2);
  if (pool_dims == 64 && out.pool) *out.pool = pooled(x);
  if (pool_dims == 64 && !more) return;
  x = torch::max_pool2d(m.conv("Conv2d_4a_3x3", m.conv("Conv2d_3b_1x1", x)), 3, 2);
  if (pool_dims == 192 && out.pool) *out.pool = pooled(x);
  if (pool_dims == 192 && !more) return;
  x = m.block_a("Mixed_5d", m.block_a("Mixed_5c", m.block_a("Mixed_5b", x)));
  x = m.block_b("Mixed_6a", x);
  for (const char* n : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) x = m.block_c(n, x);
  if (pool_dims == 768 && out.pool) *out.pool = pooled(x);
  if (pool_dims == 768 && !more) return;
  x = m.block_d("Mixed_7a", x);
  x = m.block_e("Mixed_7b", x, false);
  x = m.block_e("Mixed_7c", x, true);
  const Tensor features = pooled(x);
  if (pool_dims == 2048 && out.pool) *out.pool = features;
  if (out.logits) *out.logits = features.mm(m.fc_weight.t());
}

}  // namespace asdm
