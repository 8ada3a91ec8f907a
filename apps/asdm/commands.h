#pragma once
// The asdm subcommands. Each registers its flags on the CLI11 app and runs from a plain options
// struct; the work itself is library code.
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace asdm::cli {

// Register the subcommands; `argv` is kept for artifacts.
void add_inspect(CLI::App& app, const std::vector<std::string>& argv);
void add_forward(CLI::App& app, const std::vector<std::string>& argv);
void add_generate(CLI::App& app, const std::vector<std::string>& argv);
void add_latents(CLI::App& app, const std::vector<std::string>& argv);
void add_profile(CLI::App& app, const std::vector<std::string>& argv);
void add_proxy(CLI::App& app, const std::vector<std::string>& argv);
void add_proxy_eval(CLI::App& proxy, const std::vector<std::string>& argv);  // asdm proxy eval
void add_ablate(CLI::App& app, const std::vector<std::string>& argv);
// asdm ablate merge and show (ablate_files.cpp); returns them so that ablate's own callback can
// step aside when one ran.
std::pair<CLI::App*, CLI::App*> add_ablate_files(CLI::App& ablate,
                                                 const std::vector<std::string>& argv);
void add_search(CLI::App& app, const std::vector<std::string>& argv);
void add_build(CLI::App& app, const std::vector<std::string>& argv);
void add_incubate(CLI::App& app, const std::vector<std::string>& argv);
void add_bench(CLI::App& app, const std::vector<std::string>& argv);
void add_report(CLI::App& app, const std::vector<std::string>& argv);
void add_export(CLI::App& app, const std::vector<std::string>& argv);
void add_init(CLI::App& app, const std::vector<std::string>& argv);
void add_convert(CLI::App& app, const std::vector<std::string>& argv);
void add_demo(CLI::App& app, const std::vector<std::string>& argv);
void add_cache_plan(CLI::App& app, const std::vector<std::string>& argv);
void add_cache_search(CLI::App& cache_plan,
                      const std::vector<std::string>& argv);  // cache-plan search
void add_eval(CLI::App& app, const std::vector<std::string>& argv);

}  // namespace asdm::cli
