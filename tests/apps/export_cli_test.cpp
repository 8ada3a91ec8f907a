// asdm export end to end: a BK-SDM preset student (a pipeline) exported as a plain diffusers folder
// and as a single file holds the same tensors and computes the same; students without a stock form,
// unknown formats, folders that are not students and weights that do not match their architecture
// are refused with one line, and nothing is written. The diffusers side (from_pretrained,
// from_single_file, the asdm_diffusers package) is checked by python/tests/.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/single_file.h"
#include "model/unet.h"
#include "tests/apps/cli_helpers.h"
#include "tests/apps/proxy_forward.h"
#include "tests/tensor_match.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(ExportCli, PresetStudentAsPlainDiffusersFolderAndSingleFile) {
  torch::set_num_threads(1);
  const ProxySetup s = make_proxy_setup("export_cli", 2);
  const fs::path student = s.dir / "student";
  Result r = asdm({"-q", "build", "--teacher", s.pipeline.string(), "--preset", "small", "-o",
                   student.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("routes out of asdm (asdm export): stock diffusers, single file"),
            std::string::npos)
      << r.out;
  const fs::path out = s.dir / "exported";
  r = asdm({"export", "--student", student.string(), "--format", "diffusers", "-o", out.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "model_index.json"));  // a pipeline student stays a pipeline
  EXPECT_TRUE(fs::exists(out / "text_encoder"));
  EXPECT_FALSE(fs::exists(out / "schedule.json"));
  EXPECT_FALSE(fs::exists(out / "unet" / "asdm_arch.json"));
  EXPECT_EQ(read_json_file(out / "unet" / "config.json").at("mid_block_type"), nullptr);
  const auto a = load_unet(student / "unet"), b = load_unet(out / "unet");
  EXPECT_TRUE(test::same_to_rounding(test::proxy_unet_forward(*a), test::proxy_unet_forward(*b)));

  const fs::path file = s.dir / "student.safetensors";
  r = asdm(
      {"export", "--student", student.string(), "--format", "single-file", "-o", file.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  const SafetensorsFile sf(file);
  EXPECT_EQ(sf.header().tensors.size(), b->module().named_parameters(true).size());
  for (const auto& t : sf.header().tensors)
    EXPECT_EQ(t.name.rfind("model.diffusion_model.", 0), 0u) << t.name;
  EXPECT_NE(sf.header().find("model.diffusion_model.input_blocks.1.0.in_layers.0.weight"), nullptr);
  // asdm reads its own export back as a model: the config rides in the file's metadata.
  EXPECT_EQ(sf.header().metadata.count(kSingleFileConfigKey), 1u);
  EXPECT_TRUE(test::same_to_rounding(test::proxy_unet_forward(*load_unet(file)),
                                     test::proxy_unet_forward(*b)));
  // An existing output is not overwritten.
  expect_error(asdm({"export", "--student", student.string(), "--format", "single-file", "-o",
                     file.string()}),
               file.string() + " exists; give a new output");
  // An output under a file is one line of ours, not the file system library's.
  expect_error(asdm({"export", "--student", student.string(), "--format", "single-file", "-o",
                     (file / "x.safetensors").string()}),
               fmt::format("cannot write '{0}/x.safetensors': '{0}' is a file, not a folder",
                           file.string()));
}

TEST(ExportCli, RefusalsAreOneLineAndWriteNothing) {
  const ProxySetup s = make_proxy_setup("export_cli_refuse", 2);
  const fs::path student = build_student(s, {"down_blocks.1.resnets.1"});
  const fs::path out = s.dir / "out";
  expect_error(
      asdm({"export", "--student", student.string(), "--format", "diffusers", "-o", out.string()}),
      student.string() +
          " has no stock diffusers form (edit remove down_blocks.1.resnets.1: a removed ResBlock "
          "keeps its shortcut, which no stock block has); load it with asdm_diffusers (python/) "
          "instead");
  const Result unknown =
      asdm({"export", "--student", student.string(), "--format", "onnx", "-o", out.string()});
  EXPECT_NE(unknown.rc, 0);
  EXPECT_NE(unknown.err.find("onnx"), std::string::npos) << unknown.err;
  const Result not_student = asdm(
      {"export", "--student", s.prompts.string(), "--format", "diffusers", "-o", out.string()});
  EXPECT_EQ(not_student.rc, 1);
  EXPECT_EQ(not_student.err.rfind("asdm: error: ", 0), 0u);
  EXPECT_EQ(std::count(not_student.err.begin(), not_student.err.end(), '\n'), 1);
  // Weights that do not match the architecture: one more removal in asdm_arch.json.
  auto arch = read_json_file(student / "unet" / "asdm_arch.json");
  arch["edits"].push_back({{"op", "remove"}, {"unit", "down_blocks.0.resnets.0"}});
  write_json_atomic(student / "unet" / "asdm_arch.json", arch);
  const Result mismatch =
      asdm({"export", "--student", student.string(), "--format", "diffusers", "-o", out.string()});
  EXPECT_EQ(mismatch.rc, 1);
  EXPECT_NE(mismatch.err.find("the weights do not match its asdm_arch.json"), std::string::npos)
      << mismatch.err;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(s.dir))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();
}

}  // namespace
}  // namespace asdm
