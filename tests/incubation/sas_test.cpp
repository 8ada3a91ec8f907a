// SAS: the capture sees block outputs and cross-attention maps without changing the output, and
// each loss term measures what it says.
#include "incubation/sas.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/model_files.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Sas, CaptureSeesBlockOutputsAndAttentionMapsWithoutChangingTheOutput) {
  torch::manual_seed(0);
  UNet u(load_arch(locate_model(test::config_path("tiny"))));
  torch::NoGradGuard ng;
  const at::Tensor x = torch::randn({2, 4, 16, 16}), t = torch::tensor({5, 600}),
                   h = torch::randn({2, 7, 32});
  const at::Tensor plain = u.forward(x, t, h);
  SasCapture cap({"down_blocks.1", "mid_block", "up_blocks.3"},
                 {"down_blocks.0.attentions.1", "up_blocks.1.attentions.2"}, true);
  const at::Tensor seen = u.forward(x, t, h, {}, &cap);
  EXPECT_LE((seen - plain).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(cap.features.size(), 3u);
  EXPECT_EQ(cap.features.at("up_blocks.3").sizes(),
            (std::vector<int64_t>{2, 16, 16, 16}));  // the last block: 16 channels
  ASSERT_EQ(cap.maps.size(), 2u);
  const at::Tensor m =
      cap.maps.at("down_blocks.0.attentions.1").at(0);  // [B, heads, 16*16 tokens, 7 text tokens]
  EXPECT_EQ(m.size(0), 2);
  EXPECT_EQ(m.size(2), 256);
  EXPECT_EQ(m.size(3), 7);
  EXPECT_LE((m.sum(-1) - 1).abs().max().item<double>(), 1e-5);
}

TEST(Sas, EachTermMeasuresItsOwnDifference) {
  SasCapture s({"a", "b"}, {"u"}, true), t({"a", "b"}, {"u"}, true);
  torch::manual_seed(1);
  const at::Tensor fa = torch::randn({2, 3, 4, 4}), fb = torch::randn({2, 5, 2, 2});
  t.on_tensor("a", fa);
  t.on_tensor("b", fb);
  s.on_tensor("a", 2 * fa);  // relative error 1
  s.on_tensor("b", fb);      // none
  const at::Tensor p = torch::softmax(torch::randn({2, 1, 16, 5}), -1);
  t.on_tensor("u.transformer_blocks.0.attn2.probs", p);
  s.on_tensor("u.transformer_blocks.0.attn2.probs", p);
  s.on_tensor("elsewhere.transformer_blocks.0.attn2.probs", p);  // not a hook: ignored
  EXPECT_EQ(s.maps.size(), 1u);
  const at::Tensor out = torch::randn({2, 4, 8, 8}), target = torch::randn({2, 4, 8, 8});
  const std::map<std::string, std::string> fm = {{"a", "a"}, {"b", "b"}}, sm = {{"u", "u"}};
  const SasLosses l = sas_losses(out, out, target, s, t, {1, 1, 1, 1}, fm, sm);
  EXPECT_NEAR(l.terms.at("task"), torch::mse_loss(out, target).item<double>(), 1e-7);
  EXPECT_EQ(l.terms.at("output"), 0.0);
  EXPECT_NEAR(l.terms.at("feature"), 1.0, 1e-6);
  EXPECT_EQ(l.terms.at("semantic"), 0.0);
  const SasLosses w = sas_losses(out, out, target, s, t, {0.5, 1, 3, 1}, fm, sm);
  EXPECT_NEAR(w.terms.at("total"), 0.5 * l.terms.at("task") + 3.0, 1e-6);
  // Maps that differ: the squared difference summed over text tokens, averaged over queries.
  SasCapture s2({}, {"u"}, true);
  const at::Tensor q = torch::softmax(torch::randn({2, 1, 16, 5}), -1);
  s2.on_tensor("u.transformer_blocks.0.attn2.probs", q);
  const SasLosses m = sas_losses(out, out, target, s2, t, {1, 1, 1, 1}, {}, sm);
  EXPECT_NEAR(m.terms.at("semantic"), (q - p).pow(2).sum(-1).mean().item<double>(), 1e-7);
}

}  // namespace
}  // namespace asdm
