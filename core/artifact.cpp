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
  return ArtifactHeader::make(type, schema_version, ctx).to_json();
}

ArtifactHeader ArtifactHeader::make(std::string_view type, int schema_version,
                                    const RunContext& ctx) {
  ArtifactHeader h;
  h.artifact = type;
  h.schema_version = schema_version;
  h.asdm_version = asdm::version();
  h.git_commit = asdm::git_commit();
  h.argv = ctx.argv;
  h.device_kind = ctx.device_kind;
  h.device_name = ctx.device_name;
  h.threads = ctx.threads;
  h.torch_version = ctx.torch_version;
  h.created = utc_now_iso8601();
  return h;
}

nlohmann::json ArtifactHeader::to_json() const {
  nlohmann::json j;
  j["artifact"] = artifact;
  j["schema_version"] = schema_version;
  j["asdm_version"] = asdm_version;
  j["git_commit"] = git_commit;
  j["argv"] = argv;
  j["device"] = {{"kind", device_kind}, {"name", device_name}, {"threads", threads}};
  j["torch_version"] = torch_version;
  j["created"] = created;
  return j;
}

ArtifactHeader ArtifactHeader::from_json(const nlohmann::json& j, std::string_view type,
                                         int schema_version, std::string_view source,
                                         std::string_view made_by) {
  const std::string found = j.is_object() ? j.value("artifact", std::string()) : std::string();
  if (found != type)
    fail("{} is not {} {}.json ({})", source,
         std::string_view("aeiou").find(type.empty() ? 'x' : type[0]) != std::string_view::npos
             ? "an"
             : "a",
         type, made_by);
  const int v = j.value("schema_version", 0);
  if (v != schema_version)
    fail("{} has {} schema version {}; this asdm reads version {}", source, type, v,
         schema_version);
  ArtifactHeader h;
  parse_artifact_fields(type, source, [&] {
    h.artifact = found;
    h.schema_version = v;
    h.asdm_version = j.value("asdm_version", std::string());
    h.git_commit = j.value("git_commit", std::string());
    h.argv = j.value("argv", std::vector<std::string>());
    if (j.contains("device") && j.at("device").is_object()) {
      const auto& d = j.at("device");
      h.device_kind = d.value("kind", std::string("cpu"));
      h.device_name = d.value("name", std::string());
      h.threads = d.value("threads", 0);
    }
    h.torch_version = j.value("torch_version", std::string());
    h.created = j.value("created", std::string());
  });
  return h;
}

void parse_artifact_fields(std::string_view type, std::string_view source,
                           const std::function<void()>& parse) {
  try {
    parse();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a valid {}.json: {}", source, type, json_error_text(e.what()));
  }
}

std::string json_error_text(std::string_view what) {
  std::string text(what);
  if (text.rfind("[json.exception.", 0) == 0)
    if (const auto p = text.find("] "); p != std::string::npos) text = text.substr(p + 2);
  if (text.rfind("(/", 0) == 0)
    if (const auto p = text.find(") "); p != std::string::npos)
      text = "at " + text.substr(1, p - 1) + ": " + text.substr(p + 2);
  return text;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  if (path == "-") {
    std::cout.write(content.data(), static_cast<std::streamsize>(content.size()));
    std::cout.flush();
    return;
  }
  write_stream_atomic(path, [&](std::ostream& out) {
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  });
}

void write_stream_atomic(const std::filesystem::path& path,
                         const std::function<void(std::ostream&)>& write) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) fail("cannot create folder '{}': {}", path.parent_path().string(), ec.message());
  const auto tmp = path.string() + fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write '{}'", tmp);
    write(out);
    out.close();  // a write the file system reports only at close fails here too
    if (!out) {
      std::filesystem::remove(tmp, ec);
      fail("cannot write '{}' (disk full?)", tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    fail("cannot move '{}' into place as '{}': {}", tmp, path.string(), ec.message());
  }
}

std::string output_path_problem(const std::filesystem::path& path, bool folder) {
  namespace fs = std::filesystem;
  if (path.empty()) return "an empty path";
  if (!folder && path == "-") return {};
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::exists(status)) {
    if (!folder && fs::is_directory(status))
      return fmt::format("'{}' is a folder; give the path of the file to write", path.string());
    if (folder && !fs::is_directory(status))
      return fmt::format("'{}' is a file; give a folder", path.string());
  }
  // The nearest existing ancestor (the path itself for an existing folder output).
  fs::path above = fs::exists(status) && folder ? path : path.parent_path();
  if (above.empty()) above = ".";
  while (!fs::exists(above, ec) && above.has_parent_path() && above != above.parent_path())
    above = above.parent_path();
  if (!fs::exists(above, ec)) above = ".";  // a relative path none of whose folders exist
  if (!fs::is_directory(above, ec))
    return fmt::format("cannot write '{}': '{}' is a file, not a folder", path.string(),
                       above.string());
  if (::access(above.c_str(), W_OK | X_OK) != 0)
    return fmt::format("cannot write '{}': the folder '{}' is not writable", path.string(),
                       above.string());
  return {};
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

std::string read_artifact_type(const std::filesystem::path& path) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object()) return "";
  const auto it = j.find("artifact");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace asdm
