#pragma once
// Small artifacts of every type asdm report reads, shaped as the commands write them (a proxy-like
// UNet of 8 units), written to a folder for the report tests.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/image_grid.h"

namespace asdm::test {

namespace fs = std::filesystem;

inline nlohmann::json summary(double median) {
  return {{"n", 10},        {"median", median},       {"p10", median * 0.95}, {"p90", median * 1.1},
          {"mean", median}, {"stddev", median * 0.05}};
}

inline nlohmann::json header(const std::string& type) {
  RunContext ctx;
  ctx.argv = {"asdm", type};
  ctx.device_name = "test CPU";
  ctx.threads = 2;
  ctx.torch_version = "2.11.0";
  return make_artifact(type, 1, ctx);
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

inline nlohmann::json make_profile() {
  auto j = header("profile");
  j["model"] = "teacher";
  j["backend"] = "timer";
  j["dtype"] = "float32";
  j["input"] = {{"batch", 8},
                {"resolution", 128},
                {"latent_height", 16},
                {"latent_width", 16},
                {"text_tokens", 16}};
  j["forward_ms"] = summary(100);
  j["coverage"] = 0.995;
  j["overhead"] = 0.01;
  j["units"] = nlohmann::json::array();
  int k = 0;
  for (const auto& [id, kind] : test_units()) {
    const double ms = 4.0 + 3 * (k++ % 4);
    j["units"].push_back({{"id", id},
                          {"kind", kind},
                          {"inclusive_ms", summary(ms)},
                          {"exclusive_ms", summary(ms)},
                          {"params", 1000 * k},
                          {"macs", 2'000'000 * k},
                          {"attn_macs", kind == "attention" ? 500'000 : 0}});
  }
  return j;
}

inline nlohmann::json make_importance() {
  auto j = header("importance");
  j["complete"] = true;
  j["settings"] = {{"subject", "proxy pipeline teacher"},
                   {"prompts", {{"count", 16}}},
                   {"tier", "1"},
                   {"timesteps", 4},
                   {"seed", 0}};
  j["results"] = nlohmann::json::array();
  int k = 0;
  for (const auto& [id, kind] : test_units()) {
    if (kind != "resblock" && kind != "attention") continue;
    const double nmse = std::pow(10.0, -1 - k);  // 0.1, 0.01, ... down to 1e-6
    j["results"].push_back(
        {{"id", id},
         {"kind", kind},
         {"latency_saved_ms", 4.0 + k},
         {"tier1",
          {{"nmse", {{"mean", nmse}, {"ci95", {nmse * 0.9, nmse * 1.1}}, {"n", 16}}},
           {"cosine", {{"mean", 1 - nmse}}}}}});
    ++k;
  }
  return j;
}

inline nlohmann::json make_candidates() {
  auto j = header("candidates");
  j["teacher"] = {{"model", "teacher"},
                  {"forward_ms", 100.0},
                  {"input", {{"batch", 8}, {"resolution", 128}, {"text_tokens", 16}}}};
  j["options"] = {{"target_speedup", 0.22}};
  j["best_reachable_speedup"] = 0.5;
  j["predicted_loss"] = "sum of the removed units' importance scores (tier1)";
  j["front"] = {{{"speedup", 0.0}, {"loss", 0.0}},
                {{"speedup", 0.05}, {"loss", 1e-6}},
                {{"speedup", 0.22}, {"loss", 1.1e-5}},
                {{"speedup", 0.3}, {"loss", 1e-3}},
                {{"speedup", 0.5}, {"loss", 0.11}}};
  j["candidates"] = {
      {{"name", "c1"},
       {"removed", {"mid_block.resnets.0", "up_blocks.0.resnets.0"}},
       {"predicted_ms", 78.0},
       {"predicted_speedup", 0.22},
       {"measured_ms", summary(77)},
       {"measured_speedup", 0.23},
       {"prediction_error", 0.013},
       {"predicted_loss", 1.1e-5},
       {"params", 5000},
       {"macs", 9'000'000},
       {"arch",
        {{"edits",
          {{{"op", "remove"}, {"unit", "mid_block.resnets.0"}},
           {{"op", "clme"}, {"unit", "x"}}}}}}},
      {{"name", "c2"},
       {"removed", {"mid_block.resnets.0", "up_blocks.0.resnets.0", "down_blocks.1.resnets.0"}},
       {"predicted_ms", 70.0},
       {"predicted_speedup", 0.3},
       {"predicted_loss", 1e-3},
       {"params", 4000},
       {"macs", 8'000'000}}};
  j["validation"] = {
      {"sets", nlohmann::json::array({1, 2})}, {"mean_abs_error", 0.01}, {"max_abs_error", 0.027}};
  return j;
}

// bench.json with a sample grid per model in <dir>/bench-samples/.
inline nlohmann::json make_bench(const fs::path& dir) {
  auto j = header("bench");
  j["settings"] = {{"input", {{"batch", 8}, {"resolution", 128}, {"text_tokens", 16}}},
                   {"runs", 10},
                   {"steps", 25},
                   {"sampler", "ddim"},
                   {"guidance", 1.0},
                   {"quality_prompts", 4}};
  j["models"] = nlohmann::json::array();
  int k = 0;
  for (const std::string name : {"teacher", "student"}) {
    std::vector<std::vector<uint8_t>> images(
        4, std::vector<uint8_t>(16 * 16 * 3, static_cast<uint8_t>(60 * (k + 1))));
    write_grid_png(dir / "bench-samples" / (name + ".png"), images, 16,
                   {"a red circle", "a blue square", "x", "y"}, 4, 2);
    const double ms = k ? 75.0 : 100.0;
    j["models"].push_back(
        {{"name", name},
         {"path", "runs/" + name},
         {"kind", "proxy_pipeline"},
         {"params", 8'000'000 - 2'000'000 * k},
         {"macs", 1'700'000'000 - 400'000'000 * k},
         {"unet_ms", summary(ms)},
         {"unet_speedup", k ? 0.25 : 0.0},
         {"pipeline",
          {{"text_encoder_ms", summary(1)},
           {"unet_steps_ms", summary(ms * 2)},
           {"decoder_ms", summary(0.1)},
           {"total_ms", summary(ms * 2 + 1.1)},
           {"speedup", k ? 0.24 : 0.0}}},
         {"memory", {{"weights_bytes", 30'000'000}, {"unet_peak_bytes", 50'000'000}}},
         {"quality",
          {{"samples", 4},
           {"mean_attribute_accuracy", 0.99 - 0.01 * k},
           {"all_attributes_correct", 0.98},
           {"proxy_fid", 275.0 + 20 * k},
           {"psnr_vs_reference_db", k ? 30.0 : 100.0},
           {"ssim_vs_reference", k ? 0.95 : 1.0}}},
         {"samples_grid", "bench-samples/" + name + ".png"}});
    ++k;
  }
  return j;
}

// incubation.json with its log beside it.
inline nlohmann::json make_incubation(const fs::path& dir) {
  auto j = header("incubation");
  j["teacher"] = "teacher";
  j["student"] = "student";
  j["steps"] = 40;
  j["seconds"] = 30.0;
  j["log"] = "/nonexistent/incubation.jsonl";  // moved: the report looks beside the artifact
  std::ofstream log(dir / "incubation.jsonl");
  for (int s = 1; s <= 40; ++s)
    log << nlohmann::json{{"global_step", s},
                          {"phase", s <= 20 ? "up_blocks.0" : "assembly"},
                          {"loss_total", 1.0 / s},
                          {"loss_task", 0.5 / s},
                          {"loss_output", 0.2 / s},
                          {"loss_feature", 0.2 / s},
                          {"loss_semantic", 0.1 / s}}
               .dump()
        << "\n";
  j["eval"] = {
      {"teacher", {{"mean_attribute_accuracy", 0.99}, {"proxy_fid", 300.0}}},
      {"student_incubated",
       {{"mean_attribute_accuracy", 0.95}, {"proxy_fid", 500.0}, {"psnr_vs_teacher_db", 28.0}}}};
  return j;
}

inline nlohmann::json make_inspect() {
  auto j = header("inspect");
  j["model"] = "configs/tiny.json";
  j["input"] = {{"batch", 1}, {"latent_height", 16}, {"latent_width", 16}, {"text_tokens", 77}};
  j["totals"] = {{"params", 827476}, {"macs", 39979520}, {"macs_with_attn", 57003776}};
  j["macs_rule"] = "thop";
  j["units"] = nlohmann::json::array();
  int k = 1;
  for (const auto& [id, kind] : test_units())
    j["units"].push_back({{"id", id},
                          {"kind", kind},
                          {"params", 100 * k},
                          {"macs", 1'000'000 * k++},
                          {"attn_macs", 0}});
  return j;
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
