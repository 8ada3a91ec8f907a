#include "core/suggest.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace asdm {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Edits between a and b: insertions, deletions, substitutions and swaps of neighbours (the
// optimal string alignment distance).
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::string closest_name(std::string_view text, const std::vector<std::string>& names) {
  const std::string t = lower(text);
  std::string best;
  std::size_t best_distance = std::clamp<std::size_t>(t.size() / 3, 1, 3) + 1;
  for (const auto& name : names) {
    const std::size_t d = distance(t, lower(name));
    if (d < best_distance && d < std::max(t.size(), name.size())) {
      best = name;
      best_distance = d;
    }
  }
  return best;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i)
    list += fmt::format("{}'{}'", i ? ", " : "", names[i]);
  return list;
}

std::string did_you_mean(std::string_view text, const std::vector<std::string>& names) {
  const std::string guess = closest_name(text, names);
  return guess.empty() ? "" : fmt::format("; did you mean '{}'?", guess);
}

std::string did_you_mean_id(std::string_view text, const std::vector<std::string>& names) {
  // The numbers in `s`, in order: "down_blocks.1.resnets.0" -> "1.0.".
  auto numbers = [](std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) continue;
      out += s[i];
      if (i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i + 1]))) out += '.';
    }
    return out;
  };
  std::vector<std::string> same;
  for (const auto& n : names)
    if (numbers(n) == numbers(text)) same.push_back(n);
  return did_you_mean(text, same);
}

}  // namespace asdm
