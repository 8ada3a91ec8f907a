// PrefixReplay: a bypassed forward that replays the recorded teacher's units before the first
// bypassed one equals the plain bypassed forward, bit for bit, for every removable unit (nested
// transformer blocks included) and for a group; the replay covers what comes before, and nothing
// is replayed for a unit the recording never saw.
#include "model/prefix_replay.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

class Bypass : public UnitObserver {
 public:
  explicit Bypass(std::vector<std::string> units) : units_(std::move(units)) {}
  bool bypass(const UnitInfo& u) override {
    return std::find(units_.begin(), units_.end(), u.id) != units_.end();
  }

 private:
  std::vector<std::string> units_;
};

TEST(PrefixReplay, EqualsTheBypassedForwardForEveryRemovableUnit) {
  torch::manual_seed(3);
  auto j = read_json_file(test::config_path("tiny"));
  j["transformer_layers_per_block"] = 2;  // transformer blocks are units nested in attentions
  UNet unet(arch_from_config(parse_unet_config(j)));
  torch::NoGradGuard ng;
  for (auto& p : unet.module().parameters()) p.normal_(0, 0.2);
  const torch::Tensor x = torch::randn({2, 4, 16, 16}), t = torch::tensor({10, 500}),
                      ehs = torch::randn({2, 7, 32});
  PrefixReplay replay;
  replay.record();
  const torch::Tensor teacher = unet.forward(x, t, ehs, {}, &replay);
  std::vector<std::vector<std::string>> cases;
  for (const UnitInfo& u : unet.layout().units)
    if (u.removable()) cases.push_back({u.id});
  ASSERT_GT(cases.size(), 10u);
  cases.push_back({"up_blocks.2.resnets.1", "down_blocks.1.attentions.0"});
  int nested = 0;
  for (const auto& units : cases) {
    Bypass bypass(units);
    const torch::Tensor plain = unet.forward(x, t, ehs, {}, &bypass);
    ObserverChain chain;
    chain.add(&replay);
    chain.add(&bypass);
    replay.replay_before(units);
    const torch::Tensor replayed = unet.forward(x, t, ehs, {}, &chain);
    EXPECT_TRUE(torch::equal(plain, replayed)) << units[0];
    EXPECT_FALSE(torch::equal(plain, teacher)) << units[0] << ": the bypass changed nothing";
    // Everything up to conv_in and the time embedding at least, for every unit.
    EXPECT_GE(replay.replayed(), 2) << units[0];
    nested += units[0].find("transformer_blocks") != std::string::npos;
  }
  EXPECT_GT(nested, 0);
  // A late unit replays more than an early one; the group's first unit decides.
  replay.replay_before({"up_blocks.3.resnets.2"});
  unet.forward(x, t, ehs, {}, &replay);
  const int late = replay.replayed();
  replay.replay_before({"down_blocks.0.resnets.0"});
  unet.forward(x, t, ehs, {}, &replay);
  EXPECT_GT(late, replay.replayed());
  // A unit the recording never saw: nothing replayed, and the forward is the plain one.
  replay.replay_before({"no_such_unit"});
  EXPECT_TRUE(torch::equal(unet.forward(x, t, ehs, {}, &replay), teacher));
  EXPECT_EQ(replay.replayed(), 0);
}

}  // namespace
}  // namespace asdm
