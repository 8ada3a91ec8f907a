// asdm generate and asdm profile --pipeline on a tiny pipeline folder the test writes.
#include <gtest/gtest.h>

#include "core/png.h"
#include "model/tensor_io.h"
#include "tests/apps/cli_helpers.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

fs::path tiny_pipeline(const std::string& name) {
  const auto dir = test::scratch_dir(name);
  test::write_tiny_pipeline(dir / "pipe");
  return dir;
}

TEST(GenerateCli, WritesImagesAndTheirRecord) {
  const auto dir = tiny_pipeline("generate_cli");
  const auto r = asdm({"generate", "--model", (dir / "pipe").string(), "--prompt", "the red",
                       "--prompt", "a cat", "--steps", "3", "--seed", "5", "--scheduler", "euler",
                       "-o", (dir / "out" / "img.png").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out" / "img-0.png"));
  EXPECT_TRUE(fs::exists(dir / "out" / "img-1.png"));
  EXPECT_NE(r.out.find("img-1.png"), std::string::npos);
  const auto j = read_json_file(dir / "out" / "img.json");
  EXPECT_EQ(j["artifact"], "generate");
  EXPECT_EQ(j["sampler"], "euler");
  EXPECT_EQ(j["steps"], 3);
  EXPECT_EQ(j["seed"], 5);
  EXPECT_EQ(j["images"].size(), 2u);
  EXPECT_GT(j["stage_ms"]["unet"].get<double>(), 0);
}

// --channels-last runs the UNet in NHWC memory: the same latents within float rounding, and the
// record says so.
TEST(GenerateCli, ChannelsLastGivesTheSameLatents) {
  const auto dir = tiny_pipeline("generate_cli_nhwc");
  TensorMap latents;
  for (const bool nhwc : {false, true}) {
    const std::string stem = nhwc ? "nhwc" : "nchw";
    std::vector<std::string> args = {"generate",  "--model", (dir / "pipe").string(),
                                     "--prompt",  "a cat",   "--steps",
                                     "3",         "--seed",  "5",
                                     "--tensors", "-o",      (dir / (stem + ".png")).string()};
    if (nhwc) args.push_back("--channels-last");
    const auto r = asdm(args);
    ASSERT_EQ(r.rc, 0) << r.err;
    latents[stem] = read_tensors(dir / (stem + ".safetensors")).at("latents");
    EXPECT_EQ(read_json_file(dir / (stem + ".json")).value("unet_channels_last", false), nhwc);
  }
  const double scale = latents["nchw"].abs().max().item<double>();
  EXPECT_GT(scale, 0);
  EXPECT_LE((latents["nhwc"] - latents["nchw"]).abs().max().item<double>(), 1e-5 * scale);
}

TEST(GenerateCli, ProfilePipelineReportsEachStage) {
  const auto dir = tiny_pipeline("profile_pipeline_cli");
  const auto r = asdm({"profile", "--model", (dir / "pipe").string(), "--pipeline", "--steps", "2",
                       "--runs", "2", "--warmup", "0", "-o", (dir / "pp.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* row : {"text_encoder", "unet", "vae", "total"})
    EXPECT_NE(r.out.find(row), std::string::npos);
  const auto j = read_json_file(dir / "pp.json");
  EXPECT_EQ(j["artifact"], "pipeline_profile");
  EXPECT_EQ(j["sampler"], "ddim");
  EXPECT_EQ(j["unet_calls"], 2);
  EXPECT_EQ(j["total_ms"]["n"], 2);
  double shares = 0;
  for (const char* stage : {"text_encoder", "unet", "vae", "other"})
    shares += j["stages"][stage]["share"].get<double>();
  EXPECT_NEAR(shares, 1.0, 0.2);  // medians of parts need not add up exactly
}

TEST(GenerateCli, BadInputIsOneLine) {
  const auto dir = tiny_pipeline("generate_cli_bad");
  const auto pipe = (dir / "pipe").string();
  const auto out = (dir / "o.png").string();
  expect_error(asdm({"generate", "--model", pipe, "-o", out}),
               "give a prompt with --prompt or --prompts");
  expect_error(asdm({"generate", "--model", pipe, "--prompt", "x", "-o", (dir / "o.jpg").string()}),
               "-o must name a .png file (got '" + (dir / "o.jpg").string() + "')");
  expect_error(
      asdm({"generate", "--model", pipe, "--prompt", "x", "--resolution", "41", "-o", out}),
      "image size 41x41 is not a positive multiple of the VAE's downscale factor 2");
  expect_error(asdm({"generate", "--model", pipe, "--prompt", "x", "--graphs", "-o", out}),
               "generate --graphs needs a CUDA device (--device cuda): CUDA graphs hold GPU work; "
               "on the cpu every forward runs eagerly");
  expect_error(asdm({"generate", "--model", pipe, "--prompt", "x", "--graphs", "--cache-plan",
                     (dir / "plan.json").string(), "-o", out}),
               "--graphs replays one computation at every step, and a cache plan changes what each "
               "step computes: use one or the other");
  fs::remove_all(dir / "pipe" / "text_encoder");
  expect_error(asdm({"generate", "--model", pipe, "--prompt", "x", "-o", out}),
               "pipeline folder '" + pipe +
                   "' has no text_encoder/ folder (a StableDiffusionPipeline needs tokenizer, "
                   "text_encoder, unet, vae, "
                   "scheduler)");
  expect_error(
      asdm({"profile", "--model", pipe, "--steps", "3", "-o", (dir / "p.json").string()}),
      "--steps, --prompt and --config are --pipeline options (a UNet profile's sampler loop takes "
      "--sampler-steps)");
  write_tensors(dir / "flux.safetensors",
                {{"double_blocks.0.img_attn.qkv.weight", torch::zeros({2, 2})}});
  expect_error(asdm({"generate", "--model", (dir / "flux.safetensors").string(), "--config", pipe,
                     "--prompt", "x", "-o", out}),
               "not a single-file checkpoint of a known family: asdm reads SD 1.x "
               "(model.diffusion_model.* with "
               "cond_stage_model.transformer.*), SD 2.x (cond_stage_model.model.*) and SDXL base "
               "(conditioner.embedders.0/1.*) checkpoints; this one has no "
               "model.diffusion_model.input_blocks.*");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace asdm

namespace asdm {
namespace {

// The toolkit's chain on a Stable Diffusion pipeline folder: profile, ablate on prompts (the
// pipeline's text encoder embeds them), search with refinement on the same prompts, build the pick,
// make a training set from images with captions, incubate on it, bench teacher, student and
// incubated student inside the pipeline.
TEST(SdChainCli, ProfileAblateSearchBuildIncubateBench) {
  const auto dir = tiny_pipeline("sd_chain_cli");
  const auto pipe = (dir / "pipe").string();
  const auto prompts = dir / "prompts.txt";
  write_file_atomic(prompts, "the red\na cat\nof the red cat\n");
  auto run = [&](const std::vector<std::string>& args) {
    const auto r = asdm(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return r;
  };
  // One thread per command: CTest runs two tests at a time on CI's two cores.
  run({"profile", "--model", pipe, "--runs", "2", "--warmup", "1", "--threads", "1", "-o",
       (dir / "profile.json").string()});
  run({"ablate", "--model", pipe, "--prompts", prompts.string(), "--steps", "2", "--timesteps", "1",
       "--bootstrap", "20", "--threads", "1", "-o", (dir / "importance.json").string()});
  const auto imp = read_json_file(dir / "importance.json");
  EXPECT_EQ(imp["settings"]["prompts"]["count"], 3);
  EXPECT_GT(imp["results"].size(), 30u);
  run({"search", "--profile", (dir / "profile.json").string(), "--importance",
       (dir / "importance.json").string(), "--target-speedup", "0.2", "--model", pipe,
       "--refine-prompts", prompts.string(), "--threads", "1", "-o",
       (dir / "candidates.json").string()});
  run({"build", "--teacher", pipe, "--candidates", (dir / "candidates.json").string(), "-o",
       (dir / "student").string()});
  EXPECT_TRUE(fs::exists(dir / "student" / "model_index.json"));
  // A training set from images with captions, and a short incubation on it.
  fs::create_directories(dir / "images");
  const std::vector<std::pair<int, int>> sizes = {{40, 32}, {32, 48}, {32, 32}};
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto [w, h] = sizes[i];
    std::vector<uint8_t> rgb(size_t(w) * h * 3);
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = uint8_t((k * 37 + i * 101) % 251);
    write_png(dir / "images" / fmt::format("im{}.png", i), rgb.data(), w, h);
    write_file_atomic(dir / "images" / fmt::format("im{}.txt", i),
                      i == 1 ? "a cat\n" : "the red cat\n");
  }
  run({"latents", "--model", pipe, "--images", (dir / "images").string(), "--threads", "1", "-o",
       (dir / "latents.safetensors").string()});
  const TensorMap lat = read_tensors(dir / "latents.safetensors");
  EXPECT_EQ(lat.at("latents").sizes(), (std::vector<int64_t>{3, 4, 16, 16}));
  EXPECT_EQ(lat.at("encoder_hidden_states").sizes(), (std::vector<int64_t>{3, 77, 32}));
  // Its final eval: the teacher's pipeline with each UNet, PSNR/SSIM against the teacher's images
  // (a CLIP folder and Inception weights would add the CLIP score and FID).
  const auto inc = run({"incubate",
                        "--teacher",
                        pipe,
                        "--student",
                        (dir / "student").string(),
                        "--data",
                        (dir / "latents.safetensors").string(),
                        "--steps",
                        "2",
                        "--batch",
                        "2",
                        "--one-shot",
                        "--threads",
                        "1",
                        "--eval-n",
                        "2",
                        "--eval-steps",
                        "2",
                        "-o",
                        (dir / "incubated").string()});
  EXPECT_NE(inc.out.find("CLIP score"), std::string::npos) << inc.out;
  const auto record = read_json_file(dir / "incubated" / "incubation.json");
  for (const char* k : {"student_built", "student_incubated"}) {
    EXPECT_GT(record["eval"][k]["psnr_vs_teacher_db"].get<double>(), 0) << k;
    EXPECT_EQ(record["eval"][k]["samples"], 2) << k;
  }
  run({"bench", "--models",
       "teacher=" + pipe + ",student=" + (dir / "student").string() +
           ",incubated=" + (dir / "incubated").string(),
       "--runs", "1", "--warmup", "0", "--steps", "2", "--pipeline-runs", "1", "--quality-prompts",
       "2", "--threads", "1", "-o", (dir / "bench.json").string()});
  const auto bench = read_json_file(dir / "bench.json");
  for (int m : {1, 2}) {
    EXPECT_EQ(bench["models"][m]["kind"], "sd_pipeline");
    EXPECT_TRUE(bench["models"][m].contains("pipeline"));
    EXPECT_TRUE(bench["models"][m]["quality"].contains("psnr_vs_reference_db"));
  }
  // Bad training sets: an image without its caption, a file that is not an image.
  write_file_atomic(dir / "images" / "im9.png", "not a png");
  expect_error(
      asdm({"latents", "--model", pipe, "--images", (dir / "images").string(), "-o",
            (dir / "bad.safetensors").string()}),
      "image '" + (dir / "images" / "im9.png").string() + "' has no caption file 'im9.txt'");
  write_file_atomic(dir / "images" / "im9.txt", "x");
  const auto bad = asdm({"latents", "--model", pipe, "--images", (dir / "images").string(), "-o",
                         (dir / "bad.safetensors").string()});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("cannot decode image '" + (dir / "images" / "im9.png").string() + "'"),
            std::string::npos)
      << bad.err;
  EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
}

}  // namespace
}  // namespace asdm
