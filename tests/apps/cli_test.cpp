// The asdm command end to end: outputs, and bad input giving one clear line and a non-zero exit.
#include <sys/resource.h>
#include <sys/wait.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "tests/apps/cli_helpers.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(Cli, InspectSd15GivesThePublishedTotals) {
  const Result r = asdm({"inspect", "--model", test::config_path("sd15").string(), "--resolution",
                         "512", "--json", "-"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["params"], 859'520'964);
  EXPECT_EQ(j["totals"]["macs"], 338'749'194'240);
  EXPECT_EQ(j["totals"]["attn_macs"], 63'026'135'040);
  for (const char* f : {"schema_version", "asdm_version", "git_commit", "argv", "device",
                        "torch_version", "created"})
    EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ(j["artifact"], "inspect");
  const auto& u = j["units"][3];
  for (const char* f :
       {"id", "kind", "resolution", "in_channels", "out_channels", "params", "macs", "attn_macs"})
    EXPECT_TRUE(u.contains(f)) << f;
}

TEST(Cli, InspectPrintsATableAndWritesAFile) {
  const auto dir = test::scratch_dir("cli_inspect");
  const Result r = asdm({"inspect", "--model", test::config_path("sdxl").string(), "--json",
                         (dir / "inspect.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("down_blocks.2.attentions.1.transformer_blocks.9"), std::string::npos);
  EXPECT_NE(r.out.find("total: 2.57 G params (2567463684)"), std::string::npos);
  EXPECT_EQ(read_json_file(dir / "inspect.json")["resolution"], 1024);
}

TEST(Cli, ForwardCaptureReproducesTheFixture) {
  const auto dir = test::scratch_dir("cli_forward");
  const auto fx = test::fixture_dir();
  const Result r =
      asdm({"forward", "--model", fx.string(), "--inputs", (fx / "io.safetensors").string(), "-o",
            (dir / "out.safetensors").string(), "--capture"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const TensorMap ref = read_tensors(fx / "io.safetensors");
  const TensorMap got = read_tensors(dir / "out.safetensors");
  int compared = 0;
  for (const auto& [name, t] : ref) {
    if (name != "out_sample" && name.rfind("act.", 0) != 0) continue;
    ASSERT_TRUE(got.count(name)) << name;
    const double tol = 1e-4 + 1e-4 * t.abs().max().item<double>();
    EXPECT_LE((got.at(name) - t).abs().max().item<double>(), tol) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 80);
}

// A UNet folder holding only diffusers' fp16-named weights (variant="fp16"): read with `asdm
// --variant fp16`, the same numbers as the plain folder; without it, one line saying what to pass.
TEST(Cli, VariantWeightsNeedTheVariantOption) {
  const auto dir = test::scratch_dir("cli_variant");
  const auto fx = test::fixture_dir();
  const auto unet = dir / "unet";
  fs::create_directories(unet);
  fs::copy_file(fx / "config.json", unet / "config.json");
  fs::copy_file(fx / kWeightsFileName, unet / "diffusion_pytorch_model.fp16.safetensors");
  auto forward = [&](const fs::path& model, const std::string& out,
                     std::vector<std::string> root = {}) {
    std::vector<std::string> args = std::move(root);
    args.insert(args.end(), {"forward", "--model", model.string(), "--inputs",
                             (fx / "io.safetensors").string(), "-o", (dir / out).string()});
    return asdm(args);
  };
  expect_error(forward(unet, "a.safetensors"),
               fmt::format("'{}' has no diffusion_pytorch_model.safetensors, only the weights "
                           "variant 'fp16': pick one with `asdm --variant fp16 ...`",
                           unet.string()));
  // Commands that read only the config do not need the choice.
  EXPECT_EQ(asdm({"inspect", "--model", unet.string()}).rc, 0);
  const Result after = asdm({"forward", "--model", unet.string(), "--variant", "fp16"});
  EXPECT_EQ(after.rc, 2);
  EXPECT_EQ(after.err,
            "asdm: error: --variant is an option of 'asdm' itself: put it before 'forward' (see "
            "--help)\n");
  expect_error(forward(unet, "a.safetensors", {"--variant", "fp16/x"}),
               "weights variant 'fp16/x' may hold only letters, digits, '_' and '-' (like fp16, "
               "non_ema)");
  ASSERT_EQ(forward(unet, "a.safetensors", {"--variant", "fp16"}).rc, 0);
  ASSERT_EQ(forward(fx, "b.safetensors").rc, 0);
  EXPECT_TRUE(torch::equal(read_tensors(dir / "a.safetensors").at("out_sample"),
                           read_tensors(dir / "b.safetensors").at("out_sample")));
}

// A model in the Hugging Face Hub's cache (what from_pretrained("org/name") downloaded), named by
// its repository id as diffusers takes it, or by its cache folder: the snapshot refs/main names.
TEST(Cli, HubIdsInTheLocalCacheNameTheirSnapshot) {
  const auto cache = test::scratch_dir("cli_hub_cache");
  const auto snapshot = cache / "models--org--tiny-unet" / "snapshots" / "0123abcd";
  fs::create_directories(snapshot);
  fs::copy_file(test::fixture_dir() / "config.json", snapshot / "config.json");
  write_file_atomic(cache / "models--org--tiny-unet" / "refs" / "main", "0123abcd");
  ::setenv("HF_HUB_CACHE", cache.c_str(), 1);
  const Result by_id = asdm({"inspect", "--model", "org/tiny-unet"});
  const Result by_folder =
      asdm({"inspect", "--model", (cache / "models--org--tiny-unet").string()});
  const Result direct = asdm({"inspect", "--model", snapshot.string()});
  const Result missing = asdm({"inspect", "--model", "org/not-cached"});
  const Result quiet = asdm({"-q", "inspect", "--model", "org/tiny-unet"});
  ::unsetenv("HF_HUB_CACHE");
  ASSERT_EQ(by_id.rc, 0) << by_id.err;
  ASSERT_EQ(by_folder.rc, 0) << by_folder.err;
  ASSERT_EQ(direct.rc, 0) << direct.err;
  EXPECT_EQ(by_id.out, direct.out);
  EXPECT_EQ(by_folder.out, direct.out);
  EXPECT_NE(by_id.err.find("'org/tiny-unet' is in the Hugging Face cache: " + snapshot.string()),
            std::string::npos)
      << by_id.err;
  expect_error(missing, "model 'org/not-cached' does not exist");
  // -q holds while the command line is read, where the id is resolved.
  EXPECT_EQ(quiet.rc, 0);
  EXPECT_EQ(quiet.err, "");
}

TEST(Cli, BadInputsGiveOneLineAndExitNonZero) {
  const auto dir = test::scratch_dir("cli_errors");
  const auto fx = test::fixture_dir();
  // A truncated safetensors inputs file.
  {
    std::ofstream(dir / "trunc.safetensors") << "abc";
    expect_error(
        asdm({"forward", "--model", fx.string(), "--inputs", (dir / "trunc.safetensors").string(),
              "-o", (dir / "o.safetensors").string()}),
        (dir / "trunc.safetensors").string() +
            ": truncated safetensors file (3 bytes; it must start with an 8-byte header length)");
    EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
  }
  // Inputs without 'sample'.
  {
    write_tensors(dir / "in.safetensors", {{"timestep", torch::tensor(1)}});
    expect_error(
        asdm({"forward", "--model", fx.string(), "--inputs", (dir / "in.safetensors").string(),
              "-o", (dir / "o.safetensors").string()}),
        "inputs file '" + (dir / "in.safetensors").string() + "' has no tensor named 'sample'");
  }
  // A config with an unknown block type.
  {
    auto j = read_json_file(test::config_path("tiny"));
    j["up_block_types"][0] = "KUpBlock2D";
    write_json_atomic(dir / "bad.json", j);
    expect_error(asdm({"inspect", "--model", (dir / "bad.json").string()}),
                 (dir / "bad.json").string() +
                     ": config field 'up_block_types' has unknown block type \"KUpBlock2D\" "
                     "(known: CrossAttnUpBlock2D, UpBlock2D)");
  }
  // A checkpoint with a missing key.
  {
    fs::create_directories(dir / "ckpt");
    fs::copy_file(fx / "config.json", dir / "ckpt" / "config.json",
                  fs::copy_options::overwrite_existing);
    TensorMap w = read_tensors(fx / "diffusion_pytorch_model.safetensors");
    w.erase("mid_block.attentions.0.proj_out.bias");
    write_tensors(dir / "ckpt" / "diffusion_pytorch_model.safetensors", w);
    expect_error(
        asdm({"forward", "--model", (dir / "ckpt").string(), "--inputs",
              (fx / "io.safetensors").string(), "-o", (dir / "o.safetensors").string()}),
        "checkpoint " + (dir / "ckpt").string() +
            " does not match the model: 1 missing key(s): mid_block.attentions.0.proj_out.bias");
  }
  // A model that does not exist, and a device that does not.
  expect_error(asdm({"inspect", "--model", (dir / "nope").string()}),
               "model '" + (dir / "nope").string() + "' does not exist");
  expect_error(
      asdm({"forward", "--model", fx.string(), "--inputs", (fx / "io.safetensors").string(), "-o",
            (dir / "o.safetensors").string(), "--device", "tpu"}),
      "unknown device 'tpu' (known: cpu, cuda, cuda:N)");
}

// An output that cannot be written is refused when the command line is read, before any work.
TEST(Cli, UnwritableOutputsAreRefusedBeforeTheWork) {
  const auto dir = test::scratch_dir("cli_outputs");
  const auto fx = test::fixture_dir();
  fs::create_directories(dir / "folder");
  std::ofstream(dir / "file") << "x";
  const auto refused = [](const Result& r, const std::string& line) {
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, "asdm: error: " + line + " (see --help)\n");
    EXPECT_EQ(r.out, "");
  };
  const std::string folder = (dir / "folder").string(), file = (dir / "file").string();
  refused(asdm({"profile", "--model", fx.string(), "-o", folder}),
          fmt::format("--output: '{}' is a folder; give the path of the file to write", folder));
  refused(asdm({"inspect", "--model", fx.string(), "--json", file + "/sub/inspect.json"}),
          fmt::format("--json: cannot write '{}/sub/inspect.json': '{}' is a file, not a folder",
                      file, file));
  refused(asdm({"build", "--teacher", fx.string(), "--preset", "tiny", "-o", file}),
          fmt::format("--output: '{}' is a file; give a folder", file));
  EXPECT_TRUE(fs::is_empty(dir / "folder"));
  // A new file in new folders, and stdout, are fine.
  const Result ok = asdm({"inspect", "--model", fx.string(), "--json", folder + "/a/b/i.json"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_TRUE(fs::is_regular_file(dir / "folder" / "a" / "b" / "i.json"));
  EXPECT_EQ(asdm({"inspect", "--model", fx.string(), "--json", "-"}).rc, 0);
}

TEST(Cli, ProfileWritesAProfileAndATrace) {
  const auto dir = test::scratch_dir("cli_profile");
  const Result r = asdm({"profile", "--model", test::config_path("tiny").string(), "--resolution",
                         "128", "--runs", "2", "--warmup", "1", "-o", (dir / "p.json").string(),
                         "--trace", (dir / "t.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("unit (by self time)"), std::string::npos);
  const auto j = read_json_file(dir / "p.json");
  EXPECT_EQ(j["artifact"], "profile");
  for (const char* f :
       {"schema_version", "git_commit", "device", "torch_version", "coverage", "overhead", "units"})
    EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ(j["units"].size(), 48u);  // every unit of the tiny SD 1.x topology
  EXPECT_TRUE(read_json_file(dir / "t.json")["traceEvents"].is_array());
}

TEST(Cli, ProfileBadInputsGiveOneLine) {
  const auto dir = test::scratch_dir("cli_profile_errors");
  const std::string cfg = test::config_path("tiny").string(), out = (dir / "p.json").string();
  expect_error(
      asdm({"profile", "--model", cfg, "-o", out, "--resolution", "100"}),
      "resolution 100 is not divisible by the UNet's downsampling factor 64 (VAE 8 x 2^3 stages)");
  expect_error(asdm({"profile", "--model", cfg, "-o", out, "--device", "tpu"}),
               "unknown device 'tpu' (known: cpu, cuda, cuda:N)");
  const Result cuda = asdm({"profile", "--model", cfg, "-o", out, "--device", "cuda"});
  EXPECT_EQ(cuda.rc, 1);
  EXPECT_EQ(cuda.err.rfind("asdm: error: device 'cuda' asked for, but ", 0), 0u) << cuda.err;
  // CUDA graphs need a device; on one, the backend must time inside the graph.
  expect_error(asdm({"profile", "--model", cfg, "-o", out, "--graphs"}),
               "--graphs needs a CUDA device (--device cuda): CUDA graphs hold GPU work; on the "
               "cpu every forward runs eagerly");
  const Result graphs =
      asdm({"profile", "--model", cfg, "-o", out, "--graphs", "--device", "cuda"});
  EXPECT_EQ(graphs.rc, 1);
  EXPECT_EQ(graphs.err.rfind("asdm: error: device 'cuda' asked for, but ", 0), 0u) << graphs.err;
  const Result backend = asdm({"profile", "--model", cfg, "-o", out, "--backend", "nvtx"});
  EXPECT_EQ(backend.rc, 2);
  EXPECT_EQ(backend.err,
            "asdm: error: --backend: 'nvtx' is not one of 'timer', 'cuda-events', 'cupti', "
            "'cuda-events,cupti' (see --help)\n");
  // A typo is named before what it left missing (CLI11 said "A subcommand is required").
  const Result typo = asdm({"profil", "--model", cfg});
  EXPECT_EQ(typo.rc, 2);
  EXPECT_EQ(typo.err,
            "asdm: error: 'profil' is not a command of 'asdm'; did you mean 'profile'? (see "
            "--help)\n");
  // Number checks: one short line (CLI11's own printed DBL_MAX's 300 digits, and "not in range"
  // for a word).
  const Result zero = asdm({"profile", "--model", cfg, "-o", out, "--runs", "0"});
  EXPECT_EQ(zero.rc, 2);
  EXPECT_EQ(zero.err, "asdm: error: --runs: must be greater than 0, got 0 (see --help)\n");
  const Result word = asdm({"profile", "--model", cfg, "-o", out, "--runs", "many"});
  EXPECT_EQ(word.err, "asdm: error: --runs: 'many' is not a number (see --help)\n");
  const Result tail = asdm({"profile", "--model", cfg, "-o", out, "--batch", "2x"});
  EXPECT_EQ(tail.err, "asdm: error: --batch: '2x' is not a number (see --help)\n");
  const Result negative = asdm({"profile", "--model", cfg, "-o", out, "--warmup", "-1"});
  EXPECT_EQ(negative.err, "asdm: error: --warmup: must be at least 0, got -1 (see --help)\n");
  EXPECT_FALSE(fs::exists(out));
}

// A CUDA backend asked for on the CPU: one warning line, and the profile is made with the timer.
TEST(Cli, ProfileFallsBackWithOneLine) {
  const auto dir = test::scratch_dir("cli_profile_fallback");
  const std::string out = (dir / "p.json").string();
  const Result r =
      asdm({"profile", "--model", test::config_path("tiny").string(), "-o", out, "--resolution",
            "64", "--runs", "1", "--warmup", "0", "--backend", "cupti"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("warning: cupti backend needs a CUDA device; the model runs on the CPU, "
                       "using the timer backend\n"),
            std::string::npos)
      << r.err;
  const auto j = read_json_file(out);
  EXPECT_EQ(j["backend"], "timer");
  EXPECT_EQ(j["requested_backend"], "cupti");
  // Both views asked for: the latency pass falls back the same way, and no kernel pass runs.
  const Result both =
      asdm({"profile", "--model", test::config_path("tiny").string(), "-o", out, "--resolution",
            "64", "--runs", "1", "--warmup", "0", "--backend", "cuda-events,cupti"});
  ASSERT_EQ(both.rc, 0) << both.err;
  EXPECT_NE(both.err.find("using the timer backend; no CUPTI kernel pass on the CPU\n"),
            std::string::npos)
      << both.err;
  const auto b = read_json_file(out);
  EXPECT_EQ(b["requested_backend"], "cuda-events,cupti");
  EXPECT_FALSE(b.contains("kernel_backend"));
  EXPECT_FALSE(b["units"][0].contains("kernel_count"));
}

// The proxy world end to end on the test world: train, resume, classifier, eval with a grid and
// with a third of the units removed; bad input is one line.
TEST(Cli, ProxyTrainClassifierAndEval) {
  const auto dir = test::scratch_dir("cli_proxy");
  const std::string model = (dir / "teacher").string(), cls = (dir / "classifier").string();
  Result r = asdm({"proxy", "train", "--world", "test", "--out", model, "--steps", "4", "--batch",
                   "4", "--checkpoint-every", "2", "--stop-after", "2", "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(model) / "model_index.json"));  // interrupted: no pipeline yet
  r = asdm({"proxy", "train", "--world", "test", "--out", model, "--steps", "4", "--batch", "4",
            "--checkpoint-every", "2", "--resume", "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(fs::path(model) / "model_index.json"));
  r = asdm({"proxy", "train-classifier", "--world", "test", "--out", cls, "--steps", "20",
            "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string out = (dir / "eval.json").string(), grid = (dir / "grid.png").string();
  r = asdm({"proxy", "eval", "--model", model, "--steps", "2", "--grid", grid, "-o", out,
            "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = read_json_file(out);
  EXPECT_EQ(j["samples"], 48);
  for (const char* k : {"mean_attribute_accuracy", "all_attributes_correct", "proxy_fid"})
    EXPECT_TRUE(j[k].is_number()) << k;
  EXPECT_TRUE(j["attribute_accuracy"].contains("shape"));
  EXPECT_TRUE(fs::exists(grid));
  r = asdm({"proxy", "eval", "--model", model, "--steps", "2", "--remove-every", "3", "-o", out,
            "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GT(read_json_file(out)["removed_units"].size(), 3u);
  expect_error(
      asdm({"proxy", "eval", "--model", cls, "-o", out}),
      cls + " is not a proxy pipeline folder (no proxy.json; make one with 'asdm proxy train')");
  const Result bad = asdm({"proxy", "train", "--world", "mnist", "--out", model});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("--world: 'mnist' is not one of 'default', 'test' ("), std::string::npos)
      << bad.err;
}

// inspect reads only the config: on SDXL (2.6 G parameters) it must not allocate weights.
TEST(Cli, InspectSdxlAllocatesNoWeights) {
  // The child's own peak (wait4), not RUSAGE_CHILDREN's: that is the largest of every child this
  // process has reaped, so it failed whenever the suite ran in one process after a bigger command.
  const auto json = test::scratch_dir("cli_inspect_sdxl") / "inspect.json";
  const pid_t pid = spawn_asdm({"--quiet", "inspect", "--model", test::config_path("sdxl").string(),
                                "--json", json.string()},
                               "/dev/null");
  int status = 0;
  rusage ru{};
  ASSERT_EQ(::wait4(pid, &status, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(read_json_file(json)["totals"]["params"], 2'567'463'684);
  EXPECT_LT(ru.ru_maxrss, 300 * 1024) << "peak RSS " << ru.ru_maxrss << " kB";
}

TEST(Cli, HelpExplainsTheCommands) {
  const Result r = asdm({"--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("inspect"), std::string::npos);
  EXPECT_NE(r.out.find("forward"), std::string::npos);
  const Result f = asdm({"forward", "--help"});
  EXPECT_NE(f.out.find("encoder_hidden_states"), std::string::npos);
  const Result none = asdm({});
  EXPECT_NE(none.rc, 0);
}

}  // namespace
}  // namespace asdm
