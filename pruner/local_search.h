#pragma once
// One round of the refinements' greedy local search (pruner/refine.h for removal sets,
// pruner/plan_refine.h for cache plans), torch-free: the moves in their order, `per_round` of the
// unscored ones scored together (moves whose result is already scored count at once), batch after
// batch until one holds a move better than `best` or no evaluations are left. Internal to pruner/.
#include <algorithm>
#include <cstddef>
#include <map>
#include <vector>

namespace asdm {

// `key(i)`: move i's result; `cache`: the scores so far, which `evaluate(keys)` extends; `left()`:
// the evaluations still allowed. Returns the index of the best move that improves on `best` (then
// `best` is its score), or -1.
template <class Key, class KeyOf, class Left, class Evaluate>
std::ptrdiff_t first_improving(size_t moves, const KeyOf& key, const std::map<Key, double>& cache,
                               int per_round, const Left& left, const Evaluate& evaluate,
                               double& best) {
  std::ptrdiff_t found = -1;
  size_t at = 0;
  while (at < moves && found < 0) {
    std::vector<size_t> batch;
    std::vector<Key> fresh;
    size_t scan = at;
    for (; scan < moves; ++scan) {
      if (!cache.count(key(scan))) {
        if (int(fresh.size()) >= std::min(per_round, left())) break;
        fresh.push_back(key(scan));
      }
      batch.push_back(scan);
    }
    if (batch.empty()) break;  // the evaluation budget is spent
    evaluate(fresh);
    for (size_t i : batch) {
      const double l = cache.at(key(i));
      if (l < best) {
        best = l;
        found = std::ptrdiff_t(i);
      }
    }
    at = scan;
  }
  return found;
}

}  // namespace asdm
