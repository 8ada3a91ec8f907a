// Ablation subjects: a proxy pipeline with a prompt file, a bare UNet with an embeddings file; the
// errors a user meets, with the file and what would be valid.
#include "analysis/subject.h"

#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "tests/analysis/fixtures.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(ProxySubject, EncodesPromptsAndPredicts) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("subject_proxy");
  const AblationSubject s = load_proxy_subject(f.pipeline, f.prompts);
  EXPECT_EQ(s.num_prompts(), 6);
  EXPECT_EQ(s.sample_shape(), (std::vector<int64_t>{12, 8, 8}));
  EXPECT_TRUE(s.has_unconditional());
  EXPECT_FALSE(s.has_quality());  // no classifier beside the pipeline
  EXPECT_EQ(s.default_guidance(), 1.0);
  EXPECT_EQ(s.scheduler().prediction, Prediction::kV);
  torch::InferenceMode guard;
  const at::Tensor x = torch::randn({3, 12, 8, 8});
  const at::Tensor out = s.predict(x, 500, {0, -1, 5}, nullptr);
  EXPECT_EQ(out.sizes(), x.sizes());
  // Row 1 is unconditional: the same as predicting it alone.
  const at::Tensor alone = s.predict(x.slice(0, 1, 2), 500, {-1}, nullptr);
  EXPECT_TRUE(torch::allclose(out.slice(0, 1, 2), alone, 1e-5, 1e-5));
  // The output space: images in [-1, 1].
  const at::Tensor img = s.to_output(x);
  EXPECT_EQ(img.sizes(), (at::IntArrayRef{3, 3, 16, 16}));
  EXPECT_LE(img.abs().max().item<float>(), 1.0f);
  EXPECT_EQ(s.output_range(), 2.0);
}

TEST(ProxySubject, WithEditsSharesTheWeights) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("subject_with_edits");
  const AblationSubject s = load_proxy_subject(f.pipeline, f.prompts);
  torch::InferenceMode guard;
  const at::Tensor x = torch::randn({2, 12, 8, 8});
  const std::string unit = "down_blocks.0.attentions.0";
  // GRI with one window covering the 8x8 map and no pooling is full attention.
  const AblationSubject full = s.with_edits({Edit::gri(unit, 8, 0)});
  EXPECT_TRUE(torch::allclose(full.predict(x, 500, {0, 1}, nullptr),
                              s.predict(x, 500, {0, 1}, nullptr), 1e-5, 1e-5));
  EXPECT_EQ(full.unet().spec().edits.size(), 1u);
  EXPECT_TRUE(s.unet().spec().edits.empty());  // the subject itself is unchanged
  const AblationSubject gri = s.with_edits({Edit::gri(unit, 4, 2)});
  EXPECT_FALSE(torch::allclose(gri.predict(x, 500, {0, 1}, nullptr),
                               s.predict(x, 500, {0, 1}, nullptr), 1e-5, 1e-5));
  // Edits that need tensors the teacher does not have cannot share its weights.
  try {
    s.with_edits({Edit::remove("down_blocks.1.resnets.1"),
                  Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind(
            "a variant with edits that add tensors cannot share the teacher's weights (new: ", 0),
        0u)
        << e.what();
  }
}

TEST(ProxySubject, BadPromptFilesNameFileAndLine) {
  const auto f = test::make_proxy_fixture("subject_proxy_bad");
  const fs::path empty = f.dir / "empty.txt", bad = f.dir / "bad.txt";
  std::ofstream(empty) << "\n  \n";
  std::ofstream(bad) << "a red circle at the top left\na purple dragon at the top left\n";
  EXPECT_EQ(test::error_of([&] { load_proxy_subject(f.pipeline, empty); }),
            "prompts file " + empty.string() + " has no prompts");
  const std::string e = test::error_of([&] { load_proxy_subject(f.pipeline, bad); });
  EXPECT_EQ(e.rfind(bad.string() +
                        ":2: unknown word 'purple' in caption 'a purple dragon at the top left'",
                    0),
            0u)
      << e;
  EXPECT_EQ(test::error_of([&] { load_proxy_subject(f.pipeline, f.dir / "nope.txt"); }),
            "cannot read prompts file " + (f.dir / "nope.txt").string());
}

// A tiny SD 1.x UNet with random weights and an embeddings file.
fs::path tiny_unet(const fs::path& dir) {
  auto unet = load_unet(test::config_path("tiny"), {.allow_random_weights = true});
  save_unet(*unet, dir / "unet");
  return dir / "unet";
}

TEST(EmbeddingsSubject, ReadsEmbeddingsAndChecksThem) {
  torch::set_num_threads(1);
  const fs::path dir = test::scratch_dir("subject_embeddings");
  const fs::path unet = tiny_unet(dir);
  torch::manual_seed(3);
  const fs::path file = dir / "emb.safetensors";
  write_tensors(file,
                {{"encoder_hidden_states", torch::randn({3, 5, 32})},
                 {"negative_encoder_hidden_states", torch::randn({1, 5, 32})}},
                {{"format", "pt"}, {"prompts", R"(["a", "b", "c"])"}});
  const AblationSubject s = load_embeddings_subject(unet, file);
  EXPECT_EQ(s.num_prompts(), 3);
  EXPECT_EQ(s.prompts()[2], "c");
  EXPECT_TRUE(s.has_unconditional());
  EXPECT_EQ(s.sample_shape(), (std::vector<int64_t>{4, 16, 16}));
  EXPECT_EQ(s.scheduler().prediction, Prediction::kEpsilon);
  EXPECT_EQ(s.default_guidance(), 7.5);
  EXPECT_EQ(s.output_range(), 0.0);
  {
    torch::InferenceMode guard;
    EXPECT_EQ(s.predict(torch::randn({2, 4, 16, 16}), 10, {2, -1}, nullptr).sizes(),
              (at::IntArrayRef{2, 4, 16, 16}));
  }
  // A pipeline's scheduler is found beside unet/.
  fs::create_directories(dir / "scheduler");
  std::ofstream(dir / "scheduler" / "scheduler_config.json")
      << R"({"prediction_type": "v_prediction"})";
  EXPECT_EQ(load_embeddings_subject(dir, file).scheduler().prediction, Prediction::kV);

  auto error = [&](const TensorMap& t) {
    const fs::path bad = dir / "bad.safetensors";
    write_tensors(bad, t);
    return test::error_of([&] { load_embeddings_subject(unet, bad); });
  };
  const std::string bad = (dir / "bad.safetensors").string();
  EXPECT_EQ(error({{"pooled", torch::zeros({3, 32})}}),
            bad +
                ": unknown tensor 'pooled' (known: encoder_hidden_states, class_labels, "
                "text_embeds, time_ids, "
                "timestep_cond, and negative_<name> for the unconditional inputs)");
  EXPECT_EQ(error({{"class_labels", torch::zeros({3, 32})}}),
            bad + ": no 'encoder_hidden_states' tensor ([prompts, tokens, 32])");
  EXPECT_EQ(error({{"encoder_hidden_states", torch::zeros({3, 5, 16})}}),
            bad + ": encoder_hidden_states has dim 16, the UNet's cross_attention_dim is 32");
  EXPECT_EQ(error({{"encoder_hidden_states", torch::zeros({3, 5, 32})},
                   {"negative_encoder_hidden_states", torch::zeros({2, 5, 32})}}),
            bad + ": 'negative_encoder_hidden_states' must be [1, 5, 32] (got [2, 5, 32])");
  EXPECT_EQ(test::error_of([&] { load_embeddings_subject(unet, dir / "none.safetensors"); }),
            "embeddings file " + (dir / "none.safetensors").string() + " does not exist");
}

// A Stable Diffusion pipeline samples at the UNet's default size, at --resolution, or at the
// latent size an importance run recorded; a size the VAE cannot make is one line.
TEST(SdSubject, SamplesAtTheRequestedSize) {
  const auto dir = test::scratch_dir("sd_subject");
  test::write_tiny_pipeline(dir / "pipe");
  std::ofstream(dir / "p.txt") << "a red circle\na blue square\n";
  const auto p = dir / "pipe", prompts = dir / "p.txt";
  EXPECT_EQ(load_sd_subject(p, prompts).sample_shape(), (std::vector<int64_t>{4, 16, 16}));
  SubjectSource src;
  src.model = p.string();
  src.prompts = prompts.string();
  src.resolution = 16;  // the tiny VAE's factor is 2
  const AblationSubject s = load_subject(src);
  EXPECT_EQ(s.sample_shape(), (std::vector<int64_t>{4, 8, 8}));
  torch::InferenceMode guard;
  EXPECT_EQ(s.predict(torch::zeros({2, 4, 8, 8}), 500.0, std::vector<int>{0, 1}, nullptr).sizes(),
            (std::vector<int64_t>{2, 4, 8, 8}));
  EXPECT_EQ(load_sd_subject(p, prompts, {}, "cpu", "float32", 0, 4).sample_shape()[2], 4);
  src.resolution = 15;
  EXPECT_EQ(test::error_of([&] { load_subject(src); }),
            "--resolution 15 is not a positive multiple of the VAE's factor 2");
}

}  // namespace
}  // namespace asdm
