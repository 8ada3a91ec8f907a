#pragma once
// Prompt files: one prompt per line (trailing spaces and CR dropped, blank lines skipped, a UTF-8
// byte-order mark dropped). Used by every stage that takes --prompts (proxy eval, generate,
// ablation subjects, bench, incubation).
#include <string>
#include <vector>

namespace asdm {

// Throws asdm::Error when the file cannot be read or holds no prompt.
std::vector<std::string> read_prompts(const std::string& path);

}  // namespace asdm
