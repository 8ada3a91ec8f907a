#pragma once
// "Did you mean": the name a mistyped one most likely meant, for error messages that name a
// command, option, choice or unit the user typed.
#include <string>
#include <string_view>
#include <vector>

namespace asdm {

// The closest of `names` to `text` when it is a likely typo, else "": letters compared without
// case; at most a third of them off, but at least one and at most three (two swapped neighbours
// count one); never all of them. The first of equally close names wins.
std::string closest_name(std::string_view text, const std::vector<std::string>& names);

// The names quoted and listed: "'a', 'b', 'c'".
std::string quoted_list(const std::vector<std::string>& names);

// "; did you mean 'x'?" with closest_name's answer, or "" when there is none.
std::string did_you_mean(std::string_view text, const std::vector<std::string>& names);

// did_you_mean for ids holding indices ("down_blocks.1.resnets.0"): only names with the same
// numbers in the same order are guesses, so that a wrong index is not "corrected" into another.
std::string did_you_mean_id(std::string_view text, const std::vector<std::string>& names);

}  // namespace asdm
