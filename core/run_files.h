#pragma once
// Files of long, resumable runs and their outputs (training, build, incubation): a checkpoint
// folder replaced as a whole, a JSON-lines log cut back to the checkpoint a resumed run starts
// from, and a pipeline folder's other components copied beside a new UNet.
#include <filesystem>
#include <set>
#include <string>

namespace asdm {

// Replaces `dst` by the complete folder `fresh` (written beside it): the old folder is moved to
// "<dst>.old" first and removed last, so a crash leaves either the old or the new folder whole.
void replace_folder(const std::filesystem::path& fresh, const std::filesystem::path& dst);

// Keeps the lines of a JSON-lines file whose number `key` is at most `max` (unparseable lines are
// dropped); rewrites it atomically. No-op when the file does not exist.
void truncate_json_lines(const std::filesystem::path& path, const std::string& key, int64_t max);

// Copies every entry of `src` (recursively) into `dst` but those named in `skip`, overwriting.
void copy_folder_except(const std::filesystem::path& src, const std::filesystem::path& dst,
                        const std::set<std::string>& skip);

// An output (a file or a folder) written under a temporary name beside its final path
// (".tmp-<name>", a stale one from a killed run cleared first) and renamed there by commit();
// removed when it was never committed, so a failure leaves nothing that looks finished.
class StagedOutput {
 public:
  explicit StagedOutput(const std::filesystem::path& final_path);
  ~StagedOutput();
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;
  const std::filesystem::path& path() const { return tmp_; }
  void commit();

 private:
  std::filesystem::path final_, tmp_;
  bool committed_ = false;
};

}  // namespace asdm
