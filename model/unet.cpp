#include "model/unet.h"

#include <cmath>

#include <fmt/ranges.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/branch_cache.h"
#include "model/clme_condconv.h"
#include "model/conv.h"
#include "model/module_init.h"
#include "model/recompute.h"
#include "model/runtime.h"

namespace asdm {
namespace {

using torch::Tensor;
namespace nn = torch::nn;

// A plain container: children registered under explicit names ("0", "resnets", ...), so that the
// module paths equal diffusers' even when some indices are absent (removed units).
std::shared_ptr<nn::Module> container() { return std::make_shared<nn::Module>(); }

nn::Conv2d conv(int in, int out, int k, int stride = 1, int pad = -1) {
  return make_conv2d(
      nn::Conv2dOptions(in, out, k).stride(stride).padding(pad < 0 ? (k - 1) / 2 : pad));
}
nn::Linear linear(int in, int out, bool bias = true) {
  return make_linear(nn::LinearOptions(in, out).bias(bias));
}
nn::GroupNorm group_norm(int groups, int ch, double eps) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, ch).eps(eps).affine(true));
}

Tensor gn(const nn::GroupNorm& m, const Tensor& x) {
  return at::group_norm(x, m->options.num_groups(), m->weight, m->bias, m->options.eps());
}

Tensor conv3x3(nn::Conv2d& m, const Tensor& x) { return asdm::conv3x3(x, m->weight, m->bias); }

// What one forward carries besides tensors.
struct Ctx {
  UnitObserver* obs = nullptr;
  bool tensors = false;
  bool maps = false;       // cross-attention probabilities to the observer
  bool recompute = false;  // units recompute their activations in backward (model/recompute.h)
  BranchCache* cache = nullptr;  // a cache plan's call (model/branch_cache.h)
  void emit(const std::string& path, const Tensor& t) const {
    if (tensors) obs->on_tensor(path, t);
  }
};

// Runs one unit through the hook. `full` computes shortcut + branch, `shortcut` the shortcut only.
// Under a cache plan, a reused unit is its shortcut plus the branch an earlier call kept.
template <class Full, class Short>
Tensor run_unit(const Ctx& ctx, const UnitInfo& u, bool removed, Full&& full, Short&& shortcut) {
  auto compute = [&]() -> Tensor {
    if (ctx.cache && u.removable() && !removed) {
      if (ctx.cache->reuses(u.id)) {
        ctx.cache->count_reuse();
        return shortcut() + ctx.cache->branch(u.id);
      }
      if (ctx.cache->keeps(u.id)) {
        Tensor out = full();
        ctx.cache->keep(u.id, out - shortcut());
        return out;
      }
    }
    return full();
  };
  if (!ctx.obs) return removed ? shortcut() : compute();
  ctx.obs->on_enter(u);
  Tensor out;
  if (const Tensor* kept = ctx.obs->replay(u)) {
    out = *kept;
  } else {
    const bool bypass = u.removable() && (removed || ctx.obs->bypass(u));
    out = bypass ? shortcut() : compute();
  }
  ctx.obs->on_exit(u, out);
  ctx.emit(u.id, out);
  return out;
}

// A resnet or attention unit's branch + shortcut, through activation checkpointing when asked
// (an attention whose maps an observer wants runs as usual: the maps must keep their graph).
template <class M>
Tensor resnet_call(M& rn, const Tensor& h, const Tensor& temb, const Ctx& ctx) {
  if (!ctx.recompute) return rn->forward(h, temb);
  return recompute_in_backward(
      [rn](const std::vector<Tensor>& in) { return rn->forward(in[0], in[1]); }, {h, temb},
      rn->parameters());
}

template <class M>
Tensor attention_call(M& at, const Tensor& h, const Tensor& ehs, const Ctx& ctx) {
  if (!ctx.recompute || ctx.maps) return at->forward(h, ehs, ctx);
  return recompute_in_backward(
      [at](const std::vector<Tensor>& in) { return at->forward(in[0], in[1], Ctx{}); }, {h, ehs},
      at->parameters());
}

// Sinusoidal timestep embedding, as diffusers' get_timestep_embedding (float32 arithmetic).
Tensor timestep_proj(const Tensor& t, int dim, bool flip_sin_to_cos, double shift) {
  const int half = dim / 2;
  Tensor exponent =
      -std::log(10000.0) *
      torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device()));
  exponent = exponent / (half - shift);
  Tensor emb = t.unsqueeze(1).to(torch::kFloat32) * torch::exp(exponent).unsqueeze(0);
  emb = torch::cat({torch::sin(emb), torch::cos(emb)}, -1);
  if (flip_sin_to_cos) emb = torch::cat({emb.slice(1, half), emb.slice(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1, 0, 0});
  return emb;
}

// ---- blocks -------------------------------------------------------------------------------

struct TimestepEmbeddingImpl : nn::Module {
  nn::Linear linear_1{nullptr}, linear_2{nullptr}, cond_proj{nullptr};
  TimestepEmbeddingImpl(int in, int out, int cond_dim) {
    if (cond_dim > 0) cond_proj = register_module("cond_proj", linear(cond_dim, in, false));
    linear_1 = register_module("linear_1", linear(in, out));
    linear_2 = register_module("linear_2", linear(out, out));
  }
  Tensor forward(Tensor x, const Tensor* cond) {
    if (cond_proj && cond) x = x + cond_proj->forward(*cond);
    return linear_2->forward(torch::silu(linear_1->forward(x)));
  }
};

struct ResnetBlockImpl : nn::Module {
  nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  nn::Linear time_emb_proj{nullptr};
  bool scale_shift = false;
  double out_scale = 1.0;

  // CLME-CondConv (model/clme_condconv.h): extra experts and a router, registered under the conv
  // ("conv1.experts.0.weight", "conv1.router.weight"); conv1/conv2 themselves hold expert 0.
  struct Clme {
    std::vector<nn::Conv2d> experts;
    nn::Linear router{nullptr};
    std::vector<Tensor> kernels() const { return collect(true); }
    std::vector<Tensor> biases() const { return collect(false); }
    nn::Conv2d base{nullptr};
    std::vector<Tensor> collect(bool w) const {
      std::vector<Tensor> out{w ? base->weight : base->bias};
      for (const auto& e : experts) out.push_back(w ? e->weight : e->bias);
      return out;
    }
  };
  std::optional<Clme> clme1, clme2;

  static std::optional<Clme> make_clme(nn::Conv2d& base, size_t experts, int route_dim) {
    if (experts == 0) return std::nullopt;
    Clme m;
    m.base = base;
    auto list = container();
    const int64_t cout = base->weight.size(0), cin = base->weight.size(1);
    for (size_t k = 0; k < experts; ++k)
      m.experts.push_back(list->register_module(
          std::to_string(k), conv(static_cast<int>(cin), static_cast<int>(cout), 3)));
    base->register_module("experts", list);
    m.router = base->register_module(
        "router", linear(static_cast<int>(cin) + route_dim, static_cast<int>(experts) + 1));
    torch::NoGradGuard g;
    m.router->weight.zero_();
    m.router->bias.zero_();
    return m;
  }

  ResnetBlockImpl(const UnitInfo& u, const UNetConfig& c, bool removed,
                  const ClmeOptions* clme = nullptr) {
    scale_shift = c.resnet_time_scale_shift == "scale_shift";
    out_scale = u.output_scale;
    if (!removed) {
      norm1 = register_module("norm1", group_norm(c.norm_num_groups, u.in_channels, c.norm_eps));
      conv1 = register_module("conv1", conv(u.in_channels, u.out_channels, 3));
      time_emb_proj = register_module(
          "time_emb_proj",
          linear(c.time_embed_dim(), scale_shift ? 2 * u.out_channels : u.out_channels));
      norm2 = register_module("norm2", group_norm(c.norm_num_groups, u.out_channels, c.norm_eps));
      conv2 = register_module("conv2", conv(u.out_channels, u.out_channels, 3));
      if (clme) {
        clme1 = make_clme(conv1, clme->conv1.size(), c.time_embed_dim());
        clme2 = make_clme(conv2, clme->conv2.size(), c.time_embed_dim());
      }
    }
    if (u.conv_shortcut)
      conv_shortcut =
          register_module("conv_shortcut", conv(u.in_channels, u.out_channels, 1, 1, 0));
  }
  Tensor shortcut(const Tensor& x) {
    Tensor s = conv_shortcut ? conv_shortcut->forward(x) : x;
    return out_scale == 1.0 ? s : s / out_scale;
  }
  Tensor forward(const Tensor& x, const Tensor& temb) {
    const Tensor route = clme1 || clme2 ? torch::silu(temb) : Tensor();
    auto run_conv = [&](nn::Conv2d& m, const std::optional<Clme>& cl, const Tensor& in) {
      return cl ? clme_conv(in, route, cl->router->weight, cl->router->bias, cl->kernels(),
                            cl->biases())
                : conv3x3(m, in);
    };
    Tensor h = run_conv(conv1, clme1, torch::silu(gn(norm1, x)));
    Tensor t = time_emb_proj->forward(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
    if (!scale_shift) {
      h = gn(norm2, h + t);
    } else {
      auto st = t.chunk(2, 1);
      h = gn(norm2, h) * (1 + st[0]) + st[1];
    }
    h = run_conv(conv2, clme2, torch::silu(h));
    Tensor s = conv_shortcut ? conv_shortcut->forward(x) : x;
    Tensor out = s + h;
    return out_scale == 1.0 ? out : out / out_scale;
  }
};

struct AttentionImpl : nn::Module {
  nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_out_0{nullptr};
  int heads = 1;
  bool upcast = false;
  AttentionImpl(int dim, int context_dim, int heads_, bool upcast_)
      : heads(heads_), upcast(upcast_) {
    to_q = register_module("to_q", linear(dim, dim, false));
    to_k = register_module("to_k", linear(context_dim, dim, false));
    to_v = register_module("to_v", linear(context_dim, dim, false));
    auto out = container();
    to_out_0 = out->register_module("0", linear(dim, dim));
    register_module("to_out", out);
  }
  std::optional<GriOptions> gri;  // self-attention only: GRI attention over the H x W map
  // H, W: the map's size, needed by GRI attention. probs: when given, the attention is computed
  // explicitly and its probabilities [B, heads, N, M] are stored there.
  Tensor forward(const Tensor& x, const Tensor& context, int64_t H = 0, int64_t W = 0,
                 Tensor* probs = nullptr) {
    const int64_t B = x.size(0);
    auto split = [&](const Tensor& t) {
      return t.view({B, -1, heads, t.size(-1) / heads}).transpose(1, 2);
    };
    Tensor q = split(to_q->forward(x));
    Tensor k = split(to_k->forward(context));
    Tensor v = split(to_v->forward(context));
    auto attend = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
      return gri && H > 0 ? gri_attention(a, b, c, H, W, *gri)
                          : at::scaled_dot_product_attention(a, b, c);
    };
    Tensor o;
    if (probs) {
      const Tensor qf = upcast ? q.to(torch::kFloat32) : q, kf = upcast ? k.to(torch::kFloat32) : k;
      *probs = torch::softmax(qf.matmul(kf.transpose(-1, -2)) / std::sqrt(double(q.size(-1))), -1);
      o = probs->to(v.scalar_type()).matmul(v);
    } else if (upcast && q.scalar_type() != torch::kFloat32) {
      o = attend(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32))
              .to(q.scalar_type());
    } else {
      o = attend(q, k, v);
    }
    o = o.transpose(1, 2).reshape({B, -1, o.size(1) * o.size(3)});
    return to_out_0->forward(o);
  }
};

struct FeedForwardImpl : nn::Module {
  nn::Linear proj{nullptr}, out{nullptr};
  explicit FeedForwardImpl(int dim) {
    auto net = container();
    auto geglu = container();
    proj = geglu->register_module("proj", linear(dim, dim * 8));
    net->register_module("0", geglu);
    out = net->register_module("2", linear(dim * 4, dim));
    register_module("net", net);
  }
  Tensor forward(const Tensor& x) {
    auto hg = proj->forward(x).chunk(2, -1);
    return out->forward(hg[0] * torch::gelu(hg[1]));
  }
};

struct BasicTransformerBlockImpl : nn::Module {
  nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  std::shared_ptr<AttentionImpl> attn1, attn2;
  std::shared_ptr<FeedForwardImpl> ff;
  bool only_cross = false;
  std::string path;
  BasicTransformerBlockImpl(const UnitInfo& u, bool upcast, std::string path_,
                            const GriOptions* gri)
      : path(std::move(path_)) {
    const int C = u.out_channels;
    only_cross = u.only_cross_attention;
    auto ln = [&] {
      return nn::LayerNorm(nn::LayerNormOptions({C}).eps(1e-5).elementwise_affine(true));
    };
    norm1 = register_module("norm1", ln());
    attn1 = register_module(
        "attn1", std::make_shared<AttentionImpl>(C, only_cross ? u.cross_dim : C, u.heads, upcast));
    if (gri && !only_cross) attn1->gri = *gri;
    norm2 = register_module("norm2", ln());
    attn2 =
        register_module("attn2", std::make_shared<AttentionImpl>(C, u.cross_dim, u.heads, upcast));
    norm3 = register_module("norm3", ln());
    ff = register_module("ff", std::make_shared<FeedForwardImpl>(C));
  }
  Tensor forward(Tensor h, const Tensor& ctx_states, const Ctx& ctx, int64_t H, int64_t W) {
    Tensor n = norm1->forward(h);
    ctx.emit(unit_id::child(path, "norm1"), n);
    Tensor a = only_cross ? attn1->forward(n, ctx_states) : attn1->forward(n, n, H, W);
    ctx.emit(unit_id::child(path, "attn1"), a);
    h = a + h;
    n = norm2->forward(h);
    ctx.emit(unit_id::child(path, "norm2"), n);
    if (ctx.maps) {
      Tensor probs;
      a = attn2->forward(n, ctx_states, 0, 0, &probs);
      ctx.obs->on_tensor(unit_id::child(path, "attn2.probs"), probs);
    } else {
      a = attn2->forward(n, ctx_states);
    }
    ctx.emit(unit_id::child(path, "attn2"), a);
    h = a + h;
    n = norm3->forward(h);
    ctx.emit(unit_id::child(path, "norm3"), n);
    a = ff->forward(n);
    ctx.emit(unit_id::child(path, "ff"), a);
    return a + h;
  }
};

struct Transformer2DImpl : nn::Module {
  nn::GroupNorm norm{nullptr};
  nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  nn::Linear proj_in_lin{nullptr}, proj_out_lin{nullptr};
  std::vector<std::shared_ptr<BasicTransformerBlockImpl>> blocks;  // nullptr: removed
  std::vector<const UnitInfo*> block_units;                        // nullptr: not a unit
  std::vector<bool> block_removed;
  bool linear_proj = false;
  std::string path;

  Transformer2DImpl(const UnitInfo& u, const UNetConfig& c, const UNetLayout& layout,
                    const std::set<std::string>& removed, const GriOptions* gri)
      : path(u.id) {
    const int C = u.out_channels;
    linear_proj = c.use_linear_projection;
    norm = register_module("norm", group_norm(c.norm_num_groups, C, 1e-6));
    if (linear_proj)
      proj_in_lin = register_module("proj_in", linear(C, C));
    else
      proj_in_conv = register_module("proj_in", conv(C, C, 1, 1, 0));
    auto tb = container();
    for (int k = 0; k < u.transformer_layers; ++k) {
      const std::string id = unit_id::transformer_block(u.id, k);
      const UnitInfo* bu = u.transformer_layers > 1 ? &layout.at(id) : nullptr;
      const bool gone = bu && removed.count(id);
      block_units.push_back(bu);
      block_removed.push_back(gone);
      if (gone) {
        blocks.push_back(nullptr);
      } else {
        blocks.push_back(tb->register_module(
            std::to_string(k),
            std::make_shared<BasicTransformerBlockImpl>(u, c.upcast_attention, id, gri)));
      }
    }
    register_module("transformer_blocks", tb);
    if (linear_proj)
      proj_out_lin = register_module("proj_out", linear(C, C));
    else
      proj_out_conv = register_module("proj_out", conv(C, C, 1, 1, 0));
  }

  Tensor forward(const Tensor& x, const Tensor& ctx_states, const Ctx& ctx) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor h = gn(norm, x);
    ctx.emit(unit_id::child(path, "norm"), h);
    if (!linear_proj) {
      h = proj_in_conv->forward(h);
      ctx.emit(unit_id::child(path, "proj_in"), h);
      h = h.permute({0, 2, 3, 1}).reshape({B, H * W, C});
    } else {
      h = proj_in_lin->forward(h.permute({0, 2, 3, 1}).reshape({B, H * W, C}));
      ctx.emit(unit_id::child(path, "proj_in"), h);
    }
    for (size_t k = 0; k < blocks.size(); ++k) {
      if (block_units[k]) {
        auto& blk = blocks[k];
        h = run_unit(
            ctx, *block_units[k], block_removed[k],
            [&] { return blk->forward(h, ctx_states, ctx, H, W); }, [&] { return h; });
      } else {
        h = blocks[k]->forward(h, ctx_states, ctx, H, W);
        ctx.emit(unit_id::transformer_block(path, static_cast<int>(k)), h);
      }
    }
    if (!linear_proj) {
      h = proj_out_conv->forward(
          h.reshape({B, H, W, C}).permute({0, 3, 1, 2}).contiguous(x.suggest_memory_format()));
      ctx.emit(unit_id::child(path, "proj_out"), h);
    } else {
      h = proj_out_lin->forward(h);
      ctx.emit(unit_id::child(path, "proj_out"), h);
      h = h.reshape({B, H, W, C}).permute({0, 3, 1, 2}).contiguous(x.suggest_memory_format());
    }
    return h + x;
  }
};

struct Downsample2DImpl : nn::Module {
  nn::Conv2d conv_{nullptr};
  int padding = 1;
  Downsample2DImpl(int ch, int pad) : padding(pad) {
    conv_ = register_module("conv", conv(ch, ch, 3, 2, pad));
  }
  Tensor forward(Tensor x) {
    if (padding == 0) x = torch::constant_pad_nd(x, {0, 1, 0, 1}, 0);
    return conv_->forward(x);
  }
};

struct Upsample2DImpl : nn::Module {
  nn::Conv2d conv_{nullptr};
  explicit Upsample2DImpl(int ch) { conv_ = register_module("conv", conv(ch, ch, 3)); }
  Tensor forward(const Tensor& x, at::IntArrayRef size) {
    Tensor h = x;
    const auto dt = h.scalar_type();
    if (dt == torch::kBFloat16) h = h.to(torch::kFloat32);  // nearest upsampling lacks bf16 kernels
    h = at::upsample_nearest2d(h.contiguous(h.suggest_memory_format()), size);
    if (dt == torch::kBFloat16) h = h.to(dt);
    return conv3x3(conv_, h);
  }
};

// Runtime view of one block: typed module pointers next to the layout's unit records.
struct BlockRT {
  const BlockInfo* info = nullptr;
  std::vector<std::shared_ptr<ResnetBlockImpl>> resnets;
  std::vector<std::shared_ptr<Transformer2DImpl>> attentions;  // nullptr: removed
  std::shared_ptr<Downsample2DImpl> down;
  std::shared_ptr<Upsample2DImpl> up;
};

}  // namespace

struct UNet::Impl {
  ArchSpec spec;
  UNetLayout layout;
  std::set<std::string> removed;
  std::map<std::string, GriOptions> gri;
  std::map<std::string, ClmeOptions> clme;
  std::shared_ptr<nn::Module> root;
  std::shared_ptr<TimestepEmbeddingImpl> time_embedding, add_embedding, class_embedding;
  nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  nn::GroupNorm conv_norm_out{nullptr};
  std::vector<BlockRT> down, up;
  std::optional<BlockRT> mid;
  const UnitInfo *u_time = nullptr, *u_add = nullptr, *u_class = nullptr, *u_conv_in = nullptr,
                 *u_norm_out = nullptr, *u_conv_out = nullptr;

  bool is_removed(const UnitInfo& u) const { return removed.count(u.id) > 0; }

  BlockRT build_block(const BlockInfo& b, std::shared_ptr<nn::Module> parent) {
    const UNetConfig& c = layout.config;
    BlockRT rt;
    rt.info = &b;
    auto resnets = container();
    for (int idx : b.resnets) {
      const UnitInfo& u = layout.units[idx];
      rt.resnets.push_back(resnets->register_module(
          std::to_string(u.layer),
          std::make_shared<ResnetBlockImpl>(u, c, is_removed(u),
                                            clme.count(u.id) ? &clme.at(u.id) : nullptr)));
    }
    if (!b.attentions.empty()) {
      auto attns = container();
      for (int idx : b.attentions) {
        const UnitInfo& u = layout.units[idx];
        if (is_removed(u)) {
          rt.attentions.push_back(nullptr);
        } else {
          rt.attentions.push_back(attns->register_module(
              std::to_string(u.layer),
              std::make_shared<Transformer2DImpl>(u, c, layout, removed,
                                                  gri.count(u.id) ? &gri.at(u.id) : nullptr)));
        }
      }
      parent->register_module("attentions", attns);
    }
    parent->register_module("resnets", resnets);
    if (b.sampler >= 0) {
      const UnitInfo& s = layout.units[b.sampler];
      auto samplers = container();
      if (s.kind == UnitKind::kDownsample) {
        rt.down = samplers->register_module(
            "0", std::make_shared<Downsample2DImpl>(s.out_channels, c.downsample_padding));
        parent->register_module("downsamplers", samplers);
      } else {
        rt.up = samplers->register_module("0", std::make_shared<Upsample2DImpl>(s.out_channels));
        parent->register_module("upsamplers", samplers);
      }
    }
    return rt;
  }

  explicit Impl(const ArchSpec& s)
      : spec(s),
        layout(s.student_layout()),
        removed(s.removed_units()),
        gri(s.gri_units()),
        clme(s.clme_units()) {
    const UNetConfig& c = layout.config;
    root = container();
    const int c0 = c.block_out_channels[0];
    u_conv_in = &layout.at(std::string(unit_id::kConvIn));
    u_time = &layout.at(std::string(unit_id::kTimeEmbedding));
    u_norm_out = &layout.at(std::string(unit_id::kConvNormOut));
    u_conv_out = &layout.at(std::string(unit_id::kConvOut));
    conv_in = root->register_module("conv_in", conv(c.in_channels, c0, c.conv_in_kernel));
    time_embedding = root->register_module(
        "time_embedding",
        std::make_shared<TimestepEmbeddingImpl>(c0, c.time_embed_dim(), c.time_cond_proj_dim));
    if (c.class_embed_type == "projection") {
      u_class = &layout.at(std::string(unit_id::kClassEmbedding));
      class_embedding = root->register_module(
          "class_embedding", std::make_shared<TimestepEmbeddingImpl>(
                                 c.projection_class_embeddings_input_dim, c.time_embed_dim(), 0));
    }
    if (c.addition_embed_type == "text_time") {
      u_add = &layout.at(std::string(unit_id::kAddEmbedding));
      add_embedding = root->register_module(
          "add_embedding", std::make_shared<TimestepEmbeddingImpl>(
                               c.projection_class_embeddings_input_dim, c.time_embed_dim(), 0));
    }
    auto downs = container();
    for (const auto& b : layout.down) {
      auto m = container();
      down.push_back(build_block(b, m));
      downs->register_module(std::to_string(b.index), m);
    }
    root->register_module("down_blocks", downs);
    if (layout.mid) {
      auto m = container();
      mid = build_block(*layout.mid, m);
      root->register_module("mid_block", m);
    }
    auto ups = container();
    for (const auto& b : layout.up) {
      auto m = container();
      up.push_back(build_block(b, m));
      ups->register_module(std::to_string(b.index), m);
    }
    root->register_module("up_blocks", ups);
    conv_norm_out =
        root->register_module("conv_norm_out", group_norm(c.norm_num_groups, c0, c.norm_eps));
    conv_out = root->register_module("conv_out", conv(c0, c.out_channels, c.conv_out_kernel));
  }

  // Runs a block's (resnet, attention) layers; `skip_in` supplies the up blocks' skip tensors.
  // Layers [first, end) of the block (end -1: to the last); `keep_before`: the hidden state
  // entering that layer goes to the cache plan (the skip-branch form inside a block).
  Tensor run_layers(const BlockRT& b, Tensor h, const Tensor& temb, const Tensor& ehs,
                    const Ctx& ctx, std::vector<Tensor>* skip_out, std::vector<Tensor>* skip_in,
                    size_t first = 0, int end = -1, int keep_before = -1) {
    const size_t last = end < 0 ? b.resnets.size() : std::min(b.resnets.size(), size_t(end));
    for (size_t j = first; j < last; ++j) {
      if (int(j) == keep_before) ctx.cache->keep_deep(h);
      if (skip_in) {
        ASDM_CHECK(!skip_in->empty(), "skip stack exhausted in {}", b.info->id);
        h = torch::cat({h, skip_in->back()}, 1);
        skip_in->pop_back();
      }
      const UnitInfo& ru = layout.units[b.info->resnets[j]];
      auto& rn = b.resnets[j];
      h = run_unit(
          ctx, ru, is_removed(ru), [&] { return resnet_call(rn, h, temb, ctx); },
          [&] { return rn->shortcut(h); });
      if (j < b.attentions.size()) {
        const UnitInfo& au = layout.units[b.info->attentions[j]];
        auto& at = b.attentions[j];
        h = run_unit(
            ctx, au, at == nullptr, [&] { return attention_call(at, h, ehs, ctx); },
            [&] { return h; });
      }
      if (skip_out) skip_out->push_back(h);
    }
    return h;
  }

  Tensor forward(const Tensor& sample_in, const Tensor& timestep, const Tensor& ehs_in,
                 const AddedConditions& added, UnitObserver* obs) {
    const UNetConfig& c = layout.config;
    const auto dtype = conv_in->weight.scalar_type();
    if (sample_in.dim() != 4 || sample_in.size(1) != c.in_channels)
      fail("sample must have shape [B, {}, H, W], got [{}]", c.in_channels,
           fmt::join(sample_in.sizes(), ", "));
    if (ehs_in.dim() != 3 || ehs_in.size(2) != c.cross_attention_dim[0])
      fail("encoder_hidden_states must have shape [B, T, {}], got [{}]", c.cross_attention_dim[0],
           fmt::join(ehs_in.sizes(), ", "));
    const int64_t B = sample_in.size(0);
    if (ehs_in.size(0) != B)
      fail("encoder_hidden_states has batch {} but sample has batch {}", ehs_in.size(0), B);
    Ctx ctx{obs, obs && obs->wants_tensors(), obs && obs->wants_attention_maps(),
            recompute_enabled() && torch::GradMode::is_enabled(), active_branch_cache()};
    if (ctx.cache) ctx.cache->begin_forward();
    // Channels-last weights (UNet::set_channels_last): the activations follow from the input.
    const bool nhwc = channels_last();
    Tensor x =
        nhwc ? sample_in.to(dtype).contiguous(at::MemoryFormat::ChannelsLast) : sample_in.to(dtype);
    const Tensor ehs = ehs_in.to(dtype);
    if (c.center_input_sample) x = 2 * x - 1.0;

    Tensor t = timestep.dim() == 0 ? timestep.reshape({1}) : timestep;
    if (t.dim() != 1 || (t.size(0) != 1 && t.size(0) != B))
      fail("timestep must be a scalar or have shape [1] or [{}], got [{}]", B,
           fmt::join(t.sizes(), ", "));
    t = t.to(sample_in.device()).expand({B});

    Tensor temb = run_unit(
        ctx, *u_time, false,
        [&] {
          Tensor tp =
              timestep_proj(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift).to(dtype);
          ctx.emit(std::string(unit_id::kTimeProj), tp);
          Tensor cond;
          if (added.timestep_cond) cond = added.timestep_cond->to(dtype);
          return time_embedding->forward(tp, added.timestep_cond ? &cond : nullptr);
        },
        [] { return Tensor(); });
    if (class_embedding) {
      if (!added.class_labels)
        fail("this UNet has class_embed_type \"projection\" and needs the input 'class_labels'");
      if (added.class_labels->dim() != 2 ||
          added.class_labels->size(1) != c.projection_class_embeddings_input_dim)
        fail("class_labels must be [batch, {}], got [{}]", c.projection_class_embeddings_input_dim,
             fmt::join(added.class_labels->sizes(), ", "));
      Tensor ce = run_unit(
          ctx, *u_class, false,
          [&] {
            return class_embedding->forward(added.class_labels->to(sample_in.device()).to(dtype),
                                            nullptr);
          },
          [] { return Tensor(); });
      temb = temb + ce;
    }
    if (add_embedding) {
      if (!added.text_embeds || !added.time_ids)
        fail(
            "this UNet has addition_embed_type \"text_time\" and needs the inputs 'text_embeds' "
            "and 'time_ids'");
      Tensor aug = run_unit(
          ctx, *u_add, false,
          [&] {
            Tensor te = timestep_proj(added.time_ids->flatten(), c.addition_time_embed_dim,
                                      c.flip_sin_to_cos, c.freq_shift);
            te = te.reshape({added.text_embeds->size(0), -1});
            Tensor in = torch::cat({added.text_embeds->to(te.scalar_type()), te}, -1).to(dtype);
            if (in.size(1) != c.projection_class_embeddings_input_dim)
              fail(
                  "text_embeds and time_ids give {} features; the config's "
                  "projection_class_embeddings_input_dim is {}",
                  in.size(1), c.projection_class_embeddings_input_dim);
            return add_embedding->forward(in, nullptr);
          },
          [] { return Tensor(); });
      temb = temb + aug;
    }

    Tensor h = run_unit(
        ctx, *u_conv_in, false, [&] { return conv_in->forward(x); }, [] { return Tensor(); });
    std::vector<Tensor> skips{h};
    // A cache plan's skip-branch form: at this call nothing at level >= skip_level runs; the
    // hidden state entering the first up block below it is the one kept at deep_level.
    // With the plan's skip_layers k >= 0 the branch is inside the blocks at level skip_level - 1:
    // the down block runs its first k layers, the up block its last k + 1 (those whose skip
    // connections were computed), and the hidden state entering that first up layer is the one
    // kept.
    const int skip_level = ctx.cache ? ctx.cache->skip_level_now() : 0;
    const int deep_level = ctx.cache ? ctx.cache->deep_level() : 0;
    const int skip_layers = ctx.cache ? ctx.cache->skip_layers() : -1;
    for (auto& b : down) {
      if (skip_level > 0 && b.info->level >= skip_level) break;
      std::vector<Tensor> res;
      const bool partial = skip_level > 0 && skip_layers >= 0 && b.info->level == skip_level - 1;
      h = run_layers(b, h, temb, ehs, ctx, &res, nullptr, 0, partial ? skip_layers : -1);
      // A downsampler into the skipped levels feeds only them.
      if (b.down && !(skip_level > 0 && b.info->level + 1 >= skip_level)) {
        const UnitInfo& du = layout.units[b.info->sampler];
        h = run_unit(
            ctx, du, false, [&] { return b.down->forward(h); }, [] { return Tensor(); });
        res.push_back(h);
      }
      if (ctx.tensors) {
        ctx.emit(b.info->id, h);
        for (size_t j = 0; j < res.size(); ++j)
          ctx.emit(unit_id::skip(b.info->index, static_cast<int>(j)), res[j]);
      }
      skips.insert(skips.end(), res.begin(), res.end());
    }
    if (mid && skip_level == 0) {
      // Mid block: resnet, then (attention, resnet) pairs.
      const BlockRT& m = *mid;
      const UnitInfo& r0 = layout.units[m.info->resnets[0]];
      h = run_unit(
          ctx, r0, is_removed(r0), [&] { return resnet_call(m.resnets[0], h, temb, ctx); },
          [&] { return m.resnets[0]->shortcut(h); });
      for (size_t j = 1; j < m.resnets.size(); ++j) {
        if (j - 1 < m.attentions.size()) {
          const UnitInfo& au = layout.units[m.info->attentions[j - 1]];
          auto& at = m.attentions[j - 1];
          h = run_unit(
              ctx, au, at == nullptr, [&] { return attention_call(at, h, ehs, ctx); },
              [&] { return h; });
        }
        const UnitInfo& ru = layout.units[m.info->resnets[j]];
        h = run_unit(
            ctx, ru, is_removed(ru), [&] { return resnet_call(m.resnets[j], h, temb, ctx); },
            [&] { return m.resnets[j]->shortcut(h); });
      }
      ctx.emit(m.info->id, h);
    }
    bool entered = skip_level == 0;
    for (auto& b : up) {
      // The first layer this block runs on skip calls (skip_layers >= 0, at level deep_level - 1).
      const bool inner = deep_level > 0 && skip_layers >= 0 && b.info->level == deep_level - 1;
      const int inner_first = inner ? int(b.resnets.size()) - 1 - skip_layers : -1;
      size_t first = 0;
      if (!entered) {
        if (b.info->level >= skip_level) continue;
        h = ctx.cache->deep();
        entered = true;
        if (inner) first = size_t(inner_first);
      }
      h = run_layers(b, h, temb, ehs, ctx, nullptr, &skips, first, -1,
                     skip_level == 0 && inner ? inner_first : -1);
      if (b.up) {
        ASDM_CHECK(!skips.empty(), "no skip tensor left for {}", b.info->id);
        // Upsample to the next skip tensor's size: 2x, or the odd size the down path produced.
        const auto size = skips.back().sizes().slice(2);
        const UnitInfo& uu = layout.units[b.info->sampler];
        h = run_unit(
            ctx, uu, false, [&] { return b.up->forward(h, size); }, [] { return Tensor(); });
      }
      if (deep_level > 0 && skip_level == 0 && skip_layers < 0 && b.info->level == deep_level)
        ctx.cache->keep_deep(h);
      ctx.emit(b.info->id, h);
    }
    h = run_unit(
        ctx, *u_norm_out, false, [&] { return gn(conv_norm_out, h); }, [] { return Tensor(); });
    h = run_unit(
        ctx, *u_conv_out, false, [&] { return conv_out->forward(torch::silu(h)); },
        [] { return Tensor(); });
    return nhwc ? h.contiguous() : h;
  }

  bool channels_last() const {
    const Tensor& w = conv_in->weight;
    return !w.is_contiguous() && w.is_contiguous(at::MemoryFormat::ChannelsLast);
  }
};

UNet::UNet(const ArchSpec& spec) : impl_(std::make_unique<Impl>(spec)) {}
UNet::~UNet() = default;
const ArchSpec& UNet::spec() const { return impl_->spec; }
const UNetLayout& UNet::layout() const { return impl_->layout; }
const std::set<std::string>& UNet::removed_units() const { return impl_->removed; }
torch::nn::Module& UNet::module() { return *impl_->root; }
const torch::nn::Module& UNet::module() const { return *impl_->root; }

at::Tensor UNet::forward(const at::Tensor& sample, const at::Tensor& timestep,
                         const at::Tensor& encoder_hidden_states, const AddedConditions& added,
                         UnitObserver* observer) const {
  return impl_->forward(sample, timestep, encoder_hidden_states, added, observer);
}

int64_t UNet::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->root->parameters()) n += p.numel();
  return n;
}

void UNet::to(const std::string& device, const std::string& dtype) {
  move_module(*impl_->root, device, dtype);
}

void UNet::set_channels_last(bool on) {
  torch::NoGradGuard no_grad;
  const auto format = on ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (auto& p : impl_->root->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(format));
}

bool UNet::channels_last() const { return impl_->channels_last(); }

std::string UNet::device() const { return impl_->conv_in->weight.device().str(); }
std::string UNet::dtype() const {
  switch (impl_->conv_in->weight.scalar_type()) {
    case torch::kFloat16:
      return std::string(to_string(DType::kFloat16));
    case torch::kBFloat16:
      return std::string(to_string(DType::kBFloat16));
    default:
      return std::string(to_string(DType::kFloat32));
  }
}

}  // namespace asdm
