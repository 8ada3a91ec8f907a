#pragma once
// Small helpers shared by the subcommands: progress lines, common options.
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/dtype.h"
#include "core/log.h"

namespace asdm::cli {

// Seconds as "m:ss" or "h:mm:ss".
inline std::string hms(double s) {
  const int t = static_cast<int>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

// A "<label> done/total" progress line on stderr at info level: rewritten in place on a terminal; a
// log file gets the last line only.
inline std::function<void(int, int)> count_progress(std::string label) {
  return [label = std::move(label), tty = ::isatty(2) != 0](int done, int total) {
    if (log::level() > log::Level::kInfo || (!tty && done != total)) return;
    std::fprintf(stderr, "%s%s %d/%d%s", tty ? "\r" : "", label.c_str(), done, total,
                 done == total ? "\n" : "");
  };
}

// A library stage's progress note, to the log: "warning: ..." as a warning, the rest as info.
inline void note(const std::string& message) {
  constexpr std::string_view kWarning = "warning: ";
  if (message.rfind(kWarning, 0) == 0)
    log::warn("{}", message.substr(kWarning.size()));
  else
    log::info("{}", message);
}

// --device and --dtype, as every command that runs a network on a chosen device takes them.
inline void add_device_options(CLI::App* sub, std::string& device, std::string& dtype,
                               const std::string& dtype_help = "fp32, fp16 or bf16") {
  sub->add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", dtype, dtype_help)
      ->capture_default_str()
      ->check(CLI::IsMember(dtype_names()));
}

// The options of `sub` whose names start with `prefix` that were given on the command line (not
// left at their defaults).
inline std::vector<std::string> given_options(const CLI::App* sub, const std::string& prefix) {
  std::vector<std::string> given;
  for (const CLI::Option* opt : sub->get_options())
    if (opt->get_name().rfind(prefix, 0) == 0 && opt->count() > 0) given.push_back(opt->get_name());
  return given;
}

// --threads as the commands that run networks on the CPU take it.
inline void add_threads_option(CLI::App* sub, int& threads) {
  sub->add_option("--threads", threads, "Intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
}

}  // namespace asdm::cli
