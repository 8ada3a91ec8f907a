#pragma once
// The Inception Score as torch-fidelity computes it (torch-free): the 1008 "unbiased" logits of
// the FID Inception (pool features times fc.weight, no bias), rows shuffled by
// numpy.random.RandomState(seed).permutation(n) (seed 2020), float64 softmax, `splits` (10)
// contiguous chunks [i*n/splits, (i+1)*n/splits), each exp(mean KL(p(y|x) || p(y))); the mean and
// the population standard deviation of the chunks' scores.
#include <cstdint>
#include <vector>

namespace asdm {

struct InceptionScore {
  double mean = 0, std = 0;
  int64_t n = 0;
  int splits = 0;
};

// logits: n rows of `classes`. Throws asdm::Error when n < splits.
InceptionScore inception_score(const std::vector<float>& logits, int64_t n, int64_t classes,
                               int splits = 10, bool shuffle = true, uint32_t seed = 2020);

// numpy.random.RandomState(seed).permutation(n): MT19937 seeded as numpy's legacy generator and
// its Fisher-Yates shuffle with masked rejection sampling.
std::vector<int64_t> numpy_legacy_permutation(int64_t n, uint32_t seed);

}  // namespace asdm
