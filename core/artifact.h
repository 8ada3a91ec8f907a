#pragma once
// JSON artifacts (DESIGN.md §8): common fields, atomic writes, reads with clear errors.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

// Where and how an artifact was made. The torch-using layer fills device and torch_version.
struct RunContext {
  std::vector<std::string> argv;
  std::string device_kind = "cpu";  // "cpu" | "cuda"
  std::string device_name;          // e.g. CPU model or GPU name
  int threads = 0;                  // intra-op threads
  std::string torch_version;        // libtorch version, "" when not linked
};

// {"artifact": type, "schema_version", "asdm_version", "git_commit", "argv", "device",
//  "torch_version", "created"} — the fields every artifact carries.
nlohmann::json make_artifact(std::string_view type, int schema_version, const RunContext& ctx);

// The current UTC time as ISO 8601 ("2026-11-27T04:52:07Z").
std::string utc_now_iso8601();

// Writes `content` to `path` through a temporary file in the same folder and a rename, so a reader
// never sees a partial file. "-" writes to stdout. Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

// Reads a whole file; throws asdm::Error naming the path when it cannot.
std::string read_text_file(const std::filesystem::path& path);
// Parses a JSON file; a syntax error names the path and byte position.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace asdm
