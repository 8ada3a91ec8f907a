#include "model/checkpoint.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/model_files.h"
#include "model/tensor_io.h"
#include "tests/tensor_match.h"
#include "tests/test_env.h"
#include "tests/torch_save_bytes.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

// A tiny diffusers folder with random weights.
fs::path make_checkpoint(const std::string& name, const ArchSpec& spec) {
  const auto dir = test::scratch_dir(name);
  torch::manual_seed(11);
  UNet u(spec);
  save_unet(u, dir);
  return dir;
}

ArchSpec tiny() { return arch_from_config(load_unet_config(test::config_path("tiny"))); }

torch::Tensor run(const UNet& u) {
  torch::manual_seed(5);
  torch::NoGradGuard ng;
  return u.forward(torch::randn({1, 4, 8, 8}), torch::tensor(20), torch::randn({1, 3, 32}));
}

TEST(Checkpoint, SaveThenLoadGivesTheSameNetwork) {
  torch::manual_seed(11);
  UNet a(tiny());
  const auto dir = test::scratch_dir("ckpt_roundtrip");
  save_unet(a, dir);
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  EXPECT_FALSE(fs::exists(dir / kArchFileName));
  auto b = load_unet(dir);
  EXPECT_TRUE(test::same_to_rounding(run(a), run(*b)));
}

TEST(Checkpoint, Float32WeightsAreTheFilesOwnBytesAndTrainingThemLeavesTheFileAlone) {
  torch::manual_seed(11);
  UNet a(tiny());
  const auto dir = test::scratch_dir("ckpt_mapped");
  save_unet(a, dir);
  auto b = load_unet(dir);
  // No copy: the parameters lie back to back in one span, as the file stores them.
  EXPECT_TRUE(test::lie_back_to_back(b->module().parameters()));
  for (const auto& p : b->module().parameters()) EXPECT_TRUE(p.requires_grad());
  const auto before = run(*b);
  EXPECT_TRUE(test::same_to_rounding(before, run(a)));
  {
    torch::NoGradGuard ng;
    for (auto& p : b->module().parameters()) p.mul_(0.5);  // a training step, in place
  }
  EXPECT_FALSE(torch::equal(run(*b), before));
  EXPECT_TRUE(torch::equal(run(*load_unet(dir)), before));  // the file is as it was
  // Saving over the folder it came from leaves the loaded model as it is.
  const auto halved = run(*b);
  save_unet(*b, dir);
  EXPECT_TRUE(torch::equal(run(*b), halved));
  EXPECT_TRUE(torch::equal(run(*load_unet(dir)), halved));
}

TEST(Checkpoint, Float16FilesConvertOnLoad) {
  torch::manual_seed(11);
  UNet a(tiny());
  const auto dir = test::scratch_dir("ckpt_fp16");
  save_unet(a, dir, "float16");
  SafetensorsFile f(dir / kWeightsFileName);
  EXPECT_EQ(f.header().tensors.front().dtype, StorageDType::kF16);
  auto b = load_unet(dir);
  EXPECT_EQ(b->dtype(), "float32");
  EXPECT_TRUE(torch::allclose(run(a), run(*b), 1e-2, 1e-2));
}

TEST(Checkpoint, StudentWithRemovedUnitsRoundTripsThroughAsdmArch) {
  ArchSpec spec = tiny();
  spec.edits = {Edit::remove("down_blocks.1.attentions.0"), Edit::drop_mid()};
  const auto dir = make_checkpoint("ckpt_student", spec);
  ASSERT_TRUE(fs::exists(dir / kArchFileName));
  const auto arch = read_json_file(dir / kArchFileName);  // an artifact with DESIGN.md §8's fields
  for (const char* k : {"artifact", "schema_version", "asdm_version", "git_commit", "argv",
                        "device", "torch_version", "created"})
    EXPECT_TRUE(arch.contains(k)) << k;
  EXPECT_EQ(arch["artifact"], "arch_spec");
  EXPECT_FALSE(arch["argv"].empty());
  auto u = load_unet(dir);
  EXPECT_EQ(u->removed_units(), (std::set<std::string>{"down_blocks.1.attentions.0"}));
  EXPECT_FALSE(u->layout().mid.has_value());
}

// `u`'s config and its parameters in two shards (down_blocks in `shard1`) with their `index`, as
// diffusers writes a sharded checkpoint.
void write_sharded(const UNet& u, const fs::path& dir, const std::string& shard1,
                   const std::string& shard2, const std::string& index) {
  write_json_atomic(dir / "config.json", to_diffusers_json(u.spec().student_config()));
  TensorMap s1, s2;
  nlohmann::json wm;
  for (const auto& p : u.module().named_parameters(true)) {
    const bool first = p.key().rfind("down_blocks", 0) == 0;
    (first ? s1 : s2)[p.key()] = p.value();
    wm[p.key()] = first ? shard1 : shard2;
  }
  write_tensors(dir / shard1, s1);
  write_tensors(dir / shard2, s2);
  write_json_atomic(dir / index, {{"metadata", {{"total_size", 0}}}, {"weight_map", wm}});
}

TEST(Checkpoint, ShardedFoldersLoad) {
  torch::manual_seed(11);
  UNet a(tiny());
  const auto dir = test::scratch_dir("ckpt_sharded");
  write_sharded(a, dir, "part-1.safetensors", "part-2.safetensors", kWeightsIndexFileName);
  auto b = load_unet(dir);
  EXPECT_TRUE(test::same_to_rounding(run(a), run(*b)));
}

// `asdm --variant` for the length of a test (the setting is the process's).
struct ScopedVariant {
  explicit ScopedVariant(const std::string& v) { set_weights_variant(v); }
  ~ScopedVariant() { set_weights_variant(""); }
};

// Two parameter sets of the tiny UNet: `a` as diffusers writes it with variant="fp16" in shards
// (diffusion_pytorch_model.fp16-0000N-of-00002.safetensors and
// diffusion_pytorch_model.safetensors.index.fp16.json), `b` as the plain file beside it.
TEST(Checkpoint, VariantsAreReadAsDiffusersNamesThem) {
  torch::manual_seed(11);
  UNet a(tiny());
  torch::manual_seed(12);
  UNet b(tiny());
  const auto dir = test::scratch_dir("ckpt_variant");
  write_sharded(a, dir, "diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                "diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
                "diffusion_pytorch_model.safetensors.index.fp16.json");
  // Only the variant there: without --variant, one line naming it (diffusers fails here too).
  EXPECT_EQ(test::error_of([&] { load_unet(dir); }),
            "'" + dir.string() +
                "' has no diffusion_pytorch_model.safetensors, only the weights variant 'fp16': "
                "pick one with `asdm --variant fp16 ...`");
  {
    ScopedVariant fp16("fp16");
    EXPECT_TRUE(test::same_to_rounding(run(a), run(*load_unet(dir))));
  }
  {
    ScopedVariant ema("ema");  // a variant the folder lacks, and no plain file to fall back on
    EXPECT_EQ(
        test::error_of([&] { load_unet(dir); }),
        "'" + dir.string() +
            "' has no 'ema' variant of its weights (nor diffusion_pytorch_model.safetensors); "
            "it has 'fp16'");
  }
  {
    ScopedVariant typo("fp61");
    EXPECT_NE(test::error_of([&] { load_unet(dir); }).find("; did you mean 'fp16'?"),
              std::string::npos);
  }
  // With the plain file beside it: the plain one by default and for a variant the folder lacks
  // (as diffusers falls back), the variant when asked for.
  write_tensors(dir / kWeightsFileName, [&] {
    TensorMap t;
    for (const auto& p : b.module().named_parameters(true)) t[p.key()] = p.value();
    return t;
  }());
  EXPECT_TRUE(test::same_to_rounding(run(b), run(*load_unet(dir))));
  {
    ScopedVariant fp16("fp16");
    EXPECT_TRUE(test::same_to_rounding(run(a), run(*load_unet(dir))));
  }
  {
    ScopedVariant ema("ema");
    EXPECT_TRUE(test::same_to_rounding(run(b), run(*load_unet(dir))));
  }
  EXPECT_EQ(test::error_of([] { set_weights_variant("../fp16"); }),
            "weights variant '../fp16' may hold only letters, digits, '_' and '-' (like fp16, "
            "non_ema)");
  EXPECT_EQ(weights_variant(), "");
}

// Older repositories hold torch.save weights: diffusers' <stem>.bin and transformers'
// pytorch_model.bin (for model.safetensors), sharded or with a variant; safetensors win where both
// are there. (The .bin files' contents are read in tests/reference, from files torch wrote.)
TEST(Checkpoint, TorchSaveWeightsAreFoundWhereDiffusersLooks) {
  const auto dir = test::scratch_dir("ckpt_bin_names");
  auto touch = [&](const std::string& name) { write_file_atomic(dir / name, "x"); };
  touch("pytorch_model.bin");
  EXPECT_EQ(component_weights(dir, "model"), std::vector<fs::path>{dir / "pytorch_model.bin"});
  touch("model.safetensors");
  EXPECT_EQ(component_weights(dir, "model"), std::vector<fs::path>{dir / "model.safetensors"});
  touch("diffusion_pytorch_model.fp16.bin");
  EXPECT_EQ(test::error_of([&] { component_weights(dir, "diffusion_pytorch_model"); }),
            fmt::format("'{}' has no diffusion_pytorch_model.safetensors, only the weights variant "
                        "'fp16': pick one with `asdm --variant fp16 ...`",
                        dir.string()));
  {
    ScopedVariant fp16("fp16");
    EXPECT_EQ(component_weights(dir, "diffusion_pytorch_model"),
              std::vector<fs::path>{dir / "diffusion_pytorch_model.fp16.bin"});
  }
  nlohmann::json index;
  index["weight_map"]["a"] = "diffusion_pytorch_model-00001-of-00002.bin";
  index["weight_map"]["b"] = "diffusion_pytorch_model-00002-of-00002.bin";
  write_json_atomic(dir / "diffusion_pytorch_model.bin.index.json", index);
  touch("diffusion_pytorch_model-00001-of-00002.bin");
  touch("diffusion_pytorch_model-00002-of-00002.bin");
  EXPECT_EQ(component_weights(dir, "diffusion_pytorch_model"),
            (std::vector<fs::path>{dir / "diffusion_pytorch_model-00001-of-00002.bin",
                                   dir / "diffusion_pytorch_model-00002-of-00002.bin"}));
}

TEST(Checkpoint, ShardsAreReadTogetherAndNoTensorTwice) {
  const auto dir = test::scratch_dir("ckpt_shard_twice");
  write_tensors(dir / "a.safetensors", {{"x", torch::ones({2})}, {"y", torch::zeros({1})}});
  write_tensors(dir / "b.safetensors", {{"z", torch::ones({3})}});
  write_tensors(dir / "c.safetensors", {{"y", torch::ones({1})}});
  const TensorMap t = read_tensors(std::vector{dir / "a.safetensors", dir / "b.safetensors"});
  EXPECT_EQ(t.size(), 3u);
  EXPECT_TRUE(torch::equal(t.at("z"), torch::ones({3})));
  EXPECT_EQ(test::error_of([&] {
              read_tensors(std::vector{dir / "a.safetensors", dir / "c.safetensors"});
            }),
            "tensor 'y' appears in two shards (" + (dir / "a.safetensors").string() + " and " +
                (dir / "c.safetensors").string() + ")");
}

TEST(Checkpoint, MismatchesAreListedInOneMessage) {
  const auto dir = make_checkpoint("ckpt_mismatch", tiny());
  TensorMap t = read_tensors(dir / kWeightsFileName);
  t.erase("conv_in.bias");
  t.erase("conv_out.bias");
  t["extra.weight"] = torch::zeros({1});
  t["conv_in.weight"] = torch::zeros({16, 4, 1, 1});
  write_tensors(dir / kWeightsFileName, t);
  EXPECT_EQ(test::error_of([&] { load_unet(dir); }),
            "checkpoint " + dir.string() +
                " does not match the model: 2 missing key(s): conv_in.bias, conv_out.bias; 1 "
                "unexpected key(s): "
                "extra.weight; 1 shape mismatch(es): conv_in.weight (checkpoint [16, 4, 1, 1] vs "
                "model [16, 4, 3, 3])");
}

TEST(Checkpoint, MissingFilesAndFoldersSayWhatWasExpected) {
  const auto dir = test::scratch_dir("ckpt_missing");
  EXPECT_EQ(test::error_of([&] { load_unet(dir / "nope"); }),
            "model '" + (dir / "nope").string() + "' does not exist");
  EXPECT_EQ(
      test::error_of([&] { load_unet(dir); }),
      "'" + dir.string() + "' is not a diffusers UNet folder: no config.json there (nor in unet/)");
  fs::copy_file(test::config_path("tiny"), dir / "config.json");
  EXPECT_EQ(test::error_of([&] { load_unet(dir); }),
            "model '" + dir.string() +
                "' has no weights (expected diffusion_pytorch_model.safetensors or "
                "diffusion_pytorch_model.safetensors.index.json beside config.json)");
  LoadOptions random;
  random.allow_random_weights = true;
  EXPECT_NE(load_unet(dir, random), nullptr);
}

// A weights file where a config or folder was expected: one line saying what to give instead
// (it was "is not valid JSON (at byte 1)"). Original single files are models of their own
// (tests/model/single_file_test.cpp).
TEST(Checkpoint, AWeightsFileGivenAsTheModelSaysWhatItIs) {
  const auto dir = make_checkpoint("ckpt_weights_as_model", tiny());
  EXPECT_EQ(test::error_of([&] { locate_model(dir / kWeightsFileName); }),
            "'" + (dir / kWeightsFileName).string() +
                "' holds a diffusers UNet's weights, not a single-file checkpoint: give the "
                "folder that holds it with its config.json");
  // The same weights as torch.save writes them (a diffusers folder's older .bin): still a
  // diffusers UNet's weights, read without libtorch (model/torch_save_index.h).
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, t] : read_tensors(dir / kWeightsFileName)) tensors.emplace_back(name, t);
  const fs::path bin = dir / "diffusion_pytorch_model.bin";
  write_file_atomic(bin, test::pkl::state_dict_zip(tensors));
  EXPECT_EQ(test::error_of([&] { locate_model(bin); }),
            "'" + bin.string() +
                "' holds a diffusers UNet's weights, not a single-file checkpoint: give the "
                "folder that holds it with its config.json");
  // A .ckpt that is no torch.save file: the reader's line, naming it.
  const std::string file = (dir / "model.ckpt").string();
  write_file_atomic(file, "PK\x03\x04\x14xxxxxxxxxxxxxxxx");
  EXPECT_EQ(test::error_of([&] { locate_model(file); }),
            file + " is not a zip archive (no zip directory)");
  EXPECT_EQ(locate_model(dir / "config.json").config, dir / "config.json");
}

TEST(Checkpoint, PipelineFoldersResolveToTheirUnet) {
  const auto ckpt = make_checkpoint("ckpt_pipe_src", tiny());
  const auto pipe = test::scratch_dir("ckpt_pipeline");
  fs::copy(ckpt, pipe / "unet");
  EXPECT_EQ(locate_model(pipe).dir, pipe / "unet");
}

TEST(Checkpoint, InheritWeightsMapsDroppedLayers) {
  const auto dir = make_checkpoint("ckpt_teacher", tiny());
  auto teacher = load_unet(dir);
  ArchSpec spec = tiny();
  spec.edits = {Edit::drop_layer(1, 1), Edit::drop_layer(2, 0)};
  UNet student(spec);
  inherit_weights(student, std::vector<fs::path>{dir / kWeightsFileName});
  auto tp = teacher->module().named_parameters(true);
  auto sp = student.module().named_parameters(true);
  // Stage 1 keeps its layer 0; the mirrored up block's last layer comes from the teacher's last.
  EXPECT_TRUE(torch::equal(sp["down_blocks.1.resnets.0.conv1.weight"],
                           tp["down_blocks.1.resnets.0.conv1.weight"]));
  EXPECT_TRUE(torch::equal(sp["up_blocks.2.resnets.1.conv1.weight"],
                           tp["up_blocks.2.resnets.2.conv1.weight"]));
  // Stage 2 keeps its layer 1 as layer 0 (both 32 -> 32 wide in the tiny config).
  EXPECT_TRUE(torch::equal(sp["down_blocks.2.attentions.0.proj_in.weight"],
                           tp["down_blocks.2.attentions.1.proj_in.weight"]));
}

TEST(Checkpoint, InheritWeightsNamesKeysWithoutATeacherTensor) {
  const auto dir = make_checkpoint("ckpt_teacher2", tiny());
  ArchSpec spec = tiny();
  spec.edits = {
      Edit::drop_layer(1, 0)};  // stage 1's layer 1 (32 -> 32) cannot become its first (16 -> 32)
  UNet student(spec);
  const auto msg = test::error_of(
      [&] { inherit_weights(student, std::vector<fs::path>{dir / kWeightsFileName}); });
  EXPECT_EQ(msg.substr(0, 128),
            "the teacher checkpoint has no tensor of the right shape for 5 student key(s): "
            "down_blocks.1.resnets.0.norm1.weight "
            "(from teacher");
}

}  // namespace
}  // namespace asdm

namespace asdm {
namespace {

// BK-SDM-Tiny's shape: no mid block and no innermost stage; a stock diffusers config whose weights
// all come from the teacher.
TEST(Checkpoint, BkSdmTinyStyleStudentInheritsEveryWeight) {
  const auto dir = make_checkpoint("ckpt_bk_teacher", tiny());
  ArchSpec spec = tiny();
  spec.edits = {Edit::drop_mid(), Edit::drop_stage(3), Edit::drop_layer(0, 1)};
  ASSERT_TRUE(spec.diffusers_expressible());
  UNet student(spec);
  inherit_weights(student, std::vector<fs::path>{dir / kWeightsFileName});
  const auto out = run(student);
  EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{1, 4, 8, 8}));
  const auto saved = test::scratch_dir("ckpt_bk_student");
  save_unet(student, saved);
  EXPECT_FALSE(fs::exists(saved / kArchFileName));
  EXPECT_EQ(load_unet_config(saved / "config.json").block_out_channels,
            (std::vector<int>{16, 32, 32}));
  EXPECT_TRUE(test::same_to_rounding(run(*load_unet(saved)), out));
}

}  // namespace
}  // namespace asdm
