#include "core/run_files.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/artifact.h"

namespace asdm {

namespace fs = std::filesystem;

void replace_folder(const fs::path& fresh, const fs::path& dst) {
  fs::path old = dst;
  old += ".old";
  fs::remove_all(old);
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::rename(fresh, dst);
  fs::remove_all(old);
}

void truncate_json_lines(const fs::path& path, const std::string& key, int64_t max) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value(key, int64_t(0)) <= max) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void copy_folder_except(const fs::path& src, const fs::path& dst,
                        const std::set<std::string>& skip) {
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string n = e.path().filename().string();
    if (skip.count(n)) continue;
    fs::copy(e.path(), dst / n, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
}

StagedOutput::StagedOutput(const std::filesystem::path& final_path) : final_(final_path) {
  const std::filesystem::path parent =
      final_.has_parent_path() ? final_.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(parent);
  tmp_ = parent / (".tmp-" + final_.filename().string());
  std::filesystem::remove_all(tmp_);
}

StagedOutput::~StagedOutput() {
  std::error_code ec;
  if (!committed_) std::filesystem::remove_all(tmp_, ec);
}

void StagedOutput::commit() {
  std::filesystem::rename(tmp_, final_);
  committed_ = true;
}

}  // namespace asdm
