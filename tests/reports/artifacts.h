#pragma once
// Small artifacts of every type asdm report reads, made through the structs of the stages that
// write them (a proxy-like UNet of 8 units) and written to a folder for the report tests. They come
// back as JSON so that a test can take a field out.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/importance.h"
#include "bench/bench_result.h"
#include "core/artifact.h"
#include "core/image_grid.h"
#include "eval/eval_record.h"
#include "incubation/incubation_record.h"
#include "incubation/run_state.h"
#include "model/unet_config.h"
#include "profiler/inspect.h"
#include "profiler/profile_io.h"
#include "pruner/candidates.h"
#include "tests/test_env.h"

namespace asdm::test {

namespace fs = std::filesystem;

inline Summary summary(double median) {
  return {10, median, median * 0.95, median * 1.1, median, median * 0.05};
}

inline ArtifactHeader header(const std::string& type, int schema_version) {
  RunContext ctx;
  ctx.argv = {"asdm", type};
  ctx.device_name = "test CPU";
  ctx.threads = 2;
  ctx.torch_version = "2.11.0";
  return ArtifactHeader::make(type, schema_version, ctx);
}
template <class T>
ArtifactHeader header_of() {
  return header(T::kArtifact, T::kSchemaVersion);
}

inline const std::vector<std::pair<std::string, std::string>>& test_units() {
  static const std::vector<std::pair<std::string, std::string>> kUnits = {
      {"conv_in", "fixed"},
      {"down_blocks.0.resnets.0", "resblock"},
      {"down_blocks.0.attentions.0", "attention"},
      {"down_blocks.0.downsamplers.0", "downsample"},
      {"down_blocks.1.resnets.0", "resblock"},
      {"mid_block.resnets.0", "resblock"},
      {"up_blocks.0.resnets.0", "resblock"},
      {"up_blocks.1.attentions.0", "attention"},
      {"conv_out", "fixed"}};
  return kUnits;
}

// The input every test artifact was "measured" at: batch 8, 128² (latent 16x16), 16 tokens.
inline InputShape test_input() { return InputShape::square(16, 8, 8, 16); }

inline nlohmann::json make_profile() {
  ProfileArtifact a;
  a.header = header_of<ProfileArtifact>();
  a.model = "teacher";
  ProfileReport& r = a.report;
  r.backend = r.requested_backend = "timer";
  r.dtype = "float32";
  r.input = test_input();
  r.unet_batch = 8;
  r.forward_ms = r.unobserved_ms = summary(100);
  r.coverage = 0.995;
  r.overhead = 0.01;
  int k = 0;
  for (const auto& [id, kind] : test_units()) {
    const double ms = 4.0 + 3 * (k++ % 4);
    UnitProfile u;
    u.id = id;
    u.kind = unit_kind_from_string(kind);
    u.inclusive_ms = u.exclusive_ms = summary(ms);
    u.params = 1000 * k;
    u.macs = 2'000'000 * k;
    u.attn_macs = kind == "attention" ? 500'000 : 0;
    r.units.push_back(u);
  }
  return a.to_json();
}

inline nlohmann::json make_importance() {
  ImportanceArtifact a;
  a.header = header_of<ImportanceArtifact>();
  a.complete = true;
  a.settings.subject = "proxy pipeline teacher";
  a.settings.prompts = 16;
  a.settings.tier = "1";
  a.settings.timesteps = 4;
  a.settings.seed = 0;
  int k = 0;
  for (const auto& [id, kind] : test_units()) {
    if (kind != "resblock" && kind != "attention") continue;
    const double nmse = std::pow(10.0, -1 - k);  // 0.1, 0.01, ... down to 1e-6
    ImportanceResult r;
    r.id = id;
    r.kind = kind;
    r.units = {id};
    r.latency_saved_ms = 4.0 + k;
    r.tier1 = Tier1Result{
        {nmse, nmse * 0.9, nmse * 1.1, 16}, {1 - nmse, 1 - nmse, 1 - nmse, 16}, {}, {}, {}};
    a.settings.plan.push_back(id);
    a.results.push_back(r);
    ++k;
  }
  return a.to_json();
}

inline nlohmann::json make_candidates() {
  CandidateSet a;
  a.header = header_of<CandidateSet>();
  a.teacher.model = "teacher";
  a.teacher.forward_ms = 100.0;
  a.teacher.input = test_input();
  a.importance = {"importance.json", "tier1", "proxy pipeline teacher"};
  a.options.target_speedup = 0.22;
  a.best_reachable_speedup = 0.5;
  a.predicted_loss = "sum of the removed units' importance scores (tier1)";
  a.front = {{0.0, 0.0}, {0.05, 1e-6}, {0.22, 1.1e-5}, {0.3, 1e-3}, {0.5, 0.11}};
  CandidateEntry c1;
  c1.name = "c1";
  c1.removed = {"mid_block.resnets.0", "up_blocks.0.resnets.0"};
  c1.predicted_ms = 78.0;
  c1.predicted_speedup = 0.22;
  c1.measured_ms = summary(77);
  c1.measured_speedup = 0.23;
  c1.prediction_error = 0.013;
  c1.predicted_loss = 1.1e-5;
  c1.params = 5000;
  c1.macs = 9'000'000;
  c1.arch.teacher = load_unet_config(test::config_path("tiny"));
  c1.arch.edits = {Edit::remove("mid_block.resnets.0"), Edit::remove("up_blocks.0.resnets.0"),
                   Edit::clme("up_blocks.0.resnets.1", {"up_blocks.0.resnets.0"})};
  CandidateEntry c2;
  c2.name = "c2";
  c2.removed = {"mid_block.resnets.0", "up_blocks.0.resnets.0", "down_blocks.1.resnets.0"};
  c2.predicted_ms = 70.0;
  c2.predicted_speedup = 0.3;
  c2.predicted_loss = 1e-3;
  c2.params = 4000;
  c2.macs = 8'000'000;
  c2.arch.teacher = c1.arch.teacher;
  for (const auto& id : c2.removed) c2.arch.edits.push_back(Edit::remove(id));
  a.candidates = {c1, c2};
  a.validation = Validation{{ValidationSet{}, ValidationSet{}}, 0.01, 0.027};
  return a.to_json();
}

// bench.json with a sample grid per model in <dir>/bench-samples/.
inline nlohmann::json make_bench(const fs::path& dir) {
  BenchResult a;
  a.header = header_of<BenchResult>();
  a.input = test_input();
  a.options.batch = 8;
  a.options.runs = 10;
  a.options.sampler.steps = 25;
  a.options.sampler.sampler = "ddim";
  a.options.sampler.guidance = 1.0;
  a.options.quality_prompts = 4;
  int k = 0;
  for (const std::string name : {"teacher", "student"}) {
    std::vector<std::vector<uint8_t>> images(
        4, std::vector<uint8_t>(16 * 16 * 3, static_cast<uint8_t>(60 * (k + 1))));
    write_grid_png(dir / "bench-samples" / (name + ".png"), images, 16,
                   {"a red circle", "a blue square", "x", "y"}, 4, 2);
    const double ms = k ? 75.0 : 100.0;
    ModelBench m;
    m.name = name;
    m.path = "runs/" + name;
    m.kind = "proxy_pipeline";
    m.params = 8'000'000 - 2'000'000 * k;
    m.macs = 1'700'000'000 - 400'000'000 * k;
    m.unet_ms = summary(ms);
    m.unet_speedup = k ? 0.25 : 0.0;
    m.pipeline = PipelineTimes{summary(1), summary(ms * 2), summary(0.1), summary(ms * 2 + 1.1)};
    m.pipeline_speedup = k ? 0.24 : 0.0;
    m.weights_bytes = 30'000'000;
    m.unet_peak_bytes = 50'000'000;
    QualityResult q;
    q.samples = 4;
    q.classified = true;
    q.accuracy = {{"shape", 0.99 - 0.01 * k}};
    q.mean_accuracy = 0.99 - 0.01 * k;
    q.all_correct = 0.98;
    q.fid = 275.0 + 20 * k;
    q.psnr_db = k ? 30.0 : 100.0;
    q.ssim = k ? 0.95 : 1.0;
    m.quality = q;
    m.samples_grid = "bench-samples/" + name + ".png";
    a.models.push_back(m);
    ++k;
  }
  return a.to_json();
}

// incubation.json with its log beside it.
inline nlohmann::json make_incubation(const fs::path& dir) {
  IncubationRecord a;
  a.header = header_of<IncubationRecord>();
  a.teacher = "teacher";
  a.student = "student";
  a.steps = 40;
  a.seconds = 30.0;
  a.log = "/nonexistent/incubation.jsonl";  // moved: the report looks beside the artifact
  std::ofstream log(dir / "incubation.jsonl");
  for (int s = 1; s <= 40; ++s)
    log << IncubationLogLine{s,
                             s,
                             s <= 20 ? "up_blocks.0" : "assembly",
                             1e-4,
                             1.0,
                             0.1 * s,
                             {{"total", 1.0 / s},
                              {"task", 0.5 / s},
                              {"output", 0.2 / s},
                              {"feature", 0.2 / s},
                              {"semantic", 0.1 / s}}}
               .dump()
        << "\n";
  QualityResult teacher, student;
  teacher.samples = student.samples = 16;
  teacher.classified = student.classified = true;
  teacher.mean_accuracy = 0.99;
  teacher.fid = 300.0;
  teacher.psnr_db = 100.0;
  teacher.ssim = 1.0;
  student.mean_accuracy = 0.95;
  student.fid = 500.0;
  student.psnr_db = 28.0;
  student.ssim = 0.9;
  a.eval =
      std::map<std::string, QualityResult>{{"teacher", teacher}, {"student_incubated", student}};
  return a.to_json();
}

inline nlohmann::json make_inspect() {
  InspectArtifact a;
  a.header = header_of<InspectArtifact>();
  a.model = "configs/tiny.json";
  a.macs_rule = "thop";
  a.cost.input = InputShape::square(16, 8, 1, 77);
  a.cost.params = 827476;
  a.cost.macs = 39979520;
  a.cost.attn_macs = 57003776 - 39979520;
  int k = 1;
  for (const auto& [id, kind] : test_units()) {
    UnitCost u;
    u.id = id;
    u.kind = unit_kind_from_string(kind);
    u.height = u.width = 16;
    u.in_channels = u.out_channels = 32;
    u.params = 100 * k;
    u.macs = 1'000'000 * k++;
    a.cost.units.push_back(u);
  }
  return a.to_json();
}

// eval.json of a pipeline (and a student UNet) generating from captions.
inline nlohmann::json make_eval(const std::string& model, const std::string& unet, double fid,
                                double clip) {
  EvalRecord r;
  r.header = header_of<EvalRecord>();
  r.n = 100;
  r.source.kind = "generate";
  r.source.model = model;
  r.source.unet = unet;
  r.source.steps = 25;
  r.source.guidance = 7.5;
  r.source.sampler = "ddim";
  r.captions = "captions.json";
  r.batch = 16;
  r.dtype = "fp16";
  EvalMetric c;
  c.name = "clip_score";
  c.value = clip;
  c.n = 100;
  c.definition = "torchmetrics";
  c.model = "clip-vit-g-14";
  c.flavour = "open_clip";
  EvalMetric f;
  f.name = "fid";
  f.value = fid;
  f.n = 100;
  f.definition = "pytorch-fid";
  f.mode = "pytorch-fid";
  f.dims = 2048;
  f.reference = "coco.npz";
  f.reference_n = 30000;
  EvalMetric is;
  is.name = "inception_score";
  is.value = 20.5;
  is.std = 0.25;
  is.n = 100;
  is.splits = 10;
  is.definition = "torch-fidelity";
  r.metrics = {c, f, is};
  r.features_s = 10;
  r.images_per_s = 10;
  return r.to_json();
}

// Every artifact type in `dir`; returns their paths.
inline std::vector<fs::path> write_all_artifacts(const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, nlohmann::json>> docs = {
      {"profile.json", make_profile()},          {"importance.json", make_importance()},
      {"candidates.json", make_candidates()},    {"bench.json", make_bench(dir)},
      {"incubation.json", make_incubation(dir)}, {"inspect.json", make_inspect()}};
  std::vector<fs::path> paths;
  for (const auto& [name, doc] : docs) {
    write_json_atomic(dir / name, doc);
    paths.push_back(dir / name);
  }
  return paths;
}

}  // namespace asdm::test
