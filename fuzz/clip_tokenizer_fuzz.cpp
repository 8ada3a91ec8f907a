// libFuzzer target: CLIP's tokenizer on arbitrary bytes (scripts/fuzz.sh). Invalid UTF-8 must be
// an asdm::Error; anything else must tokenize without crashing, every id must be in the vocabulary,
// and encode_padded must always give exactly the model length with the start token first.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "sd/clip_tokenizer.h"

namespace {

const asdm::ClipTokenizer& tokenizer() {
  static const asdm::ClipTokenizer tok = [] {
    std::unordered_map<std::string, int> vocab;
    auto add = [&](const std::string& t) { vocab.emplace(t, int(vocab.size())); };
    for (char c = '!'; c <= '~'; ++c) add(std::string(1, c));
    for (char c = '!'; c <= '~'; ++c) add(std::string(1, c) + "</w>");
    const std::vector<std::string> merges = {"t h", "th e</w>", "o f</w>",
                                             "r e", "re d</w>", "' s</w>"};
    for (const auto& m : merges) add(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
    add("<|startoftext|>");
    add("<|endoftext|>");
    return asdm::ClipTokenizer(vocab, merges, "<|startoftext|>", "<|endoftext|>", "!",
                               "<|endoftext|>", 16);
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto& tok = tokenizer();
  try {
    for (int id : tok.encode(text))
      if (id < 0 || size_t(id) >= tok.vocab_size()) std::abort();
    const auto padded = tok.encode_padded(text);
    if (padded.size() != 16 || padded[0] != tok.bos_id()) std::abort();
  } catch (const asdm::Error&) {
    // invalid UTF-8: the one expected error
  }
  return 0;
}
