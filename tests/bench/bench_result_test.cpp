// bench.json: every field survives a write and a read (a pipeline model with quality, a bare UNet
// without), and the table names every model.
#include "bench/bench_result.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_env.h"

namespace asdm {
namespace {

Summary some_summary(double median) { return {5, median, median * 0.9, median * 1.1, median, 0.2}; }

TEST(BenchResult, EveryFieldSurvivesARoundTrip) {
  BenchResult r;
  r.header = ArtifactHeader::make(BenchResult::kArtifact, BenchResult::kSchemaVersion,
                                  test::run_context({"asdm", "bench"}));
  r.options.batch = 8;
  r.options.quality_prompts = 16;
  r.options.classifier = "classifier";
  r.input = InputShape::square(16, 8, 8, 16);
  r.memory_method = "allocator hook";
  ModelBench m;
  m.name = "teacher";
  m.path = "teacher";
  m.kind = "proxy_pipeline";
  m.params = 100;
  m.macs = 200;
  m.attn_macs = 20;
  m.weights_bytes = 400;
  m.unet_ms = some_summary(10);
  m.pipeline = PipelineTimes{some_summary(1), some_summary(8), some_summary(0.5), some_summary(10)};
  m.unet_peak_bytes = 1 << 20;
  m.pipeline_peak_bytes = 2 << 20;
  QualityResult q;
  q.samples = 16;
  q.classified = true;
  q.accuracy = {{"shape", 1.0}};
  q.mean_accuracy = 1;
  q.all_correct = 1;
  q.fid = 10;
  q.psnr_db = 100;
  q.ssim = 1;
  m.quality = q;
  m.samples_grid = "bench-samples/teacher.png";
  r.models.push_back(m);
  ModelBench u;
  u.name = "student";
  u.path = "student/unet";
  u.kind = "unet";
  u.unet_ms = some_summary(8);
  u.unet_speedup = 0.2;
  r.models.push_back(u);
  const auto path = test::scratch_dir("bench_result") / "bench.json";
  r.write(path);
  const BenchResult back = BenchResult::read(path);
  EXPECT_EQ(back.to_json(), r.to_json());
  EXPECT_FALSE(back.models[1].pipeline.has_value());
  EXPECT_EQ(back.models[0].quality->accuracy.at("shape"), 1.0);
  const std::string table = bench_table(back);
  EXPECT_NE(table.find("teacher"), std::string::npos) << table;
  EXPECT_NE(table.find("student"), std::string::npos) << table;
  EXPECT_EQ(table.find("(plain)"), std::string::npos) << table;
  // A model sampled with a cache plan: its UNet forward is the plain one, and the table says so.
  BenchResult planned = back;
  planned.models[1].cache_plan = "p1.plan.json";
  EXPECT_NE(bench_table(planned).find("(plain): a model with a cache plan times"),
            std::string::npos);
}

// asdm demo's headline: a row per model with its times and quality, and the teacher's UNet time
// the speed-ups are against.
TEST(BenchResult, HeadlineTableHasARowPerModel) {
  BenchResult r;
  ModelBench t;
  t.name = "teacher";
  t.unet_ms = some_summary(10);
  QualityResult q;
  q.mean_accuracy = 0.993;
  q.fid = 275;
  t.quality = q;
  ModelBench s = t;
  s.name = "student";
  s.unet_ms = some_summary(8);
  s.unet_speedup = 0.2;
  s.quality->proxy_fid_vs_reference = 1.92;
  r.models = {t, s};
  const std::string h = headline_table(r);
  EXPECT_NE(h.find("FID vs teacher"), std::string::npos) << h;
  EXPECT_NE(h.find("teacher                      10.0       0.0%"), std::string::npos) << h;
  EXPECT_NE(h.find("student                       8.0      20.0%"), std::string::npos) << h;
  EXPECT_NE(h.find("   0.993        0.000     275.0            1.92\n"), std::string::npos) << h;
  EXPECT_NE(h.find("the teacher's median (10.0 ms)"), std::string::npos) << h;
}

}  // namespace
}  // namespace asdm
