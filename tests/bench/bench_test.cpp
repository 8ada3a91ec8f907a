#include "bench/bench.h"

#include <cmath>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analysis/sample_metrics.h"
#include "core/error.h"
#include "model/arch_spec.h"
#include "model/checkpoint.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "proxy/classifier.h"
#include "proxy/quality.h"
#include "proxy/world.h"
#include "tests/incubation/fixtures.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

BenchOptions small_options() {
  BenchOptions o;
  o.runs = 3;
  o.warmup = 1;
  o.batch = 2;
  o.pipeline_runs = 2;
  o.sampler.steps = 3;
  o.quality_prompts = 4;
  return o;
}

TEST(Bench, TeacherAgainstStudentInterleaved) {
  const auto s = test::make_incubation_setup("bench_pair");
  BenchOptions o = small_options();
  o.samples_dir = s.dir / "samples";
  std::vector<std::string> finished;
  o.progress = [&](const std::string& stage, int done, int total) {
    if (done == total) finished.push_back(stage);
  };
  const BenchResult r = run_bench({{"teacher", s.teacher}, {"student", s.student}}, o);
  EXPECT_EQ(finished, (std::vector<std::string>{"unet", "pipeline", "quality"}));
  ASSERT_EQ(r.models.size(), 2u);
  EXPECT_EQ(r.input.latent_height,
            8);  // the test world's 16x16 images through the 2x2 space-to-depth
  EXPECT_EQ(r.input.resolution, 64);
  EXPECT_EQ(r.input.text_tokens, proxy::world_spec("test").max_tokens);
  const auto& t = r.models[0];
  const auto& st = r.models[1];
  EXPECT_EQ(t.kind, "proxy_pipeline");
  EXPECT_EQ(t.unet_ms.n, 3);
  EXPECT_EQ(t.unet_speedup, 0.0);
  EXPECT_DOUBLE_EQ(st.unet_speedup, 1 - st.unet_ms.median / t.unet_ms.median);
  // Params counted on the loaded UNets agree with the cost model's for the same ArchSpecs.
  const InputShape in = InputShape::square(8, 8, 2, r.input.text_tokens);
  EXPECT_EQ(t.params, estimate_cost(load_arch(locate_model(s.teacher)), in).params);
  EXPECT_EQ(st.params, estimate_cost(s.spec, in).params);
  EXPECT_EQ(st.macs, estimate_cost(s.spec, in).macs);
  EXPECT_EQ(t.weights_bytes, 4 * t.params);
  EXPECT_GT(t.unet_peak_bytes, 0);
  EXPECT_GT(t.pipeline_peak_bytes, 0);
  for (const auto& m : r.models) {
    ASSERT_TRUE(m.pipeline.has_value()) << m.name;
    EXPECT_EQ(m.pipeline->total_ms.n, 2);
    EXPECT_GT(m.pipeline->text_encoder_ms.median, 0);
    EXPECT_GT(m.pipeline->decoder_ms.median, 0);
    EXPECT_LT(m.pipeline->unet_steps_ms.median, m.pipeline->total_ms.median);
    ASSERT_TRUE(m.quality.has_value());
    EXPECT_EQ(m.quality->samples, 4);
    EXPECT_FALSE(m.quality->classified);
    EXPECT_TRUE(fs::exists(o.samples_dir / m.samples_grid)) << m.samples_grid;
  }
  EXPECT_EQ(t.quality->psnr_db, kPsnrCapDb);  // the reference against itself
  EXPECT_NEAR(t.quality->ssim, 1.0, 1e-12);
  EXPECT_LT(st.quality->psnr_db, kPsnrCapDb);

  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["reference"], "teacher");
  EXPECT_EQ(j["models"][1]["name"], "student");
  for (const char* k : {"unet_ms", "unet_speedup", "pipeline", "memory", "quality", "params",
                        "macs", "samples_grid"})
    EXPECT_TRUE(j["models"][1].contains(k)) << k;
  EXPECT_EQ(j["settings"]["input"]["batch"], 2);
  EXPECT_FALSE(j["models"][1]["quality"].contains("proxy_fid"));  // no classifier: no FID claimed
}

TEST(Bench, ABareUNetGetsLatencyOnly) {
  const fs::path d = test::scratch_dir("bench_unet");
  BenchOptions o = small_options();
  o.resolution = 64;
  o.text_tokens = 4;
  const BenchResult r = run_bench({{"tiny", test::config_path("tiny")}}, o);
  ASSERT_EQ(r.models.size(), 1u);
  EXPECT_EQ(r.models[0].kind, "unet");
  EXPECT_EQ(r.models[0].unet_ms.n, 3);
  EXPECT_FALSE(r.models[0].pipeline.has_value());
  EXPECT_FALSE(r.models[0].quality.has_value());
  EXPECT_FALSE(to_json(r)["models"][0].contains("pipeline"));
}

TEST(Bench, BadInput) {
  const auto s = test::make_incubation_setup("bench_bad");
  const BenchOptions o = small_options();
  EXPECT_EQ(error_of([&] { run_bench({}, o); }), "no models to bench");
  EXPECT_EQ(error_of([&] {
              run_bench({{"x", s.dir / "nope"}}, o);
            }),
            "model 'x': " + (s.dir / "nope").string() + " does not exist");
  EXPECT_EQ(error_of([&] {
              run_bench({{"teacher", s.teacher}, {"tiny", test::config_path("tiny")}}, o);
            }),
            "model 'tiny' takes other inputs than 'teacher' (latent side, channels or text width "
            "differ): bench compares one "
            "model family");
  BenchOptions zero = o;
  zero.runs = 0;
  EXPECT_NE(error_of([&] {
              run_bench({{"teacher", s.teacher}}, zero);
            }).find("bench options out of range"),
            std::string::npos);
}

TEST(Bench, ModelListNamesAndPaths) {
  const fs::path dir = fs::absolute(test::scratch_dir("bench_model_list"));
  fs::create_directories(dir / "lr=1e-4" / "student");
  fs::create_directories(dir / "teacher");
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  const auto names = [](const std::vector<std::pair<std::string, fs::path>>& list) {
    std::string out;
    for (const auto& [name, path] : list) out += fmt::format("{}:{} ", name, path.string());
    return out;
  };
  // NAME=PATH; a bare path is named by its folder, made unique.
  EXPECT_EQ(names(parse_model_list({"t=teacher", "teacher", "teacher/"})),
            "t:teacher teacher:teacher teacher-2:teacher/ ");
  // A '=' inside a path: a name has no '/', and a spec that exists as written is that path.
  EXPECT_EQ(names(parse_model_list({"lr=1e-4/student", "./lr=1e-4", "s=lr=1e-4/student"})),
            "student:lr=1e-4/student lr=1e-4:./lr=1e-4 s:lr=1e-4/student ");
  EXPECT_EQ(names(parse_model_list({"lr=1e-4"})), "lr=1e-4:lr=1e-4 ");
  // Neither exists: NAME=PATH, which bench then reports as missing by name.
  EXPECT_EQ(names(parse_model_list({"a=b"})), "a:b ");
  EXPECT_EQ(error_of([] {
              parse_model_list({"a=b", "a=c"});
            }),
            "--models: the name 'a' is given twice");
  EXPECT_EQ(error_of([] { parse_model_list({"a="}); }),
            "--models: 'a=' is not a model (give PATH or NAME=PATH)");
  fs::current_path(cwd);
}

TEST(Bench, UNetModelsRunInsideAStableDiffusionPipeline) {
  const fs::path d = test::scratch_dir("bench_sd");
  test::write_tiny_pipeline(d / "pipe");
  ArchSpec spec = load_arch(locate_model(d / "pipe"));
  spec.edits.push_back(Edit::remove("down_blocks.1.attentions.1"));
  spec.edits.push_back(Edit::remove("up_blocks.2.resnets.2"));
  UNet student(spec);
  inherit_weights(student, locate_model(d / "pipe").weights);
  save_unet(student, d / "student");
  BenchOptions o = small_options();
  o.pipeline_batch = 2;
  o.samples_dir = d / "samples";
  // The teacher is its own pipeline folder; the student (a bare UNet folder) runs inside it.
  const BenchResult r =
      run_bench({{"teacher", d / "pipe"}, {"student", d / "student"}, {"again", d / "pipe"}}, o);
  EXPECT_EQ(r.input.resolution, 32);  // sample_size 16 x the tiny VAE's 2
  EXPECT_EQ(r.input.text_tokens, 77);
  for (const auto& m : r.models) {
    EXPECT_EQ(m.kind, "sd_pipeline");
    ASSERT_TRUE(m.pipeline.has_value()) << m.name;
    EXPECT_EQ(m.pipeline->total_ms.n, 2);
    EXPECT_GT(m.pipeline->text_encoder_ms.median, 0);
    EXPECT_GT(m.pipeline->decoder_ms.median, 0);
    EXPECT_LT(m.pipeline->unet_steps_ms.median, m.pipeline->total_ms.median);
    ASSERT_TRUE(m.quality.has_value());
    EXPECT_EQ(m.quality->samples, 4);
    EXPECT_TRUE(fs::exists(o.samples_dir / m.samples_grid));
  }
  EXPECT_EQ(r.models[2].quality->psnr_db, kPsnrCapDb);  // the teacher again: the same images
  EXPECT_LT(r.models[1].quality->psnr_db, kPsnrCapDb);  // the student's differ
  EXPECT_LT(r.models[1].params, r.models[0].params);
  // Batching does not change an image: the pipeline's noise follows the prompt index.
  o.pipeline_batch = 3;
  o.pipeline_runs = 0;
  const BenchResult r3 = run_bench({{"teacher", d / "pipe"}, {"student", d / "student"}}, o);
  EXPECT_NEAR(r3.models[1].quality->psnr_db, r.models[1].quality->psnr_db, 1e-3);
  EXPECT_NE(error_of([&] {
              run_bench({{"teacher", d / "pipe"},
                         {"proxy", test::make_incubation_setup("bench_mix").teacher}},
                        o);
            }).find("cannot be mixed"),
            std::string::npos);
}

TEST(CompareQuality, APipelineAgainstItselfIsIdentical) {
  const auto s = test::make_incubation_setup("bench_quality");
  SamplerOptions so;
  so.steps = 2;
  const auto prompts = proxy::prompt_set(proxy::world_spec("test"), 1001, 3);
  std::vector<std::vector<std::vector<uint8_t>>> images;
  const auto q =
      compare_quality({s.teacher, s.teacher, s.student}, prompts, nullptr, so, 0, &images);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(images[0], images[1]);  // same prompts, same noise
  EXPECT_EQ(q[1].psnr_db, kPsnrCapDb);
  EXPECT_NEAR(q[1].ssim, 1.0, 1e-12);
  EXPECT_LT(q[2].ssim, 1.0);
  EXPECT_TRUE(std::isnan(q[1].proxy_fid_vs_reference));  // no classifier
  // With a classifier, the proxy FID against the first model's images too: none for the first,
  // zero for the same pipeline again, more for the student; kept in the JSON.
  proxy::AttributeClassifier c(proxy::world_spec("test"));
  proxy::AttributeClassifier::TrainOptions to;
  to.steps = 5;
  c.train(to, 10);
  const auto eight = proxy::prompt_set(proxy::world_spec("test"), 1001, 8);
  const auto qc = compare_quality({s.teacher, s.teacher, s.student}, eight, &c, so, 0);
  EXPECT_TRUE(std::isnan(qc[0].proxy_fid_vs_reference));
  EXPECT_NEAR(qc[1].proxy_fid_vs_reference, 0, 1e-7);  // the matrix square root's rounding
  EXPECT_GT(qc[2].proxy_fid_vs_reference, 1e-5) << qc[1].proxy_fid_vs_reference;
  EXPECT_FALSE(to_json(qc[0]).contains("proxy_fid_vs_reference"));
  EXPECT_EQ(quality_from_json(to_json(qc[2], "teacher"), "teacher").proxy_fid_vs_reference,
            qc[2].proxy_fid_vs_reference);
}

}  // namespace
}  // namespace asdm
