#pragma once
// What asdm says when its command line does not parse. CLI11 checks required options before it
// looks at the words it could not place, so a typo got an answer about something else: `asdm
// profil` said "A subcommand is required" and `asdm profile --modl m` said "--model is required".
// The word that did not parse is named first here, with the likely typo.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/suggest.h"

namespace asdm::cli {

namespace detail {

inline std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

// The command names under `app`.
inline std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s :
       app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
    names.push_back(s->get_name());
  return names;
}

}  // namespace detail

// The one line for a parse error of `root`, whose parse has just thrown `e`.
inline std::string parse_error_text(const CLI::App& root, const CLI::ParseError& e) {
  // The commands the parse reached, each with the words it could not place: "asdm", "asdm proxy",
  // "asdm proxy train".
  const CLI::App* at = &root;
  std::string path = "asdm";
  const auto root_options = detail::option_names(root);
  while (true) {
    const auto commands = detail::command_names(*at);
    for (const std::string& arg : at->remaining()) {
      const bool option = arg.size() > 1 && arg[0] == '-' && arg != "--" &&
                          !std::isdigit(static_cast<unsigned char>(arg[1])) && arg[1] != '.';
      if (option) {
        const std::string name = arg.substr(0, arg.find('='));
        if (at != &root &&
            std::find(root_options.begin(), root_options.end(), name) != root_options.end())
          return fmt::format("{} is an option of 'asdm' itself: put it before '{}'", name,
                             path.substr(5));
        return fmt::format("{} is not an option of '{}'{}", name, path,
                           did_you_mean(name, detail::option_names(*at)));
      }
      if (!commands.empty())
        return fmt::format("'{}' is not a command of '{}'{}", arg, path,
                           did_you_mean(arg, commands));
    }
    if (at->get_subcommands().empty()) {
      if (!commands.empty() && e.get_name() == "RequiredError") {  // nothing after the command
        return fmt::format("'{}' needs a command: {}", path, quoted_list(commands));
      }
      return e.what();
    }
    at = at->get_subcommands().front();
    path += " " + at->get_name();
  }
}

}  // namespace asdm::cli
