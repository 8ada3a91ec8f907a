#pragma once
// CLIP's byte-level BPE tokenizer (issue 9 item 1), as transformers' CLIPTokenizer computes it:
// special tokens split out first; NFC, runs of whitespace to one space, lowercase; the
// pre-tokenizer regex ('s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+, whitespace dropped);
// each piece's UTF-8 bytes mapped to GPT-2's byte characters, "</w>" on the last; BPE by merge
// rank; then start token + ids + end token, truncated and padded to the model's length (77).
// Torch-free.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace asdm {

class ClipTokenizer {
 public:
  // A diffusers `tokenizer/` folder: vocab.json + merges.txt (SD's layout) or tokenizer.json, plus
  // tokenizer_config.json / special_tokens_map.json when present (pad token, model_max_length).
  // Throws asdm::Error naming the file and what is wrong with it.
  static ClipTokenizer load(const std::filesystem::path& dir);
  // From parsed parts: vocab token -> id, merges in rank order ("a b").
  ClipTokenizer(std::unordered_map<std::string, int> vocab, const std::vector<std::string>& merges,
                std::string bos = "<|startoftext|>", std::string eos = "<|endoftext|>",
                std::string pad = "", std::string unk = "<|endoftext|>", int model_max_length = 77);

  // The ids of `text` alone, no start/end tokens. Throws asdm::Error for invalid UTF-8.
  std::vector<int> encode(std::string_view text) const;
  // start + ids (truncated) + end, padded with the pad token to `length` (0: model_max_length).
  std::vector<int64_t> encode_padded(std::string_view text, int length = 0) const;
  // The BPE tokens of `text` (for display), e.g. {"a</w>", "photo</w>"}.
  std::vector<std::string> tokens(std::string_view text) const;

  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  int model_max_length() const { return model_max_length_; }
  size_t vocab_size() const { return vocab_.size(); }

 private:
  std::vector<std::string> bpe(const std::string& piece) const;
  void encode_segment(std::string_view text, std::vector<int>& ids,
                      std::vector<std::string>* tokens) const;
  void encode_impl(std::string_view text, std::vector<int>& ids,
                   std::vector<std::string>* tokens) const;
  int id_of(const std::string& token, const char* role) const;

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<std::string, int> ranks_;  // "a\x1fb" -> merge rank
  std::vector<std::string> specials_;           // split out of the text before normalization
  int bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0, model_max_length_ = 77;
};

}  // namespace asdm
