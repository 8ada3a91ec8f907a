// eval/ against the metric packages themselves (tests/reference/make_eval_reference.py, run by
// CTest first): the same random-valued weights files and the same images give asdm's Inception
// features within 1e-4 relative (pytorch-fid, clean-fid and torch-fidelity preprocessing), FID
// within 1e-3 in each mode, IS within 1e-3, CLIP scores within 1e-4 (torchmetrics with a
// transformers CLIPModel, and open_clip), CMMD within 1e-3; .npz statistics both ways.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "eval/clip_scorer.h"
#include "eval/cmmd.h"
#include "eval/fid.h"
#include "eval/images.h"
#include "eval/inception.h"
#include "eval/inception_score.h"
#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

fs::path ref_dir() { return test::binary_dir() / "reference" / "eval"; }

class EvalReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(ref_dir() / "reference.json"))
        << "run reference.generate_eval first (a CTest fixture)";
    ref_ = new nlohmann::json(read_json_file(ref_dir() / "reference.json"));
    features_ = new TensorMap(read_tensors(ref_dir() / "features.safetensors"));
    std::string versions;
    for (const auto& [k, v] : (*ref_)["versions"].items())
      versions += k + " " + v.get<std::string>() + ", ";
    std::printf("reference packages: %s\n", versions.c_str());
    ::testing::Test::RecordProperty("reference_versions", versions);
  }
  static void TearDownTestSuite() {
    delete ref_;
    delete features_;
  }
  static double ref(const std::string& key) { return (*ref_)[key].get<double>(); }
  static const at::Tensor& feature(const std::string& key) { return features_->at(key); }
  static std::vector<fs::path> files(const std::string& set, size_t n = 0) {
    auto f = list_images(ref_dir() / "images" / set);
    if (n) f.resize(n);
    return f;
  }
  // The CLIP folder `other` gives the reference folder's image and text embeddings, bit for bit.
  // Returns it for further checks.
  static std::unique_ptr<ClipScorer> expect_same_embeddings_as_clip(const std::string& other) {
    torch::InferenceMode guard;
    const auto whole = ClipScorer::load(ref_dir() / "clip");
    auto scorer = ClipScorer::load(ref_dir() / other);
    const auto a = read_images(files("a", 4));
    EXPECT_TRUE(torch::equal(scorer->image_embeddings(a), whole->image_embeddings(a)));
    EXPECT_TRUE(
        torch::equal(scorer->text_embeddings(captions(4)), whole->text_embeddings(captions(4))));
    return scorer;
  }
  static std::vector<std::string> captions(size_t n) {
    std::vector<std::string> out;
    std::string text = read_text_file(ref_dir() / "captions.txt");
    size_t at = 0;
    while (out.size() < n) {
      const size_t nl = text.find('\n', at);
      out.push_back(text.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  }
  static nlohmann::json* ref_;
  static TensorMap* features_;
};
nlohmann::json* EvalReference::ref_ = nullptr;
TensorMap* EvalReference::features_ = nullptr;

void expect_close(const at::Tensor& got, const at::Tensor& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double scale = want.abs().max().item<double>();
  const double diff = (got.to(torch::kFloat32) - want).abs().max().item<double>();
  ::testing::Test::RecordProperty(what + " max_abs_diff", std::to_string(diff));
  EXPECT_LE(diff, rel * scale) << what << ": max |diff| " << diff << ", max |ref| " << scale;
}

void expect_rel(double got, double want, double rel, const std::string& what) {
  ::testing::Test::RecordProperty(what, std::to_string(got) + " vs " + std::to_string(want));
  EXPECT_NEAR(got, want, rel * std::abs(want)) << what;
}

GaussianStats stats64(const FidInception& net, const std::string& set, InceptionPreprocess p) {
  StatsAccumulator acc(64);
  const auto all = read_images(list_images(ref_dir() / "images" / set));
  for (int64_t i = 0; i < all.size(0); i += 24) {
    at::Tensor pool;
    net.forward(all.slice(0, i, i + 24), p, 64, {&pool, nullptr});
    acc.add(pool.contiguous().data_ptr<float>(), pool.size(0));
  }
  return acc.finish(set);
}

TEST_F(EvalReference, InceptionFeaturesMatchEachPackage) {
  torch::InferenceMode guard;
  const auto net = FidInception::load(ref_dir() / "inception.pth");
  EXPECT_EQ(net->sha256().size(), 64u);
  const auto a = read_images(files("a", 6)), b = read_images(files("b", 6));
  at::Tensor pool, logits;
  net->forward(a, InceptionPreprocess::kPytorchFid, 2048, {&pool, nullptr});
  expect_close(pool, feature("pytorch_fid.a.2048"), 1e-4, "pytorch-fid 2048-d features");
  net->forward(a, InceptionPreprocess::kTorchFidelity, 2048, {&pool, &logits});
  expect_close(pool, feature("torch_fidelity.a.2048"), 1e-4, "torch-fidelity 2048-d features");
  expect_close(logits, feature("torch_fidelity.a.logits"), 1e-4, "torch-fidelity unbiased logits");
  expect_close(net->preprocess(b, InceptionPreprocess::kClean), feature("clean_fid.b.input"), 1e-5,
               "clean-fid resized input");
  net->forward(b, InceptionPreprocess::kClean, 2048, {&pool, nullptr});
  expect_close(pool, feature("clean_fid.b.2048"), 1e-4, "clean-fid 2048-d features");
  // The same tensors from the pre-1.6 torch.save format and from safetensors.
  const auto two = a.slice(0, 0, 2);
  at::Tensor want;
  net->forward(two, InceptionPreprocess::kPytorchFid, 2048, {&want, &logits});
  const at::Tensor want_logits = logits;
  for (const char* other : {"inception_legacy.pth", "inception.safetensors"}) {
    at::Tensor got;
    FidInception::load(ref_dir() / other)
        ->forward(two, InceptionPreprocess::kPytorchFid, 2048, {&got, &logits});
    EXPECT_TRUE(torch::equal(got, want)) << other;
    EXPECT_TRUE(torch::equal(logits, want_logits)) << other;
  }
}

TEST_F(EvalReference, FidMatchesEachPackageAndNpzStatisticsGoBothWays) {
  torch::InferenceMode guard;
  const auto net = FidInception::load(ref_dir() / "inception.pth");
  GaussianStats a, b;
  for (const auto& [mode, key] : std::vector<std::pair<InceptionPreprocess, std::string>>{
           {InceptionPreprocess::kClean, "clean_fid.fid64"},
           {InceptionPreprocess::kTorchFidelity, "torch_fidelity.fid64"},
           {InceptionPreprocess::kPytorchFid, "pytorch_fid.fid64"}}) {
    a = stats64(*net, "a", mode);
    b = stats64(*net, "b", mode);
    expect_rel(frechet_distance(a, b), ref(key), 1e-3, key);
  }
  // pytorch-fid's own .npz (savez_compressed) read by asdm; asdm's read by pytorch-fid.
  const GaussianStats theirs = read_fid_stats(ref_dir() / "pytorch_fid_a64.npz");
  ASSERT_EQ(theirs.dims(), 64);
  expect_rel(frechet_distance(theirs, b), ref("pytorch_fid.fid64"), 1e-3,
             "FID against pytorch-fid's npz");
  const auto dir = test::scratch_dir("eval-npz-both-ways");
  write_fid_stats(dir / "a.npz", a);
  write_fid_stats(dir / "b.npz", b);
  const std::string cmd =
      test::python().string() +
      " -c \"import numpy as np, sys; from pytorch_fid.fid_score import "
      "calculate_frechet_distance as f; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); "
      "print(float(f(a['mu'], a['sigma'], b['mu'], b['sigma'])))\" " +
      (dir / "a.npz").string() + " " + (dir / "b.npz").string() + " > " +
      (dir / "out.txt").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const double theirs_on_ours = std::stod(read_text_file(dir / "out.txt"));
  expect_rel(frechet_distance(a, b), theirs_on_ours, 1e-3, "pytorch-fid on asdm's npz files");
  expect_rel(theirs_on_ours, ref("pytorch_fid.fid64"), 1e-3,
             "pytorch-fid on asdm's npz vs its own");
}

TEST_F(EvalReference, InceptionScoreMatchesTorchFidelity) {
  const auto perm = numpy_legacy_permutation(72, 2020);
  EXPECT_EQ(perm, (*ref_)["numpy_permutation_72_seed2020"].get<std::vector<int64_t>>());
  const at::Tensor s = feature("synthetic.logits").contiguous();
  const std::vector<float> logits(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
  const auto is = inception_score(logits, s.size(0), s.size(1));
  expect_rel(is.mean, ref("torch_fidelity.synthetic_isc_mean"), 1e-6, "IS of synthetic logits");
  expect_rel(is.std, ref("torch_fidelity.synthetic_isc_std"), 1e-5, "IS std of synthetic logits");
  torch::InferenceMode guard;
  const auto net = FidInception::load(ref_dir() / "inception.pth");
  at::Tensor out;
  net->forward(read_images(list_images(ref_dir() / "images" / "is")),
               InceptionPreprocess::kTorchFidelity, 2048, {nullptr, &out});
  out = out.contiguous();
  const auto images_is = inception_score(
      std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel()), out.size(0),
      out.size(1));
  expect_rel(images_is.mean, ref("torch_fidelity.isc_mean"), 1e-3, "IS of is/");
  expect_rel(images_is.std, ref("torch_fidelity.isc_std"), 1e-3, "IS std of is/");
}

TEST_F(EvalReference, ClipScoreMatchesTorchmetricsAndOpenClip) {
  torch::InferenceMode guard;
  const auto a = read_images(files("a", 4)), b = read_images(files("b", 4));
  for (const std::string flavour : {"clip", "open_clip"}) {
    SCOPED_TRACE(flavour);
    const auto scorer = ClipScorer::load(ref_dir() / flavour);
    EXPECT_EQ(scorer->flavour(), flavour == "clip" ? "transformers" : "open_clip");
    expect_close(torch::cat({scorer->preprocess(a), scorer->preprocess(b)}),
                 feature(flavour + ".pixels"), 1e-5, flavour + " pixels");
    const at::Tensor img = torch::cat({scorer->image_embeddings(a), scorer->image_embeddings(b)});
    const at::Tensor txt = scorer->text_embeddings(captions(8));
    expect_close(img, feature(flavour + ".image"), 1e-4, flavour + " image embeddings");
    expect_close(txt, feature(flavour + ".text"), 1e-4, flavour + " text embeddings");
    expect_rel(clip_score(img, txt),
               ref(flavour == "clip" ? "torchmetrics.clip_score" : "open_clip.clip_score"), 1e-4,
               flavour + " CLIP score");
  }
}

// The same CLIPModel as transformers saves it in shards (model-0000N-of-0000M.safetensors and
// model.safetensors.index.json): the same embeddings; its identity digests every shard.
TEST_F(EvalReference, ShardedClipFolderGivesTheSameEmbeddings) {
  const auto sharded = expect_same_embeddings_as_clip("clip_sharded");
  EXPECT_EQ(sharded->sha256().size(), 64u);
  EXPECT_NE(sharded->sha256(), ClipScorer::load(ref_dir() / "clip")->sha256());
}

// transformers 4's pytorch_model.bin (older CLIP repositories): the same embeddings.
TEST_F(EvalReference, TorchSaveClipFolderGivesTheSameEmbeddings) {
  expect_same_embeddings_as_clip("clip_bin");
}

TEST_F(EvalReference, CmmdMatchesTheReferenceFormula) {
  torch::InferenceMode guard;
  const auto scorer = ClipScorer::load(ref_dir() / "clip");
  const at::Tensor x = scorer->image_embeddings(read_images(files("a", 24))).contiguous();
  const at::Tensor y = scorer->image_embeddings(read_images(files("b", 24))).contiguous();
  auto vec = [](const at::Tensor& t) {
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  };
  expect_rel(cmmd(vec(x), 24, vec(y), 24, x.size(1)), ref("cmmd.a24_b24"), 1e-3, "CMMD");
}

}  // namespace
}  // namespace asdm
