// asdm ablate merge and asdm ablate show: joining the shard files of one run, and printing a
// file's tables again (importance.json or temporal.json).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "analysis/ablation.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/log.h"
#include "model/runtime.h"

namespace asdm::cli {

std::pair<CLI::App*, CLI::App*> add_ablate_files(CLI::App& ablate,
                                                 const std::vector<std::string>& argv) {
  auto merge_files = std::make_shared<std::vector<std::string>>();
  auto merge_out = std::make_shared<std::string>();
  auto* merge = ablate.add_subcommand(
      "merge",
      "Join the shard files of one run (all shards, each complete) into one importance.json");
  merge->add_option("files", *merge_files, "Shard files")->required()->check(CLI::ExistingFile);
  merge->add_option("-o,--output", *merge_out, "importance.json to write")
      ->required()
      ->check(output_file());
  merge->callback([merge_files, merge_out, argv] {
    std::vector<std::filesystem::path> files(merge_files->begin(), merge_files->end());
    const auto doc = merge_importance(files, make_run_context(argv, "cpu"), *merge_out);
    std::fputs(importance_table(doc, 0).c_str(), stdout);
    log::info("merged {} shards into {}", files.size(), *merge_out);
  });
  auto show_file = std::make_shared<std::string>();
  auto show_rows = std::make_shared<int>(0);
  auto* show =
      ablate.add_subcommand("show", "Print the tables of an importance.json or temporal.json");
  show->add_option("file", *show_file, "importance.json")->required()->check(CLI::ExistingFile);
  show->add_option("--rows", *show_rows, "Rows (0: all)")->capture_default_str();
  show->callback([show_file, show_rows] {
    std::fputs(importance_file_table(*show_file, *show_rows).c_str(), stdout);
  });
  return {merge, show};
}

}  // namespace asdm::cli
