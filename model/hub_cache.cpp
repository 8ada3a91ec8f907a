#include "model/hub_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/suggest.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// A repository id's part: letters, digits, '-', '_', '.', not starting with '.' or '-'.
bool repo_part(const std::string& s) {
  if (s.empty() || s.size() > 96 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

bool is_repo_cache(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "snapshots", ec) &&
         dir.filename().string().rfind("models--", 0) == 0;
}

// The snapshot of a repository's cache folder that refs/main names, or its only one when there is
// no refs/main.
fs::path snapshot_of(const fs::path& repo) {
  std::error_code ec;
  std::string main;
  if (std::ifstream ref(repo / "refs" / "main"); ref) ref >> main;
  if (!main.empty() && fs::is_directory(repo / "snapshots" / main, ec))
    return repo / "snapshots" / main;
  std::vector<std::string> snapshots;
  for (const auto& e : fs::directory_iterator(repo / "snapshots", ec))
    if (e.is_directory(ec)) snapshots.push_back(e.path().filename().string());
  std::sort(snapshots.begin(), snapshots.end());
  if (!main.empty())
    fail(
        "the Hugging Face cache folder '{}': its refs/main names snapshot '{}', which is not there "
        "(an interrupted download?); it has {}",
        repo.string(), main, snapshots.empty() ? "none" : quoted_list(snapshots));
  if (snapshots.size() == 1) return repo / "snapshots" / snapshots.front();
  if (snapshots.empty()) fail("the Hugging Face cache folder '{}' has no snapshot", repo.string());
  fail(
      "the Hugging Face cache folder '{}' has {} snapshots and no refs/main to choose one: give "
      "the snapshot folder ({})",
      repo.string(), snapshots.size(), quoted_list(snapshots));
}

}  // namespace

fs::path hub_cache_dir() {
  if (const std::string v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (const std::string v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
  if (const std::string v = env("HF_HOME"); !v.empty()) return fs::path(v) / "hub";
  if (const std::string v = env("XDG_CACHE_HOME"); !v.empty())
    return fs::path(v) / "huggingface" / "hub";
  return fs::path(env("HOME")) / ".cache" / "huggingface" / "hub";
}

std::string hub_snapshot(const std::string& arg) {
  std::error_code ec;
  fs::path path = fs::path(arg).lexically_normal();
  if (path.has_parent_path() && path.filename().empty()) path = path.parent_path();  // "a/b/"
  if (fs::exists(path, ec)) {
    if (!is_repo_cache(path)) return "";
    const fs::path s = snapshot_of(path);
    log::info("'{}' is a Hugging Face cache folder: reading its snapshot {}", arg, s.string());
    return s.string();
  }
  // "org/name" or "org/name/sub/folder"; a path with a leading "/", "." or "~" is a path.
  std::vector<std::string> parts;
  for (const auto& p : path) parts.push_back(p.string());
  if (parts.size() < 2 || !repo_part(parts[0]) || !repo_part(parts[1])) return "";
  const fs::path repo = hub_cache_dir() / ("models--" + parts[0] + "--" + parts[1]);
  if (!is_repo_cache(repo)) return "";
  fs::path s = snapshot_of(repo);
  for (size_t i = 2; i < parts.size(); ++i) s /= parts[i];
  if (!fs::exists(s, ec)) return "";
  log::info("'{}' is in the Hugging Face cache: {}", arg, s.string());
  return s.string();
}

}  // namespace asdm
