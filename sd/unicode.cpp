#include "sd/unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "core/error.h"

namespace asdm::unicode {

namespace {

struct CodeRange {
  char32_t first, last;
};
struct LowerEntry {
  char32_t cp, lower0, lower1;  // lower1 == 0: a one-code-point mapping
};
struct ClassRange {
  char32_t first, last;
  uint8_t ccc;
};
struct DecompEntry {
  char32_t cp;
  uint16_t offset, length;
};
struct CompEntry {
  char32_t first, second, composite;
};

#include "sd/unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&ranges)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                             [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != std::begin(ranges) && c <= std::prev(it)->last;
}

// Hangul syllables compose and decompose algorithmically (Unicode §3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const int s = int(c - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  auto it = std::lower_bound(std::begin(kDecomposition), std::end(kDecomposition), c,
                             [](const DecompEntry& e, char32_t v) { return e.cp < v; });
  if (it != std::end(kDecomposition) && it->cp == c)
    out.append(kDecompositionData + it->offset, it->length);
  else
    out.push_back(c);
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kComposition), std::end(kComposition), std::pair{a, b},
                             [](const CompEntry& e, const std::pair<char32_t, char32_t>& v) {
                               return std::pair{e.first, e.second} < v;
                             });
  if (it != std::end(kComposition) && it->first == a && it->second == b) return it->composite;
  return 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80           ? 1
              : (b0 >> 5) == 0x6  ? 2
              : (b0 >> 4) == 0xE  ? 3
              : (b0 >> 3) == 0x1E ? 4
                                  : 0;
    if (len == 0 || i + len > s.size())
      fail("text is not valid UTF-8 (byte {} of {})", i, s.size());
    char32_t c = len == 1 ? b0 : b0 & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) fail("text is not valid UTF-8 (byte {} of {})", i, s.size());
      c = (c << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
      fail("text is not valid UTF-8 (byte {} of {})", i, s.size());
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(c, out);
  return out;
}

bool is_letter(char32_t c) { return in_ranges(kLetterRanges, c); }
bool is_number(char32_t c) { return in_ranges(kNumberRanges, c); }

bool is_whitespace(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

void append_lower(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  auto it = std::lower_bound(std::begin(kLowercase), std::end(kLowercase), c,
                             [](const LowerEntry& e, char32_t v) { return e.cp < v; });
  if (it == std::end(kLowercase) || it->cp != c) {
    out.push_back(c);
    return;
  }
  out.push_back(it->lower0);
  if (it->lower1) out.push_back(it->lower1);
}

uint8_t combining_class(char32_t c) {
  if (c < 0x300) return 0;
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), c,
                             [](char32_t v, const ClassRange& r) { return v < r.first; });
  return it != std::begin(kCombiningClass) && c <= std::prev(it)->last ? std::prev(it)->ccc : 0;
}

std::u32string nfc(std::u32string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x300; })) {
    // Below U+0300 only Latin-1 letters decompose, and always into a base plus an accent that
    // recomposes: the text is already NFC.
    return std::u32string(text);
  }
  std::u32string d;
  d.reserve(text.size() + 8);
  for (char32_t c : text) decompose(c, d);
  // Canonical ordering: a stable sort of every run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](char32_t a, char32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j;
  }
  // Canonical composition: each character joins the last starter unless blocked by a character
  // in between of the same or a higher class (or a starter).
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  int last_class = -1;
  for (char32_t c : d) {
    const int cc = combining_class(c);
    if (starter != std::u32string::npos &&
        (last_class < cc || (last_class == 0 && out.size() == starter + 1))) {
      if (char32_t comp = compose(out[starter], c)) {
        out[starter] = comp;
        continue;
      }
    }
    if (cc == 0) starter = out.size();
    last_class = cc;
    out.push_back(c);
  }
  return out;
}

const char* data_version() { return kUnicodeVersion; }

}  // namespace asdm::unicode
