#pragma once
// Small helpers shared by the subcommands: progress lines, common options.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/artifact.h"
#include "core/dtype.h"
#include "core/log.h"
#include "core/suggest.h"
#include "model/hub_cache.h"

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

// A choice among `names`. CLI11's IsMember answers "nvtx not in {timer,cuda-events,cupti,
// cuda-events,cupti}", where a name holding a comma reads as two; this one quotes each name and
// names the likely typo: "'eulr' is not one of 'ddim', 'euler', ...; did you mean 'euler'?".
inline CLI::Validator one_of(std::vector<std::string> names) {
  std::string tag = "{";
  for (std::size_t i = 0; i < names.size(); ++i) tag += (i ? "|" : "") + names[i];
  tag += "}";
  return CLI::Validator(
      [names = std::move(names)](std::string& text) -> std::string {
        if (std::find(names.begin(), names.end(), text) != names.end()) return {};
        return fmt::format("'{}' is not one of {}{}", text, quoted_list(names),
                           did_you_mean(text, names));
      },
      std::move(tag));
}

// Output options, checked when the command line is read (core/artifact.h's output_path_problem),
// so that a long run does not end in a failed write: a file to write ("-": stdout), or a folder.
inline CLI::Validator output_file() {
  return CLI::Validator([](std::string& text) { return output_path_problem(text, false); }, "");
}
inline CLI::Validator output_folder() {
  return CLI::Validator([](std::string& text) { return output_path_problem(text, true); }, "");
}

// --device and --dtype, as every command that runs a network on a chosen device takes them.
inline void add_device_options(CLI::App* sub, std::string& device, std::string& dtype,
                               const std::string& dtype_help = "fp32, fp16 or bf16") {
  sub->add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", dtype, dtype_help)
      ->capture_default_str()
      ->check(one_of(dtype_names()));
}

// The options of `sub` whose names start with `prefix` that were given on the command line (not
// left at their defaults).
inline std::vector<std::string> given_options(const CLI::App* sub, const std::string& prefix) {
  std::vector<std::string> given;
  for (const CLI::Option* opt : sub->get_options())
    if (opt->get_name().rfind(prefix, 0) == 0 && opt->count() > 0) given.push_back(opt->get_name());
  return given;
}

// Number checks with messages a user can act on. CLI11's PositiveNumber and NonNegativeNumber
// print their range with DBL_MAX written out in full (over 300 digits), and say "not in range"
// for a value that is not a number at all. Same help tags (POSITIVE, NONNEGATIVE) as theirs.
inline CLI::Validator number_at_least(double low, bool inclusive, std::string tag) {
  return CLI::Validator(
      [low, inclusive](std::string& text) -> std::string {
        double value = 0;
        std::size_t used = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return fmt::format("'{}' is not a number", text);
        if (inclusive ? value >= low : value > low) return {};
        return fmt::format("must be {} {}, got {}", inclusive ? "at least" : "greater than", low,
                           text);
      },
      std::move(tag));
}
inline const CLI::Validator kPositive = number_at_least(0, false, "POSITIVE");
inline const CLI::Validator kNonNegative = number_at_least(0, true, "NONNEGATIVE");

// --threads as the commands that run networks on the CPU take it.
inline void add_threads_option(CLI::App* sub, int& threads) {
  sub->add_option("--threads", threads, "Intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
}

// The model options of every command (--model, --teacher, --student, --unet, --config, --clip,
// --sd-pipeline, and the paths of bench's --models NAME=PATH) also take a Hugging Face Hub id in
// the local cache ("org/name", "org/name/unet") or a repository's cache folder, read as its
// snapshot (model/hub_cache.h). A path that exists is itself.
inline void resolve_hub_ids(CLI::App& app) {
  static const std::set<std::string> kModelOptions = {"model",  "teacher", "student",    "unet",
                                                      "config", "clip",    "sd-pipeline"};
  const CLI::Validator path(
      [](std::string& v) {
        if (std::string s = hub_snapshot(v); !s.empty()) v = std::move(s);
        return std::string();
      },
      "", "");
  const CLI::Validator named_path(
      [](std::string& v) {
        const auto eq = v.find('=');
        const std::string p = eq == std::string::npos ? v : v.substr(eq + 1);
        if (std::string s = hub_snapshot(p); !s.empty())
          v = (eq == std::string::npos ? "" : v.substr(0, eq + 1)) + s;
        return std::string();
      },
      "", "");
  for (CLI::Option* opt : app.get_options())
    for (const auto& name : opt->get_lnames()) {
      if (kModelOptions.count(name)) opt->transform(path);
      if (name == "models") opt->transform(named_path);
    }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) resolve_hub_ids(*sub);
}

}  // namespace asdm::cli
