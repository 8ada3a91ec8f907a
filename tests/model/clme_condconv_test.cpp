// CLME-CondConv: the grouped per-sample convolution equals a per-sample loop; a freshly built CLME
// student computes exactly what the removal-only student computes; experts are inherited from the
// removed siblings and the router is new; the edit is validated and round-trips.
#include "model/clme_condconv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "model/arch_spec.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "tests/tensor_match.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(ClmeCondConv, ZeroLogitsGiveExactlyTheSurvivingKernel) {
  const at::Tensor c = clme_coefficients(torch::zeros({2, 3}));
  EXPECT_TRUE(torch::equal(c, torch::tensor({1.f, 0.f, 0.f}).repeat({2, 1})));
}

TEST(ClmeCondConv, GroupedConvolutionEqualsAPerSampleLoop) {
  torch::manual_seed(0);
  const auto f64 = torch::kFloat64;
  const at::Tensor x = torch::randn({3, 4, 6, 5}, f64), route = torch::randn({3, 7}, f64);
  const std::vector<at::Tensor> k = {torch::randn({5, 4, 3, 3}, f64),
                                     torch::randn({5, 4, 3, 3}, f64)};
  const std::vector<at::Tensor> b = {torch::randn({5}, f64), torch::randn({5}, f64)};
  const at::Tensor rw = torch::randn({2, 4 + 7}, f64), rb = torch::randn({2}, f64);
  const at::Tensor y = clme_conv(x, route, rw, rb, k, b);
  for (int64_t i = 0; i < 3; ++i) {
    const at::Tensor z = torch::cat({x[i].mean({1, 2}), route[i]});
    const at::Tensor a = torch::sigmoid(rw.matmul(z) + rb);
    const double c0 = 2 * a[0].item<double>(), c1 = 2 * a[1].item<double>() - 1;
    const at::Tensor ref =
        at::conv2d(x[i].unsqueeze(0), c0 * k[0] + c1 * k[1], c0 * b[0] + c1 * b[1], 1, 1);
    EXPECT_LE((y[i] - ref[0]).abs().max().item<double>(), 1e-10) << "sample " << i;
  }
  // Tiny float32 maps take the im2col + batched GEMM path.
  const at::Tensor xs = torch::randn({3, 4, 4, 4}), rs = torch::randn({3, 7});
  std::vector<at::Tensor> k32, b32;
  for (const auto& t : k) k32.push_back(t.to(torch::kFloat32));
  for (const auto& t : b) b32.push_back(t.to(torch::kFloat32));
  const at::Tensor ys = clme_conv(xs, rs, rw.to(torch::kFloat32), rb.to(torch::kFloat32), k32, b32);
  const at::Tensor yg =
      clme_conv(xs.to(f64), rs.to(f64), rw, rb, k, b);  // grouped convolution in float64
  EXPECT_LE((ys.to(f64) - yg).abs().max().item<double>(), 1e-4);
  // With a zero router: the surviving convolution alone.
  const at::Tensor y0 = clme_conv(x, route, torch::zeros_like(rw), torch::zeros_like(rb), k, b);
  EXPECT_LE((y0 - at::conv2d(x, k[0], b[0], 1, 1)).abs().max().item<double>(), 1e-12);
}

ArchSpec tiny() { return arch_from_config(load_unet_config(test::config_path("tiny"))); }

// A removal-only student and its CLME twin, both inheriting from one random teacher checkpoint.
struct Students {
  fs::path teacher_dir;
  ArchSpec removal, clme;
};

Students make_students(const std::string& name) {
  torch::manual_seed(3);
  UNet teacher(tiny());
  Students s;
  s.teacher_dir = test::scratch_dir(name);
  save_unet(teacher, s.teacher_dir);
  s.removal = tiny();
  for (const char* u : {"down_blocks.1.resnets.1", "down_blocks.2.resnets.1",
                        "up_blocks.1.resnets.0", "up_blocks.1.resnets.2"})
    s.removal.edits.push_back(Edit::remove(u));
  s.clme = s.removal;
  s.clme.edits.push_back(Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}));
  s.clme.edits.push_back(Edit::clme("down_blocks.2.resnets.0", {"down_blocks.2.resnets.1"}));
  s.clme.edits.push_back(
      Edit::clme("up_blocks.1.resnets.1", {"up_blocks.1.resnets.0", "up_blocks.1.resnets.2"}));
  return s;
}

TEST(ClmeCondConv, FreshStudentEqualsTheRemovalOnlyStudent) {
  const Students s = make_students("clme_teacher");
  // Expert lists follow kernel shapes: down_blocks.1.resnets.0 widens 16 -> 32, so its conv1 has
  // no same-shaped sibling kernel; up_blocks.1's resnets take different skip widths.
  const auto clme = s.clme.clme_units();
  EXPECT_TRUE(clme.at("down_blocks.1.resnets.0").conv1.empty());
  EXPECT_EQ(clme.at("down_blocks.1.resnets.0").conv2,
            std::vector<std::string>{"down_blocks.1.resnets.1"});
  EXPECT_EQ(clme.at("down_blocks.2.resnets.0").conv1,
            std::vector<std::string>{"down_blocks.2.resnets.1"});
  EXPECT_EQ(clme.at("up_blocks.1.resnets.1").conv2.size(), 2u);

  UNet removal(s.removal), student(s.clme);
  const std::vector<fs::path> files = {s.teacher_dir / kWeightsFileName};
  inherit_weights(removal, files);
  inherit_weights(student, files);
  EXPECT_GT(student.num_parameters(), removal.num_parameters());

  torch::manual_seed(4);
  const at::Tensor x = torch::randn({2, 4, 16, 16}), t = torch::tensor({10, 700}),
                   h = torch::randn({2, 5, 32});
  {
    torch::NoGradGuard ng;
    const at::Tensor ref = removal.forward(x, t, h);
    EXPECT_LE((student.forward(x, t, h) - ref).abs().max().item<double>(), 1e-5);
  }

  // The experts are the removed siblings' kernels; the routers are new and start at zero.
  const auto sp = student.module().named_parameters(true);
  const TensorMap teacher = read_tensors(files[0]);
  EXPECT_TRUE(torch::equal(sp["down_blocks.2.resnets.0.conv1.experts.0.weight"],
                           teacher.at("down_blocks.2.resnets.1.conv1.weight")));
  EXPECT_TRUE(torch::equal(sp["up_blocks.1.resnets.1.conv2.experts.1.bias"],
                           teacher.at("up_blocks.1.resnets.2.conv2.bias")));
  EXPECT_EQ(sp["down_blocks.2.resnets.0.conv1.router.weight"].abs().max().item<double>(), 0.0);
  EXPECT_EQ(s.clme.teacher_key("up_blocks.1.resnets.1.conv2.experts.0.weight"),
            "up_blocks.1.resnets.0.conv2.weight");
  EXPECT_EQ(s.clme.teacher_key("up_blocks.1.resnets.1.conv2.router.bias"), "");
  int fresh = 0;
  for (const auto& row : inheritance_table(student)) fresh += row.teacher_key.empty();
  EXPECT_EQ(fresh, 2 * 5);  // weight and bias of 5 routers (down_blocks.1 has one, on conv2 only)

  // Training can open the experts: the loss reaches the routers (and through them the experts).
  const at::Tensor loss = student.forward(x, t, h).pow(2).mean();
  loss.backward();
  EXPECT_GT(sp["down_blocks.2.resnets.0.conv1.router.weight"].grad().abs().max().item<double>(),
            0.0);
  {
    torch::NoGradGuard ng;
    sp["down_blocks.2.resnets.0.conv1.router.bias"].fill_(0.5);
    EXPECT_GT((student.forward(x, t, h) - removal.forward(x, t, h)).abs().max().item<double>(),
              1e-4);
  }
}

TEST(ClmeCondConv, SavedStudentsLoadBack) {
  const Students s = make_students("clme_teacher2");
  UNet student(s.clme);
  inherit_weights(student, std::vector<fs::path>{s.teacher_dir / kWeightsFileName});
  {
    torch::NoGradGuard ng;
    for (auto& p : student.module().named_parameters(true))
      if (p.key().find(".router.") != std::string::npos) p.value().normal_(0, 0.1);
  }
  const fs::path dir = test::scratch_dir("clme_student");
  save_unet(student, dir);
  const auto loaded = load_unet(dir);
  EXPECT_EQ(loaded->spec().edits, s.clme.edits);
  torch::NoGradGuard ng;
  const at::Tensor x = torch::randn({1, 4, 16, 16}), t = torch::tensor({500}),
                   h = torch::randn({1, 5, 32});
  EXPECT_TRUE(test::same_to_rounding(loaded->forward(x, t, h), student.forward(x, t, h)));
}

TEST(ClmeCondConv, EditsAreValidatedAndRoundTrip) {
  ArchSpec s = make_students("clme_teacher3").clme;
  EXPECT_FALSE(s.diffusers_expressible());
  EXPECT_EQ(arch_spec_from_json(to_json(s)).edits, s.edits);

  auto error_with = [&](Edit e) {
    ArchSpec bad = tiny();
    bad.edits = {Edit::remove("down_blocks.2.resnets.1"), Edit::remove("up_blocks.1.resnets.0"),
                 std::move(e)};
    return test::error_of([&] { bad.clme_units(); });
  };
  EXPECT_EQ(error_with(Edit::clme("down_blocks.2.resnets.0", {"down_blocks.2.resnets.0"})),
            "edit clme: expert 'down_blocks.2.resnets.0' of 'down_blocks.2.resnets.0' is not a "
            "sibling resblock (same block)");
  EXPECT_EQ(error_with(Edit::clme("down_blocks.2.resnets.0", {"up_blocks.1.resnets.0"})),
            "edit clme: expert 'up_blocks.1.resnets.0' of 'down_blocks.2.resnets.0' is not a "
            "sibling resblock (same block)");
  EXPECT_EQ(error_with(Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"})),
            "edit clme: expert 'down_blocks.1.resnets.1' of 'down_blocks.1.resnets.0' is not "
            "removed (experts come from removed blocks)");
  EXPECT_EQ(error_with(Edit::clme("down_blocks.2.resnets.1", {"down_blocks.2.resnets.0"})),
            "edit clme: unit 'down_blocks.2.resnets.1' is also removed");
  EXPECT_EQ(error_with(Edit::clme("down_blocks.2.attentions.0", {"down_blocks.2.resnets.1"})),
            "edit clme: unit 'down_blocks.2.attentions.0' is not a resblock (attention); "
            "CLME-CondConv replaces a resblock's "
            "convolutions");
  EXPECT_EQ(error_with(Edit::clme("down_blocks.2.resnets.0", {})),
            "edit clme: unit 'down_blocks.2.resnets.0' needs at least one expert (a removed "
            "sibling resblock)");
  nlohmann::json j = to_json(s);
  j["edits"].back().erase("experts");
  EXPECT_EQ(test::error_of([&] { arch_spec_from_json(j); }).substr(0, 72),
            "edit clme needs an 'experts' list of removed sibling resblocks: {\"op\":\"c");
}

}  // namespace
}  // namespace asdm
