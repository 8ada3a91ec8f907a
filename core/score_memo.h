#pragma once
// Scores kept in a file as they are computed, so that a long search killed in the middle continues
// where it stopped when run again (asdm cache-plan search's and asdm search's grouped scores).
// A score is a pure function of its key (what was scored, e.g. the SHA-256 of a plan) and of the
// memo's identity (everything else it depends on: metric, model, prompts and their SHA-256,
// sampler); a file of another identity is not used (a line through `note` says so). Torch-free.
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace asdm {

class ScoreMemo {
 public:
  // `file` empty or `identity` empty: nothing is read or written (scores are still shared within
  // the run). `what` names the scores in the file's note ("grouped losses of cache plans").
  ScoreMemo(std::filesystem::path file, std::string identity, std::string what,
            const std::function<void(const std::string&)>& note = {});

  // The scores of `keys`: those known (from the file or earlier in this run), the rest from
  // `compute` called once with the indices of the unknown keys (it returns their scores in that
  // order); the file is rewritten after each such call.
  std::vector<double> scores(
      const std::vector<std::string>& keys,
      const std::function<std::vector<double>(const std::vector<size_t>& missing)>& compute);

  int computed() const { return computed_; }  // scores computed in this run
  int kept() const { return kept_; }          // scores asked for that the file had
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::string identity_, what_;
  std::map<std::string, double> scores_;
  std::set<std::string> loaded_;
  int computed_ = 0, kept_ = 0;
};

}  // namespace asdm
