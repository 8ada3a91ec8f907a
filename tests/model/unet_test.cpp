#include "model/unet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/safetensors.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

UNetConfig tiny(int transformer_layers = 1) {
  auto j = read_json_file(test::config_path("tiny"));
  j["transformer_layers_per_block"] = transformer_layers;
  return parse_unet_config(j);
}

struct Inputs {
  torch::Tensor sample, t, ehs;
};
Inputs inputs(int64_t B = 2) {
  torch::manual_seed(7);
  return {torch::randn({B, 4, 16, 16}), torch::tensor({10, 500}, torch::kInt64).slice(0, 0, B),
          torch::randn({B, 7, 32})};
}

// Copies every parameter of `dst` from the same key in `src`.
void copy_weights(const UNet& src, UNet& dst) {
  torch::NoGradGuard ng;
  auto sp = src.module().named_parameters(true);
  for (auto& p : dst.module().named_parameters(true)) p.value().copy_(sp[p.key()]);
}

torch::Tensor run(const UNet& u, const Inputs& in, UnitObserver* obs = nullptr) {
  torch::NoGradGuard ng;
  return u.forward(in.sample, in.t, in.ehs, {}, obs);
}

TEST(UNet, StateDictKeysAndShapesMatchDiffusers) {
  UNet u(arch_from_config(load_unet_config(test::fixture_dir() / "config.json")));
  SafetensorsFile f(test::fixture_dir() / "diffusion_pytorch_model.safetensors");
  auto params = u.module().named_parameters(true);
  EXPECT_EQ(params.size(), f.header().tensors.size());
  for (const auto& e : f.header().tensors) {
    ASSERT_TRUE(params.contains(e.name)) << e.name;
    EXPECT_EQ(params[e.name].sizes().vec(), e.shape) << e.name;
  }
  EXPECT_EQ(u.num_parameters(), 827476);
}

// Zeroes a unit's last layer so that its branch outputs 0, then checks that removing the unit
// changes nothing: removal keeps exactly the shortcut.
void expect_zero_branch_removal_is_identity(const UNetConfig& cfg, const std::string& unit,
                                            const std::vector<std::string>& zero) {
  torch::manual_seed(1);
  UNet teacher(arch_from_config(cfg));
  {
    torch::NoGradGuard ng;
    auto params = teacher.module().named_parameters(true);
    for (const auto& suffix : zero) params[unit + "." + suffix].zero_();
  }
  ArchSpec spec = arch_from_config(cfg);
  spec.edits = {Edit::remove(unit)};
  UNet student(spec);
  copy_weights(teacher, student);
  EXPECT_LT(student.num_parameters(), teacher.num_parameters());
  const Inputs in = inputs();
  const auto a = run(teacher, in), b = run(student, in);
  EXPECT_TRUE(torch::equal(a, b)) << unit << ": max diff " << (a - b).abs().max().item<float>();
}

TEST(UNet, RemovingAZeroBranchResBlockChangesNothing) {
  expect_zero_branch_removal_is_identity(tiny(), "down_blocks.1.resnets.1",
                                         {"conv2.weight", "conv2.bias"});
  // A ResBlock with a 1x1 conv_shortcut keeps the shortcut conv.
  expect_zero_branch_removal_is_identity(tiny(), "up_blocks.2.resnets.0",
                                         {"conv2.weight", "conv2.bias"});
}

TEST(UNet, RemovingAZeroBranchAttentionChangesNothing) {
  expect_zero_branch_removal_is_identity(tiny(), "down_blocks.0.attentions.1",
                                         {"proj_out.weight", "proj_out.bias"});
  expect_zero_branch_removal_is_identity(tiny(), "mid_block.attentions.0",
                                         {"proj_out.weight", "proj_out.bias"});
}

TEST(UNet, RemovingAZeroBranchTransformerBlockChangesNothing) {
  expect_zero_branch_removal_is_identity(
      tiny(2), "up_blocks.3.attentions.0.transformer_blocks.1",
      {"attn1.to_out.0.weight", "attn1.to_out.0.bias", "attn2.to_out.0.weight",
       "attn2.to_out.0.bias", "ff.net.2.weight", "ff.net.2.bias"});
}

class RecordingObserver : public UnitObserver {
 public:
  std::vector<std::string> stack, entered;
  std::set<std::string> bypassed;
  int exits = 0;
  bool balanced = true;
  void on_enter(const UnitInfo& u) override {
    stack.push_back(u.id);
    entered.push_back(u.id);
  }
  bool bypass(const UnitInfo& u) override { return bypassed.count(u.id) > 0; }
  void on_exit(const UnitInfo& u, const at::Tensor&) override {
    balanced = balanced && !stack.empty() && stack.back() == u.id;
    if (!stack.empty()) stack.pop_back();
    ++exits;
  }
};

TEST(UNet, ObserverSeesEveryUnitOnceInForwardOrder) {
  UNet u(arch_from_config(tiny(2)));
  RecordingObserver obs;
  run(u, inputs(), &obs);
  EXPECT_TRUE(obs.balanced);
  EXPECT_TRUE(obs.stack.empty());
  std::vector<std::string> ids;
  for (const auto& unit : u.layout().units) ids.push_back(unit.id);
  EXPECT_EQ(obs.entered, ids);
  EXPECT_EQ(obs.exits, static_cast<int>(ids.size()));
}

TEST(UNet, ObserverBypassEqualsRemoval) {
  torch::manual_seed(3);
  const UNetConfig cfg = tiny(2);
  UNet teacher(arch_from_config(cfg));
  const std::vector<std::string> units = {"down_blocks.2.resnets.0", "up_blocks.1.attentions.1",
                                          "down_blocks.0.attentions.0.transformer_blocks.0"};
  RecordingObserver obs;
  obs.bypassed = {units.begin(), units.end()};
  ArchSpec spec = arch_from_config(cfg);
  for (const auto& id : units) spec.edits.push_back(Edit::remove(id));
  UNet student(spec);
  copy_weights(teacher, student);
  const Inputs in = inputs();
  const auto bypassed = run(teacher, in, &obs);
  EXPECT_TRUE(torch::equal(bypassed, run(student, in)));
  EXPECT_FALSE(torch::allclose(bypassed, run(teacher, in)));
}

TEST(UNet, EveryRemovableUnitRemovedStillRuns) {
  const UNetConfig cfg = tiny(2);
  ArchSpec spec = arch_from_config(cfg);
  for (const auto& id : make_layout(cfg).ids(/*removable_only=*/true))
    spec.edits.push_back(Edit::remove(id));
  UNet u(spec);
  const auto out = run(u, inputs());
  EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{2, 4, 16, 16}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  for (const auto& p : u.module().named_parameters(true)) {
    const std::string& k = p.key();
    const bool ok = k.find("conv_shortcut") != std::string::npos ||
                    k.find("samplers") != std::string::npos || k.rfind("conv_", 0) == 0 ||
                    k.rfind("time_embedding", 0) == 0;
    EXPECT_TRUE(ok) << k;
  }
}

// Counts the 4-D unit outputs of a forward, and those in channels-last memory.
struct LayoutObserver : UnitObserver {
  int maps = 0, nhwc = 0;
  void on_exit(const UnitInfo&, const at::Tensor& t) override {
    if (!t.defined() || t.dim() != 4 || t.size(1) == 1) return;
    ++maps;
    nhwc += !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
  }
};

// Channels-last (issue 21's fast path): the same forward within float rounding for the teacher and
// for removal, CLME and GRI students, with NHWC weights and activations (every unit's output) and
// the output in the usual layout.
TEST(UNet, ChannelsLastGivesTheSameForward) {
  const UNetConfig cfg = tiny(2);
  const ArchSpec teacher = arch_from_config(cfg);
  ArchSpec removal = teacher;
  for (const char* u : {"down_blocks.1.resnets.1", "mid_block.attentions.0",
                        "up_blocks.1.attentions.0.transformer_blocks.1"})
    removal.edits.push_back(Edit::remove(u));
  ArchSpec clme = removal;
  clme.edits.push_back(Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}));
  ArchSpec gri = teacher;
  gri.edits.push_back(Edit::gri("down_blocks.0.attentions.0", 4, 2));
  const Inputs in = inputs();
  for (const auto& [name, spec] : {std::pair<const char*, const ArchSpec*>{"teacher", &teacher},
                                   {"removal", &removal},
                                   {"clme", &clme},
                                   {"gri", &gri}}) {
    torch::manual_seed(11);
    UNet u(*spec);
    {
      torch::NoGradGuard ng;  // routers start at zero; random ones make the experts mix
      for (auto& p : u.module().named_parameters(true))
        if (p.key().find("router") != std::string::npos) p.value().normal_(0, 0.5);
    }
    const torch::Tensor plain = run(u, in);
    EXPECT_FALSE(u.channels_last()) << name;
    u.set_channels_last(true);
    EXPECT_TRUE(u.channels_last()) << name;
    const auto w = u.module().named_parameters(true)["conv_in.weight"];
    EXPECT_TRUE(w.is_contiguous(at::MemoryFormat::ChannelsLast) && !w.is_contiguous()) << name;
    LayoutObserver layout;
    const torch::Tensor nhwc = run(u, in, &layout);
    EXPECT_TRUE(nhwc.is_contiguous()) << name;
    EXPECT_GT(layout.maps, 10) << name;
    EXPECT_EQ(layout.nhwc, layout.maps) << name;
    const double scale = plain.abs().max().item<double>();
    EXPECT_LE((nhwc - plain).abs().max().item<double>(), 1e-5 * scale) << name;
    u.set_channels_last(false);
    EXPECT_FALSE(u.channels_last()) << name;
    EXPECT_TRUE(torch::equal(run(u, in), plain)) << name;
  }
}

TEST(UNet, OddLatentSizesFollowTheSkipShapes) {
  UNet u(arch_from_config(tiny()));
  torch::NoGradGuard ng;
  const auto out =
      u.forward(torch::randn({1, 4, 13, 10}), torch::tensor(3), torch::randn({1, 5, 32}));
  EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{1, 4, 13, 10}));
}

TEST(UNet, BadInputShapesAreUserErrors) {
  UNet u(arch_from_config(tiny()));
  torch::NoGradGuard ng;
  EXPECT_EQ(test::error_of([&] {
              u.forward(torch::randn({1, 3, 16, 16}), torch::tensor(3), torch::randn({1, 5, 32}));
            }),
            "sample must have shape [B, 4, H, W], got [1, 3, 16, 16]");
  EXPECT_EQ(test::error_of([&] {
              u.forward(torch::randn({1, 4, 16, 16}), torch::tensor(3), torch::randn({1, 5, 16}));
            }),
            "encoder_hidden_states must have shape [B, T, 32], got [1, 5, 16]");
  EXPECT_EQ(
      test::error_of([&] {
        u.forward(torch::randn({2, 4, 16, 16}), torch::tensor({1, 2, 3}), torch::randn({2, 5, 32}));
      }),
      "timestep must be a scalar or have shape [1] or [2], got [3]");
}

}  // namespace
}  // namespace asdm
