#include "sd/clip_tokenizer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "sd/unicode.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

// GPT-2's reversible byte -> printable character map: printable Latin-1 bytes map to themselves,
// the rest to U+0100 onwards in byte order. Stored as UTF-8 strings.
const std::array<std::string, 256>& byte_chars() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(printable ? char32_t(b) : next++, t[b]);
    }
    return t;
  }();
  return table;
}

constexpr char kPairSep = '\x1f';
constexpr std::u32string_view kContractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                 U"'m", U"'ll", U"'d"};
constexpr std::u32string_view kRegexSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};

size_t contraction_at(std::u32string_view s, size_t i) {
  for (auto lit : kContractions)
    if (s.substr(i, lit.size()) == lit) return lit.size();
  return 0;
}

// 0 letter, 1 number, 2 other (whitespace never reaches the byte-level split).
int char_class(char32_t c) { return unicode::is_letter(c) ? 0 : unicode::is_number(c) ? 1 : 2; }

// tokenizer_config.json writes special tokens as a string or as {"content": ...}.
std::string token_text(const nlohmann::json& v, const fs::path& file, const char* field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail("'{}': field '{}' must be a token string or an object with 'content', got {}", file.string(),
       field, v.dump());
}

std::unordered_map<std::string, int> parse_vocab(const nlohmann::json& j, const fs::path& file) {
  if (!j.is_object() || j.empty())
    fail("'{}': the vocabulary must be a non-empty object of token -> id", file.string());
  std::unordered_map<std::string, int> vocab;
  for (const auto& [token, id] : j.items()) {
    const auto value = json_int(id, 0);
    if (!value)
      fail("'{}': token '{}' has id {}, not a non-negative integer", file.string(), token,
           id.dump());
    vocab.emplace(token, *value);
  }
  return vocab;
}

}  // namespace

ClipTokenizer::ClipTokenizer(std::unordered_map<std::string, int> vocab,
                             const std::vector<std::string>& merges, std::string bos,
                             std::string eos, std::string pad, std::string unk,
                             int model_max_length)
    : vocab_(std::move(vocab)), model_max_length_(model_max_length) {
  if (pad.empty()) pad = eos;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto sp = merges[r].find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == merges[r].size() ||
        merges[r].find(' ', sp + 1) != std::string::npos)
      fail("merge rule {} is '{}', not two tokens separated by one space", r + 1, merges[r]);
    ranks_.emplace(merges[r].substr(0, sp) + kPairSep + merges[r].substr(sp + 1), int(r));
  }
  if (model_max_length_ < 2)
    fail("model_max_length {} leaves no room for the start and end tokens", model_max_length_);
  bos_id_ = id_of(bos, "start");
  eos_id_ = id_of(eos, "end");
  pad_id_ = id_of(pad, "padding");
  unk_id_ = id_of(unk, "unknown");
  for (const auto* s : {&bos, &eos, &pad, &unk})
    if (std::find(specials_.begin(), specials_.end(), *s) == specials_.end())
      specials_.push_back(*s);
  // Longest first, so that a special token that contains another wins.
  std::sort(specials_.begin(), specials_.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

int ClipTokenizer::id_of(const std::string& token, const char* role) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end())
    fail("the {} token '{}' is not in the tokenizer's vocabulary", role, token);
  return it->second;
}

ClipTokenizer ClipTokenizer::load(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("tokenizer folder '{}' does not exist", dir.string());
  std::unordered_map<std::string, int> vocab;
  std::vector<std::string> merges;
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) {
    vocab = parse_vocab(read_json_file(dir / "vocab.json"), dir / "vocab.json");
    std::istringstream in(read_text_file(dir / "merges.txt"));
    std::string line;
    for (int n = 0; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (n == 0 && line.rfind("#version", 0) == 0)) continue;
      merges.push_back(line);
    }
  } else if (fs::exists(dir / "tokenizer.json")) {
    const fs::path file = dir / "tokenizer.json";
    const auto j = read_json_file(file);
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      fail("'{}' has no 'model' object: not a tokenizers file", file.string());
    const auto& m = j["model"];
    if (m.value("type", "") != "BPE")
      fail("'{}': model type '{}' is not BPE", file.string(), m.value("type", ""));
    if (m.value("end_of_word_suffix", "") != "</w>")
      fail("'{}': not a CLIP tokenizer (end_of_word_suffix is not \"</w>\")", file.string());
    vocab = parse_vocab(m.value("vocab", nlohmann::json()), file);
    if (!m.contains("merges") || !m["merges"].is_array())
      fail("'{}': model.merges must be a list", file.string());
    for (const auto& r : m["merges"]) {
      if (r.is_string())
        merges.push_back(r.get<std::string>());
      else if (r.is_array() && r.size() == 2 && r[0].is_string() && r[1].is_string())
        merges.push_back(r[0].get<std::string>() + ' ' + r[1].get<std::string>());
      else
        fail("'{}': merge rule {} is neither \"a b\" nor [\"a\", \"b\"]", file.string(), r.dump());
    }
  } else {
    fail("tokenizer folder '{}' has neither vocab.json + merges.txt nor tokenizer.json",
         dir.string());
  }

  std::string bos = "<|startoftext|>", eos = "<|endoftext|>", pad, unk = "<|endoftext|>";
  int max_length = 77;
  for (const char* name :
       {"special_tokens_map.json", "tokenizer_config.json"}) {  // the second wins
    const fs::path file = dir / name;
    if (!fs::exists(file)) continue;
    const auto j = read_json_file(file);
    if (!j.is_object()) fail("'{}' must be a JSON object", file.string());
    if (j.contains("bos_token") && !j["bos_token"].is_null())
      bos = token_text(j["bos_token"], file, "bos_token");
    if (j.contains("eos_token") && !j["eos_token"].is_null())
      eos = token_text(j["eos_token"], file, "eos_token");
    if (j.contains("pad_token") && !j["pad_token"].is_null())
      pad = token_text(j["pad_token"], file, "pad_token");
    if (j.contains("unk_token") && !j["unk_token"].is_null())
      unk = token_text(j["unk_token"], file, "unk_token");
    if (j.contains("model_max_length") && j["model_max_length"].is_number()) {
      const double v = j["model_max_length"].get<double>();
      if (v < 2) fail("'{}': model_max_length {} is too small", file.string(), v);
      if (v <= 4096) max_length = int(v);  // transformers writes ~1e30 for "no limit"; CLIP's is 77
    }
  }
  try {
    return ClipTokenizer(std::move(vocab), merges, bos, eos, pad, unk, max_length);
  } catch (const Error& e) {
    fail("tokenizer '{}': {}", dir.string(), e.what());
  }
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& piece) const {
  std::vector<std::string> sym;
  for (unsigned char b : piece) sym.push_back(byte_chars()[b]);
  if (sym.empty()) return sym;
  sym.back() += "</w>";
  while (sym.size() > 1) {
    int best = INT_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = ranks_.find(sym[i] + kPairSep + sym[i + 1]);
      if (it != ranks_.end() && it->second < best) best = it->second, at = i;
    }
    if (best == INT_MAX) break;
    const std::string a = sym[at], b = sym[at + 1];
    std::vector<std::string> merged;
    merged.reserve(sym.size());
    for (size_t i = 0; i < sym.size(); ++i) {
      if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
        merged.push_back(a + b);
        ++i;
      } else {
        merged.push_back(sym[i]);
      }
    }
    sym = std::move(merged);
  }
  return sym;
}

void ClipTokenizer::encode_segment(std::string_view text, std::vector<int>& ids,
                                   std::vector<std::string>* tokens) const {
  // Normalizer: NFC, \s+ -> " ", lowercase.
  const std::u32string composed = unicode::nfc(unicode::decode_utf8(text));
  std::u32string norm;
  norm.reserve(composed.size());
  for (size_t i = 0; i < composed.size();) {
    if (unicode::is_whitespace(composed[i])) {
      while (i < composed.size() && unicode::is_whitespace(composed[i])) ++i;
      norm.push_back(U' ');
    } else {
      unicode::append_lower(composed[i++], norm);
    }
  }
  // Pre-tokenizer: the regex's alternatives in order at each position; unmatched characters
  // (whitespace) are dropped.
  // Each piece is split again by the byte-level pre-tokenizer's own (GPT-2) regex; on CLIP's pieces
  // that changes only the special-token literals ("<|endoftext|>" -> "<|", "endoftext", "|>").
  auto emit = [&](std::u32string_view piece) {
    for (size_t i = 0; i < piece.size();) {
      size_t len = contraction_at(piece, i);
      if (!len) {
        const int cls = char_class(piece[i]);
        while (i + len < piece.size() && char_class(piece[i + len]) == cls) ++len;
      }
      for (const auto& t : bpe(unicode::encode_utf8(piece.substr(i, len)))) {
        auto it = vocab_.find(t);
        ids.push_back(it == vocab_.end() ? unk_id_ : it->second);
        if (tokens) tokens->push_back(t);
      }
      i += len;
    }
  };
  const std::u32string_view s = norm;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    for (auto lit : kRegexSpecials)
      if (s.substr(i, lit.size()) == lit) len = lit.size();
    if (!len) len = contraction_at(s, i);
    if (!len && unicode::is_letter(s[i])) {
      while (i + len < s.size() && unicode::is_letter(s[i + len])) ++len;
    } else if (!len && unicode::is_number(s[i])) {
      len = 1;
    } else if (!len && !unicode::is_whitespace(s[i])) {
      auto other = [](char32_t c) {
        return !unicode::is_whitespace(c) && !unicode::is_letter(c) && !unicode::is_number(c);
      };
      while (i + len < s.size() && other(s[i + len])) ++len;
    }
    if (!len) {
      ++i;
      continue;
    }
    emit(s.substr(i, len));
    i += len;
  }
}

void ClipTokenizer::encode_impl(std::string_view text, std::vector<int>& ids,
                                std::vector<std::string>* tokens) const {
  // Special tokens are found in the raw text first (tokenizers' added vocabulary), leftmost match.
  size_t start = 0;
  while (start <= text.size()) {
    size_t best = std::string_view::npos;
    const std::string* which = nullptr;
    for (const auto& sp : specials_) {
      const size_t at = text.find(sp, start);
      if (at < best) best = at, which = &sp;
    }
    encode_segment(
        text.substr(start, best == std::string_view::npos ? std::string_view::npos : best - start),
        ids, tokens);
    if (!which) break;
    ids.push_back(vocab_.at(*which));
    if (tokens) tokens->push_back(*which);
    start = best + which->size();
  }
}

std::vector<int> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  encode_impl(text, ids, nullptr);
  return ids;
}

std::vector<std::string> ClipTokenizer::tokens(std::string_view text) const {
  std::vector<int> ids;
  std::vector<std::string> toks;
  encode_impl(text, ids, &toks);
  return toks;
}

std::vector<int64_t> ClipTokenizer::encode_padded(std::string_view text, int length) const {
  if (length <= 0) length = model_max_length_;
  if (length < 2) fail("a padded length of {} leaves no room for the start and end tokens", length);
  const auto ids = encode(text);
  std::vector<int64_t> out;
  out.reserve(length);
  out.push_back(bos_id_);
  for (size_t i = 0; i < ids.size() && out.size() + 1 < size_t(length); ++i) out.push_back(ids[i]);
  out.push_back(eos_id_);
  out.resize(length, pad_id_);
  return out;
}

}  // namespace asdm
