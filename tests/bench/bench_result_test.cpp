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

}  // namespace
}  // namespace asdm
