#pragma once
// JSON artifacts (DESIGN.md §8): common fields, atomic writes, reads with clear errors.
#include <filesystem>
#include <functional>
#include <iosfwd>
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

// The fields every artifact carries, as a typed artifact struct holds them (each struct has a
// `header` member, its kArtifact name and its kSchemaVersion).
struct ArtifactHeader {
  std::string artifact;
  int schema_version = 0;
  std::string asdm_version, git_commit;
  std::vector<std::string> argv;
  std::string device_kind = "cpu", device_name;
  int threads = 0;
  std::string torch_version, created;

  // A header stamped now, with this build's version and commit.
  static ArtifactHeader make(std::string_view type, int schema_version, const RunContext& ctx);
  // The common fields as a JSON object; a struct's to_json() adds its own fields to it.
  nlohmann::json to_json() const;
  // Checks that `j` is an artifact of `type` at `schema_version` and reads the common fields
  // (fields an older writer left out are left empty). Otherwise asdm::Error: "<source> is not a
  // <type>.json (<made_by>)", or the version found and the one this asdm reads.
  static ArtifactHeader from_json(const nlohmann::json& j, std::string_view type,
                                  int schema_version, std::string_view source,
                                  std::string_view made_by);
};

// nlohmann-json's message without its "[json.exception.type_error.302] " tag, the place it names
// (JSON_DIAGNOSTICS) first: "at /model/edits/0/op: type must be string, but is number".
std::string json_error_text(std::string_view what);

// Runs `parse` (a typed artifact's field reading), turning a missing field or a field of the wrong
// type into asdm::Error: "<source>: not a valid <type>.json: <json_error_text>".
void parse_artifact_fields(std::string_view type, std::string_view source,
                           const std::function<void()>& parse);

// The current UTC time as ISO 8601 ("2026-11-27T04:52:07Z").
std::string utc_now_iso8601();

// Writes `content` to `path` through a temporary file in the same folder and a rename, so a reader
// never sees a partial file. "-" writes to stdout. Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);
// The same temporary file and rename for content that `write` streams (a weights file too large to
// build as one string; not "-"). Throws asdm::Error naming the temporary when the stream fails
// (a full disk), or the rename's cause; either way the old file stays and no temporary is left.
void write_stream_atomic(const std::filesystem::path& path,
                         const std::function<void(std::ostream&)>& write);
// Why `path` cannot be written as an output, checked before a command's work starts so that a long
// run does not end in a failed write: "" when it can (as far as can be told without writing). A
// file output (`folder` false; "-" is stdout) must not be an existing folder; a folder output must
// not be an existing file; the nearest existing folder above it must be a folder the process may
// write in.
std::string output_path_problem(const std::filesystem::path& path, bool folder);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

// Reads a whole file; throws asdm::Error naming the path when it cannot.
std::string read_text_file(const std::filesystem::path& path);
// Parses a JSON file; a syntax error names the path and byte position.
nlohmann::json read_json_file(const std::filesystem::path& path);
// The "artifact" field of the JSON file at `path`, "" when it has none (not an asdm artifact);
// asdm::Error when the file cannot be read or parsed. For choosing a reader, and for messages.
std::string read_artifact_type(const std::filesystem::path& path);

}  // namespace asdm
