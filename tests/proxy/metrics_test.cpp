// Fréchet distance against closed forms; the classifier learns the test world; the metrics
// separate clean renders from noise; the PNG grid is a PNG.
#include "proxy/metrics.h"

#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image_grid.h"
#include "proxy/classifier.h"
#include "proxy/frechet.h"
#include "proxy/pipeline.h"
#include "tests/test_env.h"

namespace asdm::proxy {
namespace {

std::vector<double> gaussian(int n, int dim, const std::vector<double>& mean,
                             const std::vector<double>& sd, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> z;
  std::vector<double> x(size_t(n) * dim);
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < dim; ++d) x[size_t(i) * dim + d] = mean[d] + sd[d] * z(g);
  return x;
}

TEST(Frechet, MatchesTheClosedFormForDiagonalGaussians) {
  // For diagonal covariances: |mu1 - mu2|^2 + sum (s1 - s2)^2 (s: standard deviations).
  const int n = 20000, dim = 3;
  const std::vector<double> m1 = {0, 1, 2}, s1 = {1, 2, 0.5}, m2 = {1, 1, 0}, s2 = {2, 2, 1.5};
  const double fd =
      frechet_distance(gaussian(n, dim, m1, s1, 1), n, gaussian(n, dim, m2, s2, 2), n, dim);
  const double closed = 1 + 0 + 4 + 1 + 0 + 1;
  EXPECT_NEAR(fd, closed, 0.1);
  // Exact on the sample moments: a set against itself is 0, against a shifted copy |shift|^2.
  auto a = gaussian(500, dim, m1, s1, 3), b = a;
  for (size_t i = 0; i < b.size(); i += dim) b[i] += 3;
  EXPECT_NEAR(frechet_distance(a, 500, a, 500, dim), 0, 1e-8);
  EXPECT_NEAR(frechet_distance(a, 500, b, 500, dim), 9, 1e-8);
  // The terms: a shift is all mean term. Doubling every feature makes the spread (the variances'
  // sum) 4x and the covariance term tr(S + 4S - 2 (4 S^2)^1/2) = tr(S), the original spread.
  const FrechetTerms shifted = frechet_terms(a, 500, b, 500, dim);
  EXPECT_NEAR(shifted.mean, 9, 1e-8);
  EXPECT_NEAR(shifted.covariance, 0, 1e-8);
  auto wide = a;
  for (double& v : wide) v *= 2;
  const FrechetTerms t = frechet_terms(a, 500, wide, 500, dim);
  EXPECT_NEAR(t.spread_b, 4 * t.spread_a, 1e-8 * t.spread_b);
  EXPECT_NEAR(t.covariance, t.spread_a, 1e-8 * t.spread_a);
  EXPECT_NEAR(t.total(), frechet_distance(a, 500, wide, 500, dim), 1e-12);
  double mean_sq = 0;  // doubling moves the mean from mu to 2 mu: mean term |mu|^2
  for (int d = 0; d < dim; ++d) {
    double mu = 0;
    for (int i = 0; i < 500; ++i) mu += a[size_t(i) * dim + d] / 500;
    mean_sq += mu * mu;
  }
  EXPECT_NEAR(t.mean, mean_sq, 1e-8);
  EXPECT_EQ(test::error_of([&] { frechet_distance(a, 1, a, 500, dim); }),
            "the Fréchet distance needs at least 2 samples per set (got 1)");
}

TEST(ProxyMetrics, ClassifierLearnsTheTestWorldAndTheMetricsDiscriminate) {
  torch::set_num_threads(1);
  const WorldSpec w = world_spec("test");
  AttributeClassifier c(w);
  AttributeClassifier::TrainOptions o;
  o.steps = 150;
  o.batch = 32;
  EXPECT_GE(c.train(o, 300), 0.98);
  const auto prompts = prompt_set(w, 1001, 48);
  std::vector<std::vector<uint8_t>> clean, noise;
  std::mt19937 g(0);
  for (size_t i = 0; i < prompts.size(); ++i) {
    clean.push_back(render(w, parse_caption(w, prompts[i]), 42, i));
    std::vector<uint8_t> im(16 * 16 * 3);
    for (auto& v : im) v = static_cast<uint8_t>(g() % 256);
    noise.push_back(im);
  }
  const EvalResult good = score_images(c, clean, prompts, 0),
                   bad = score_images(c, noise, prompts, 0);
  EXPECT_GE(good.mean_accuracy, 0.98);
  EXPECT_GE(good.all_correct, 0.95);
  EXPECT_LT(bad.mean_accuracy, 0.75);
  EXPECT_GT(bad.fid, 10 * (good.fid + 1e-3));
  // Saved and loaded, the classifier predicts the same.
  const auto dir = test::scratch_dir("proxy_classifier");
  c.save(dir);
  EXPECT_EQ(AttributeClassifier::load(dir)->predict(clean), c.predict(clean));
  // The grid is a PNG.
  write_grid_png(dir / "grid.png", clean, 16, prompts, 8, 2);
  std::ifstream in(dir / "grid.png", std::ios::binary);
  char sig[8];
  in.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
}

// Same seed and threads, same numbers: sampling noise is a function of (seed, prompt index).
TEST(ProxyMetrics, EvaluationIsDeterministic) {
  torch::set_num_threads(1);
  const WorldSpec w = world_spec("test");
  const ProxyPipeline p = ProxyPipeline::create(w, 3);
  AttributeClassifier c(w);
  AttributeClassifier::TrainOptions to;
  to.steps = 5;
  c.train(to, 10);
  const auto prompts = prompt_set(w, 1001, 12);
  EvalOptions o;
  o.sampler.steps = 3;
  o.batch = 5;
  const EvalResult a = evaluate(p, c, prompts, o), b = evaluate(p, c, prompts, o);
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.fid, b.fid);
  EXPECT_EQ(a.accuracy, b.accuracy);
  o.seed = 1;
  EXPECT_NE(evaluate(p, c, prompts, o).images, a.images);
}

}  // namespace
}  // namespace asdm::proxy
