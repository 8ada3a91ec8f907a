#pragma once
// CMMD ("Rethinking FID", Jayasumana et al. 2024; google-research/cmmd): the squared maximum mean
// discrepancy between two sets of L2-normalised CLIP image embeddings under a Gaussian RBF kernel
// k(x, y) = exp(-|x - y|^2 / (2 sigma^2)), sigma = 10, reported times 1000:
//   1000 * (mean k(x, x') + mean k(y, y') - 2 mean k(x, y))   (all pairs, the diagonal included).
// The paper's embedding model is CLIP ViT-L/14 at 336 px; any CLIP model asdm loads can be used,
// and eval.json names it.
#include <cstdint>
#include <vector>

namespace asdm {

// x: nx rows, y: ny rows, both of `dims`. Throws asdm::Error when a set is empty.
double cmmd(const std::vector<float>& x, int64_t nx, const std::vector<float>& y, int64_t ny,
            int64_t dims, double sigma = 10.0, double scale = 1000.0);

}  // namespace asdm
