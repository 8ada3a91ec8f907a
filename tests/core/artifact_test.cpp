#include "core/artifact.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tests/file_size_limit.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Artifact, CarriesTheCommonFields) {
  RunContext ctx;
  ctx.argv = {"asdm", "inspect"};
  ctx.threads = 2;
  ctx.torch_version = "2.11.0";
  const auto j = make_artifact("inspect", 3, ctx);
  for (const char* f : {"schema_version", "asdm_version", "git_commit", "argv", "device",
                        "torch_version", "created"})
    EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ(j["artifact"], "inspect");
  EXPECT_EQ(j["schema_version"], 3);
  EXPECT_EQ(j["device"]["threads"], 2);
  EXPECT_EQ(j["created"].get<std::string>().size(), 20u);  // 2026-11-27T04:52:07Z
}

TEST(Artifact, AtomicWriteLeavesNoTemporaryAndReadsBack) {
  const auto dir = test::scratch_dir("artifact_atomic");
  const auto path = dir / "sub" / "a.json";
  write_json_atomic(path, {{"x", 1}});
  write_json_atomic(path, {{"x", 2}});
  EXPECT_EQ(read_json_file(path)["x"], 2);
  EXPECT_EQ(test::regular_files(dir / "sub"), 1);
}

TEST(Artifact, AFailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  const auto dir = test::scratch_dir("artifact_failed_write");
  const auto path = dir / "a.json";
  write_json_atomic(path, {{"x", 1}});
  {
    test::FileSizeLimit full(4096);  // as a disk that fills
    EXPECT_EQ(test::error_of([&] { write_file_atomic(path, std::string(10000, 'x')); }),
              fmt::format("cannot write '{}.tmp.{}' (disk full?)", path.string(), ::getpid()));
  }
  EXPECT_EQ(read_json_file(path)["x"], 1);
  EXPECT_EQ(test::regular_files(dir), 1);
  // A folder where the file would go: the message says why, and nothing is written beside it.
  std::filesystem::create_directories(dir / "taken.json" / "inside");
  EXPECT_EQ(test::error_of([&] {
              write_json_atomic(dir / "taken.json", {{"x", 1}});
            }),
            fmt::format("cannot move '{0}.tmp.{1}' into place as '{0}': Is a directory",
                        (dir / "taken.json").string(), ::getpid()));
  EXPECT_EQ(test::regular_files(dir), 1);
}

TEST(Artifact, OutputPathProblems) {
  namespace fs = std::filesystem;
  const auto dir = test::scratch_dir("artifact_output_paths");
  fs::create_directories(dir / "folder");
  std::ofstream(dir / "file") << "x";
  const std::string d = dir.string();
  EXPECT_EQ(output_path_problem("-", false), "");
  EXPECT_EQ(output_path_problem(dir / "new" / "deeper" / "a.json", false), "");
  EXPECT_EQ(output_path_problem(dir / "file", false), "");  // replaced
  EXPECT_EQ(output_path_problem(dir / "folder", true), "");
  EXPECT_EQ(output_path_problem(dir / "new", true), "");
  EXPECT_EQ(output_path_problem("relative-and-new/a.json", false), "");
  EXPECT_EQ(output_path_problem(dir / "folder", false),
            fmt::format("'{}/folder' is a folder; give the path of the file to write", d));
  EXPECT_EQ(output_path_problem(dir / "file", true),
            fmt::format("'{}/file' is a file; give a folder", d));
  EXPECT_EQ(
      output_path_problem(dir / "file" / "sub" / "a.json", false),
      fmt::format("cannot write '{0}/file/sub/a.json': '{0}/file' is a file, not a folder", d));
  EXPECT_EQ(output_path_problem(dir / "file" / "out", true),
            fmt::format("cannot write '{0}/file/out': '{0}/file' is a file, not a folder", d));
  EXPECT_EQ(output_path_problem("", false), "an empty path");
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directories(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_EQ(output_path_problem(dir / "locked" / "a.json", false),
              fmt::format("cannot write '{0}/locked/a.json': the folder '{0}/locked' is not "
                          "writable",
                          d));
    fs::permissions(dir / "locked", fs::perms::owner_all);
  }
}

TEST(Artifact, ReadErrorsNameTheFile) {
  const auto dir = test::scratch_dir("artifact_errors");
  EXPECT_EQ(test::error_of([&] { read_json_file(dir / "none.json"); }),
            "file '" + (dir / "none.json").string() + "' does not exist");
  write_file_atomic(dir / "bad.json", "{\"a\": ");
  EXPECT_EQ(test::error_of([&] { read_json_file(dir / "bad.json"); }),
            "'" + (dir / "bad.json").string() + "' is not valid JSON (at byte 7)");
  EXPECT_EQ(test::error_of([&] { read_text_file(dir); }),
            "'" + dir.string() + "' is a folder, not a file");
}

TEST(Artifact, TypeOfAFile) {
  const auto d = test::scratch_dir("artifact_type");
  write_json_atomic(d / "p.json", make_artifact("profile", 1, {}));
  EXPECT_EQ(read_artifact_type(d / "p.json"), "profile");
  write_json_atomic(d / "x.json", nlohmann::json{{"artifact", 3}});
  EXPECT_EQ(read_artifact_type(d / "x.json"), "");
  write_json_atomic(d / "a.json", nlohmann::json::array());
  EXPECT_EQ(read_artifact_type(d / "a.json"), "");
  std::ofstream(d / "bad.json") << "{";
  EXPECT_THROW(read_artifact_type(d / "bad.json"), Error);
  EXPECT_THROW(read_artifact_type(d / "absent.json"), Error);
}

TEST(ArtifactHeader, RoundTripsAndChecksTypeAndVersion) {
  RunContext ctx;
  ctx.argv = {"asdm", "search"};
  ctx.device_name = "test CPU";
  ctx.threads = 2;
  const ArtifactHeader h = ArtifactHeader::make("candidates", 1, ctx);
  const ArtifactHeader back = ArtifactHeader::from_json(h.to_json(), "candidates", 1, "c.json",
                                                        "make one with asdm search");
  EXPECT_EQ(back.to_json(), h.to_json());
  EXPECT_EQ(back.device_name, "test CPU");
  EXPECT_EQ(test::error_of([&] {
              ArtifactHeader::from_json(h.to_json(), "schedule", 1, "c.json",
                                        "asdm build writes one");
            }),
            "c.json is not a schedule.json (asdm build writes one)");
  EXPECT_EQ(test::error_of([&] {
              ArtifactHeader::from_json(h.to_json(), "importance", 1, "c.json", "asdm ablate");
            }),
            "c.json is not an importance.json (asdm ablate)");
  EXPECT_EQ(test::error_of(
                [&] { ArtifactHeader::from_json(h.to_json(), "candidates", 2, "c.json", ""); }),
            "c.json has candidates schema version 1; this asdm reads version 2");
  EXPECT_EQ(test::error_of([&] {
              parse_artifact_fields("candidates", "c.json",
                                    [&] { nlohmann::json::object().at("teacher"); });
            }),
            "c.json: not a valid candidates.json: key 'teacher' not found");
  // With JSON_DIAGNOSTICS (set for every target) the message says where in the file.
  const auto j = nlohmann::json::parse(R"({"candidates": [{"units": ["a", 3]}], "model": {}})");
  EXPECT_EQ(test::error_of([&] {
              parse_artifact_fields("candidates", "c.json", [&] {
                j.at("candidates").at(0).at("units").get<std::vector<std::string>>();
              });
            }),
            "c.json: not a valid candidates.json: at /candidates/0/units/1: type must be string, "
            "but is number");
  EXPECT_EQ(test::error_of([&] {
              parse_artifact_fields("candidates", "c.json", [&] { j.at("model").at("edits"); });
            }),
            "c.json: not a valid candidates.json: at /model: key 'edits' not found");
  EXPECT_EQ(json_error_text("[json.exception.type_error.302] (/calls) type must be number, but "
                            "is string"),
            "at /calls: type must be number, but is string");
  EXPECT_EQ(json_error_text("not from nlohmann (x) y"), "not from nlohmann (x) y");
}

}  // namespace
}  // namespace asdm
