// The pipeline parts against transformers and diffusers
// (tests/reference/make_pipeline_reference.py, run by CTest first): tokenizer ids exactly, text
// encoders and the VAE within 1e-4 + 1e-4 * max|ref|, whole tiny SD and SDXL pipelines' images
// within 1e-3.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/zip.h"
#include "model/model_files.h"
#include "model/single_file.h"
#include "model/tensor_io.h"
#include "sd/clip_text.h"
#include "sd/clip_tokenizer.h"
#include "sd/convert.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

std::filesystem::path ref_dir() { return test::binary_dir() / "reference" / "pipeline"; }

void expect_close(const at::Tensor& got, const at::Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.sizes(), ref.sizes()) << what;
  const double tol = 1e-4 + 1e-4 * ref.abs().max().item<double>();
  const double diff = (got.to(torch::kFloat32) - ref).abs().max().item<double>();
  ::testing::Test::RecordProperty(what + " max_abs_diff", std::to_string(diff));
  EXPECT_LE(diff, tol) << what;
}

class TokenizerReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerReference, IdsMatchTransformersExactly) {
  const auto cases_file = ref_dir() / "tokenizer_cases.json";
  ASSERT_TRUE(std::filesystem::exists(cases_file))
      << "run reference.generate_pipeline first (a CTest fixture)";
  const auto cases = read_json_file(cases_file);
  const auto tok = ClipTokenizer::load(ref_dir() / "tokenizers" / GetParam());
  const auto& prompts = cases["prompts"];
  const auto& ids = cases["ids"][GetParam()];
  ASSERT_EQ(prompts.size(), ids.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto want = ids[i].get<std::vector<int64_t>>();
    EXPECT_EQ(tok.encode_padded(prompts[i].get<std::string>()), want)
        << "prompt " << i << ": " << prompts[i].dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Files, TokenizerReference, ::testing::Values("eot", "bang", "json"),
                         [](const auto& info) { return info.param; });

TEST(TextEncoderReference, HiddenStatesAndPooledOutputsMatch) {
  const TensorMap ref = read_tensors(ref_dir() / "text_encoders.safetensors");
  torch::InferenceMode guard;
  const at::Tensor ids = ref.at("ids");
  for (const std::string name : {"clip", "clip_proj"}) {
    const auto model = ClipTextModel::load(ref_dir() / "text_encoders" / name);
    at::Tensor pooled;
    const at::Tensor last = model->encode(ids, 0, true, &pooled);
    expect_close(last, ref.at(name + ".last"), name + " last hidden state");
    expect_close(pooled, ref.at(name + ".pooled"), name + " pooled");
    expect_close(model->encode(ids, 1, false), ref.at(name + ".penultimate"),
                 name + " hidden_states[-2]");
    expect_close(model->forward(ids), ref.at(name + ".last"), name + " forward");
  }
}

TEST(VaeReference, DecoderAndEncoderMatch) {
  const TensorMap ref = read_tensors(ref_dir() / "vae_io.safetensors");
  const auto vae = Vae::load(ref_dir() / "vae");
  torch::InferenceMode guard;
  expect_close(vae->decode(ref.at("latents")), ref.at("decoded"), "decoded");
  expect_close(vae->encode(ref.at("image")), ref.at("encoded"), "encoded mean");
}

// The same VAE as diffusers before 0.14 saved it (query/key/value/proj_attn in the mid blocks, a
// .bin): renamed on load as diffusers renames them.
TEST(VaeReference, DeprecatedAttentionNamesAreRead) {
  const TensorMap ref = read_tensors(ref_dir() / "vae_io.safetensors");
  const auto vae = Vae::load(ref_dir() / "vae_deprecated");
  torch::InferenceMode guard;
  expect_close(vae->decode(ref.at("latents")), ref.at("decoded"), "decoded");
}

class PipelineReference : public ::testing::TestWithParam<std::string> {};

// The settings make_pipeline_reference.py sampled each family's images with.
GenerateOptions reference_options(const std::string& family) {
  GenerateOptions o;
  o.prompts = {"a photo of an astronaut riding a horse", "Hello, world!!"};
  o.steps = 4;
  o.guidance = family == "sd" ? 7.5 : 5.0;
  if (family == "sd") o.negative_prompts = {"", "blurry"};
  return o;
}

TEST_P(PipelineReference, ImagesMatchTheDiffusersPipeline) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto pipe = SdPipeline::load(ref_dir() / GetParam());
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  const auto result = pipe->generate(o, ref.at("noise"));
  const at::Tensor want = ref.at("images");
  ASSERT_EQ(result.images.sizes(), want.sizes());
  const double diff = (result.images - want).abs().max().item<double>();
  RecordProperty("image max_abs_diff", std::to_string(diff));
  EXPECT_LE(diff, 1e-3);
  EXPECT_GT(want.std().item<double>(), 0.01) << "a flat reference image would test nothing";
}

// The same pipelines as original single-file checkpoints (make_pipeline_reference.py's
// to_single_file, which diffusers' from_single_file reads back exactly), with the folder as
// --config.
TEST_P(PipelineReference, SingleFileCheckpointGivesTheFoldersImages) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto folder = SdPipeline::load(ref_dir() / GetParam());
  const auto single = SdPipeline::load(ref_dir() / (GetParam() + ".safetensors"), "cpu", "float32",
                                       ref_dir() / GetParam());
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  const auto a = single->generate(o, ref.at("noise"));
  EXPECT_TRUE(torch::equal(a.images, folder->generate(o, ref.at("noise")).images));
  EXPECT_LE((a.images - ref.at("images")).abs().max().item<double>(), 1e-3);
}

// The same single files as torch.save wrote them (make_pipeline_reference.py's to_ckpt_files):
// {"state_dict", "global_step", "epoch"}, which diffusers' from_single_file reads, and a full
// training checkpoint (every tensor a view of one shared storage, some transposed; an EMA copy,
// optimizer state and a pickled Lightning callback, which torch.load(weights_only=True) refuses).
TEST_P(PipelineReference, TorchSaveCheckpointsGiveTheFoldersImages) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto folder = SdPipeline::load(ref_dir() / GetParam());
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  const at::Tensor want = folder->generate(o, ref.at("noise")).images;
  for (const std::string suffix : {".ckpt", "_lightning.ckpt"}) {
    const auto ckpt = SdPipeline::load(ref_dir() / (GetParam() + suffix), "cpu", "float32",
                                       ref_dir() / GetParam());
    EXPECT_TRUE(torch::equal(ckpt->generate(o, ref.at("noise")).images, want)) << suffix;
  }
  // Damaged bytes in a tensor the pipeline uses are a CRC error naming the file and the tensor.
  const auto dir = test::scratch_dir("torch_save_damaged");
  const auto damaged = dir / "damaged.ckpt";
  std::string bytes = read_text_file(ref_dir() / (GetParam() + "_lightning.ckpt"));
  uint64_t at = 0, size = 0;  // the largest member: the storage every state dict tensor views
  for (const auto& e : zip_directory(bytes, damaged.string()))
    if (e.size > size) at = e.data_offset, size = e.size;
  bytes[at + size / 2] ^= 0x40;
  write_file_atomic(damaged, bytes);
  const std::string error =
      test::error_of([&] { SdPipeline::load(damaged, "cpu", "float32", ref_dir() / GetParam()); });
  EXPECT_EQ(error.rfind(damaged.string() + ": the storage of tensor '", 0), 0u) << error;
  EXPECT_NE(error.find("' fails its CRC-32 check (the file is damaged)"), std::string::npos)
      << error;
}

// `asdm --ema`: a training checkpoint's UNet from its EMA copy (model_ema.*, diffusers'
// extract_ema naming, checked by make_pipeline_reference.py with diffusers' own converter) gives
// the images of a file holding those values as its main weights; a file without one says so.
TEST_P(PipelineReference, EmaCopyOfATrainingCheckpointIsReadWithEma) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const GenerateOptions o = reference_options(GetParam());
  struct ScopedEma {
    ScopedEma() { set_single_file_ema(true); }
    ~ScopedEma() { set_single_file_ema(false); }
  } ema;
  torch::InferenceMode guard;
  auto load = [&](const std::string& file) {
    return SdPipeline::load(ref_dir() / file, "cpu", "float32", ref_dir() / GetParam());
  };
  const at::Tensor want = [&] {
    set_single_file_ema(false);
    const auto images = load(GetParam() + "_ema_as_main.safetensors")->generate(o, ref.at("noise"));
    set_single_file_ema(true);
    return images.images;
  }();
  EXPECT_TRUE(torch::equal(
      load(GetParam() + "_lightning.ckpt")->generate(o, ref.at("noise")).images, want));
  EXPECT_EQ(test::error_of([&] { load(GetParam() + ".ckpt"); }),
            fmt::format("'{}' holds no EMA copy of its UNet (model_ema.* tensors) for --ema",
                        (ref_dir() / (GetParam() + ".ckpt")).string()));
}

// An fp8 single file (float8_e4m3fn, as the community ships SDXL) gives the images of the same
// values in float32: read, then converted on load.
TEST_P(PipelineReference, Fp8SingleFileGivesItsValuesImages) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  auto images = [&](const std::string& file) {
    return SdPipeline::load(ref_dir() / file, "cpu", "float32", ref_dir() / GetParam())
        ->generate(o, ref.at("noise"))
        .images;
  };
  EXPECT_TRUE(torch::equal(images(GetParam() + "_fp8.safetensors"),
                           images(GetParam() + "_fp8_upcast.safetensors")));
}

// asdm convert: the single files (safetensors, and the full training .ckpt) as pipeline folders
// that give the folder's images, with the config folder's files byte for byte. diffusers' reading
// of the converted folders is checked by convert_check.py.
TEST_P(PipelineReference, ConvertedSingleFilesAreTheFolder) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto folder = SdPipeline::load(ref_dir() / GetParam());
  const GenerateOptions o = reference_options(GetParam());
  const auto dir = test::scratch_dir("convert_" + GetParam());
  torch::InferenceMode guard;
  const at::Tensor want = folder->generate(o, ref.at("noise")).images;
  for (const std::string suffix : {".safetensors", "_lightning.ckpt"}) {
    ConvertOptions c;
    c.model = ref_dir() / (GetParam() + suffix);
    c.config = ref_dir() / GetParam();
    c.output = dir / ("out" + suffix);
    const ConvertResult r = convert_single_file(c);
    EXPECT_EQ(r.family, GetParam() == "sd" ? "SD 1.x" : "SDXL");
    EXPECT_TRUE(torch::equal(SdPipeline::load(c.output)->generate(o, ref.at("noise")).images, want))
        << suffix;
    for (const char* f :
         {"model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
          "scheduler/scheduler_config.json", "tokenizer/tokenizer.json"})
      EXPECT_EQ(read_text_file(c.output / f), read_text_file(c.config / f)) << f;
    EXPECT_EQ(test::error_of([&] { convert_single_file(c); }),
              fmt::format("{} exists; give a new output folder", c.output.string()));
  }
  ConvertOptions c;
  c.model = ref_dir() / GetParam();
  c.config = ref_dir() / GetParam();
  c.output = dir / "from_folder";
  EXPECT_EQ(test::error_of([&] { convert_single_file(c); }),
            fmt::format("'{}' is not a single-file checkpoint (a .safetensors or .ckpt file); a "
                        "pipeline folder needs no converting",
                        c.model.string()));
  EXPECT_FALSE(std::filesystem::exists(c.output));
}

// The same pipelines with torch.save weights, as older repositories hold them
// (make_pipeline_reference.py's save_bin): the UNet and VAE in diffusers' sharded .bin files, the
// text encoders in transformers 4's pytorch_model.bin.
TEST_P(PipelineReference, TorchSaveWeightsFolderGivesTheFoldersImages) {
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto folder = SdPipeline::load(ref_dir() / GetParam());
  const auto bin = SdPipeline::load(ref_dir() / (GetParam() + "_bin"));
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  EXPECT_TRUE(torch::equal(bin->generate(o, ref.at("noise")).images,
                           folder->generate(o, ref.at("noise")).images));
}

// The same pipelines as diffusers saves a variant in shards (save_pretrained(variant="fp16",
// max_shard_size="100KB"): every component's weights in fp16-named shards with their
// *.safetensors.index.fp16.json). `asdm --variant fp16` reads them to the folder's images; without
// it, one line naming the variant.
TEST_P(PipelineReference, ShardedVariantFolderGivesTheFoldersImages) {
  const std::filesystem::path dir = ref_dir() / (GetParam() + "_fp16_sharded");
  EXPECT_EQ(test::error_of([&] { SdPipeline::load(dir); }),
            fmt::format("'{}' has no model.safetensors, only the weights variant 'fp16': pick one "
                        "with `asdm --variant fp16 ...`",
                        (dir / "text_encoder").string()));
  struct ScopedVariant {
    ScopedVariant() { set_weights_variant("fp16"); }
    ~ScopedVariant() { set_weights_variant(""); }
  } fp16;
  const TensorMap ref = read_tensors(ref_dir() / (GetParam() + "_io.safetensors"));
  const auto folder = SdPipeline::load(ref_dir() / GetParam());
  const auto sharded = SdPipeline::load(dir);
  const GenerateOptions o = reference_options(GetParam());
  torch::InferenceMode guard;
  EXPECT_TRUE(torch::equal(sharded->generate(o, ref.at("noise")).images,
                           folder->generate(o, ref.at("noise")).images));
}

// SDXL's VAE overflows in float16: a float16 SDXL pipeline keeps its VAE in float32 when the VAE's
// config says force_upcast (what diffusers writes by default), as diffusers' SDXL pipeline upcasts
// it before decoding; SD 1.x pipelines do not upcast (diffusers' do not either), nor does bfloat16.
TEST(PipelineDtypes, Float16SdxlPipelinesKeepTheirVaeInFloat32) {
  auto vae_dtype = [](const std::filesystem::path& dir, const std::string& dtype) {
    const auto p = SdPipeline::load(dir, "cpu", dtype);
    return p->vae().module().parameters().front().scalar_type();
  };
  ASSERT_TRUE(
      read_json_file(ref_dir() / "sdxl" / "vae" / "config.json").value("force_upcast", false));
  EXPECT_EQ(vae_dtype(ref_dir() / "sdxl", "float16"), torch::kFloat32);
  EXPECT_EQ(vae_dtype(ref_dir() / "sdxl", "bfloat16"), torch::kBFloat16);
  EXPECT_EQ(vae_dtype(ref_dir() / "sd", "float16"), torch::kFloat16);
  const auto dir = test::scratch_dir("pipeline-fp16-vae");
  std::filesystem::copy(
      ref_dir() / "sdxl", dir,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  auto config = read_json_file(dir / "vae" / "config.json");
  config["force_upcast"] = false;  // an fp16-safe VAE (madebyollin's sdxl-vae-fp16-fix says so)
  write_json_atomic(dir / "vae" / "config.json", config);
  EXPECT_EQ(vae_dtype(dir, "float16"), torch::kFloat16);
}

INSTANTIATE_TEST_SUITE_P(Families, PipelineReference, ::testing::Values("sd", "sdxl"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace asdm
