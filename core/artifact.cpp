#include "core/artifact.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/version.h"

namespace asdm {

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json make_artifact(std::string_view type, int schema_version, const RunContext& ctx) {
  nlohmann::json j;
  j["artifact"] = type;
  j["schema_version"] = schema_version;
  j["asdm_version"] = version();
  j["git_commit"] = git_commit();
  j["argv"] = ctx.argv;
  j["device"] = {{"kind", ctx.device_kind}, {"name", ctx.device_name}, {"threads", ctx.threads}};
  j["torch_version"] = ctx.torch_version;
  j["created"] = utc_now_iso8601();
  return j;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  if (path == "-") {
    std::cout.write(content.data(), static_cast<std::streamsize>(content.size()));
    std::cout.flush();
    return;
  }
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) fail("cannot create folder '{}': {}", path.parent_path().string(), ec.message());
  const auto tmp = path.string() + fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write '{}'", tmp);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      fail("cannot write '{}' (disk full?)", tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail("cannot move '{}' into place as '{}': {}", tmp, path.string(), ec.message());
  }
}

void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("file '{}' does not exist", path.string());
  if (std::filesystem::is_directory(path, ec)) fail("'{}' is a folder, not a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("'{}' is not valid JSON (at byte {})", path.string(), e.byte);
  }
}

}  // namespace asdm
