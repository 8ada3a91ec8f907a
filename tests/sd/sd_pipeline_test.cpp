#include "sd/sd_pipeline.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/artifact.h"
#include "core/error.h"
#include "core/png.h"
#include "model/checkpoint.h"
#include "model/unet.h"
#include "sd/clip_tokenizer.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

std::string load_error(const fs::path& dir) {
  return test::error_of([&] { SdPipeline::load(dir); });
}

class SdPipelineTest : public ::testing::Test {
 protected:
  // Every test its own folder: CTest runs these tests as concurrent processes, and a folder
  // shared by the suite was rewritten by one while another read it.
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("sd-pipeline-") +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    test::write_tiny_pipeline(dir_);
  }
  fs::path dir_;
};

GenerateOptions options(std::vector<std::string> prompts) {
  GenerateOptions o;
  o.prompts = std::move(prompts);
  o.steps = 3;
  o.guidance = 4.0;
  o.seed = 7;
  return o;
}

TEST_F(SdPipelineTest, GeneratesDeterministicImagesIndependentOfTheOtherPrompts) {
  const auto pipe = SdPipeline::load(dir_);
  EXPECT_EQ(pipe->family(), PipelineFamily::kSd);
  EXPECT_EQ(pipe->sampler_options(options({"x"})).sampler, "ddim");
  torch::InferenceMode guard;
  const auto ab = pipe->generate(options({"the red", "a cat"}));
  EXPECT_EQ(ab.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_GE(ab.images.min().item<double>(), 0.0);
  EXPECT_LE(ab.images.max().item<double>(), 1.0);
  const auto cb = pipe->generate(options({"of the", "a cat"}));
  EXPECT_TRUE(torch::allclose(ab.images[1], cb.images[1], 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(ab.images[0], cb.images[0], 1e-3, 1e-3));
  const auto again = pipe->generate(options({"the red", "a cat"}));
  EXPECT_TRUE(torch::equal(ab.images, again.images));
  // Any multiple of the VAE's factor: a 22x26 latent goes through the UNet's odd-size path.
  auto odd = options({"the red"});
  odd.height = 44;
  odd.width = 52;
  EXPECT_EQ(pipe->generate(odd).images.sizes(), (std::vector<int64_t>{1, 3, 44, 52}));
}

TEST_F(SdPipelineTest, NegativePromptGuidanceAndClipSkipChangeTheImage) {
  const auto pipe = SdPipeline::load(dir_);
  torch::InferenceMode guard;
  const auto base = pipe->generate(options({"the red"})).images;
  auto o = options({"the red"});
  o.negative_prompts = {"a cat"};
  EXPECT_FALSE(torch::allclose(pipe->generate(o).images, base, 1e-4, 1e-4));
  o = options({"the red"});
  o.clip_skip = 1;
  EXPECT_FALSE(torch::allclose(pipe->generate(o).images, base, 1e-4, 1e-4));
  // Guidance 1: one UNet call per step on the prompts alone.
  o = options({"the red", "a cat"});
  o.guidance = 1.0;
  int calls = 0;
  pipe->generate(o, {},
                 [&](PipelineStage s, bool begin) { calls += s == PipelineStage::kUnet && begin; });
  EXPECT_EQ(calls, 3);
}

TEST_F(SdPipelineTest, StagesAreReportedInOrderAndAStudentUNetSwapsIn) {
  auto pipe = SdPipeline::load(dir_);
  std::vector<std::string> seen;
  torch::InferenceMode guard;
  const auto teacher = pipe->generate(options({"the red"}), {}, [&](PipelineStage s, bool begin) {
    if (begin) seen.push_back(to_string(s));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"text_encoder", "unet", "unet", "unet", "vae"}));
  ArchSpec spec = pipe->unet().spec();
  spec.edits.push_back(Edit::remove("down_blocks.0.attentions.1"));
  auto student = std::make_unique<UNet>(spec);
  inherit_weights(*student, locate_model(dir_).weights);
  auto old = pipe->replace_unet(std::move(student));
  EXPECT_EQ(old->removed_units().size(), 0u);
  EXPECT_FALSE(
      torch::allclose(pipe->generate(options({"the red"})).images, teacher.images, 1e-4, 1e-4));
}

TEST_F(SdPipelineTest, SchedulerClassesMapToSamplers) {
  const auto dir = test::scratch_dir("sd-pipeline-lms");
  fs::copy(dir_, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto cfg = read_json_file(dir / "scheduler" / "scheduler_config.json");
  cfg["_class_name"] = "LMSDiscreteScheduler";
  write_json_atomic(dir / "scheduler" / "scheduler_config.json", cfg);
  auto pipe = SdPipeline::load(dir);
  try {
    pipe->sampler_options(options({"x"}));
    ADD_FAILURE() << "LMS accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LMSDiscreteScheduler is not implemented"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--scheduler"), std::string::npos) << e.what();
  }
  auto o = options({"x"});
  o.sampler = "euler";
  EXPECT_EQ(pipe->sampler_options(o).sampler, "euler");
  cfg["_class_name"] = "DPMSolverMultistepScheduler";
  cfg["solver_order"] = 3;
  write_json_atomic(dir / "scheduler" / "scheduler_config.json", cfg);
  EXPECT_NE(SdPipeline::load(dir)->scheduler().sampler_error.find("solver_order = 3"),
            std::string::npos);
}

TEST_F(SdPipelineTest, BrokenFoldersSayWhatIsMissing) {
  const auto dir = test::scratch_dir("sd-pipeline-broken");
  fs::copy(dir_, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  EXPECT_NE(load_error(dir / "absent").find("does not exist"), std::string::npos);
  EXPECT_NE(load_error(dir / "unet").find("has no model_index.json"), std::string::npos);
  fs::remove_all(dir / "vae");
  EXPECT_NE(load_error(dir).find("has no vae/ folder"), std::string::npos);
  fs::copy(dir_ / "vae", dir / "vae", fs::copy_options::recursive);
  write_file_atomic(dir / "tokenizer" / "vocab.json", "not json at all");
  EXPECT_NE(load_error(dir).find("vocab.json' is not valid JSON"), std::string::npos);
  test::write_tiny_tokenizer(dir / "tokenizer");
  auto index = read_json_file(dir / "model_index.json");
  index["_class_name"] = "KandinskyPipeline";
  write_json_atomic(dir / "model_index.json", index);
  EXPECT_NE(load_error(dir).find("not a Stable Diffusion pipeline"), std::string::npos);
  index["_class_name"] = "StableDiffusionPipeline";
  write_json_atomic(dir / "model_index.json", index);
  auto te = read_json_file(dir / "text_encoder" / "config.json");
  te["hidden_size"] = 48;
  te["num_attention_heads"] = 4;
  write_json_atomic(dir / "text_encoder" / "config.json", te);
  EXPECT_NE(load_error(dir).find("text encoder weights"),
            std::string::npos);  // shapes no longer match
}

TEST_F(SdPipelineTest, WritesOnePngPerImage) {
  const auto dir = test::scratch_dir("sd-pipeline-png");
  const auto one = write_pngs(torch::rand({1, 3, 8, 6}), dir / "a.png");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].filename(), "a.png");
  const auto two = write_pngs(torch::rand({2, 3, 8, 6}), dir / "b.png");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].filename(), "b-1.png");
  EXPECT_GT(fs::file_size(two[1]), 50u);
}

TEST_F(SdPipelineTest, Rgb8IsRowMajorInterleavedAndReadsBackFromThePng) {
  // Height 2, width 3; red ramps along x, green is 1 on the second row, blue is out of range.
  auto img = torch::zeros({1, 3, 2, 3});
  img[0][0] = torch::tensor({{0.0, 0.5, 1.0}, {0.0, 0.5, 1.0}});
  img[0][1][1] = 1.0;
  img[0][2] = 2.0;  // clamped to 1
  const auto rgb = to_rgb8(img);
  ASSERT_EQ(rgb.size(), 1u);
  const std::vector<uint8_t> want = {0, 0,   255, 128, 0,   255, 255, 0,   255,
                                     0, 255, 255, 128, 255, 255, 255, 255, 255};
  EXPECT_EQ(rgb[0], want);
  const auto dir = test::scratch_dir("sd-pipeline-rgb8");
  const auto files = write_pngs(img, dir / "x.png");
  int w = 0, h = 0;
  EXPECT_EQ(read_image_rgb(files.at(0), &w, &h), want);
  EXPECT_EQ(w, 3);
  EXPECT_EQ(h, 2);
  EXPECT_THROW(to_rgb8(torch::zeros({3, 2, 2})), Error);
}

}  // namespace
}  // namespace asdm
