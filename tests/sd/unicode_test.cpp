#include "sd/unicode.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace asdm::unicode {
namespace {

TEST(Unicode, Utf8RoundTripsEveryPlane) {
  const std::u32string text = U"a\u00e9\u20ac\U0001F680z";
  const std::string utf8 = encode_utf8(text);
  EXPECT_EQ(utf8, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80z");
  EXPECT_EQ(decode_utf8(utf8), text);
}

TEST(Unicode, InvalidUtf8NamesTheByte) {
  for (const std::string bad :
       {"ab\xC0\x80", "ab\xED\xA0\x80", "ab\xE2\x82", "ab\xFF", "ab\xF4\x90\x80\x80"}) {
    try {
      decode_utf8(bad);
      ADD_FAILURE() << "accepted " << bad.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos) << e.what();
    }
  }
}

TEST(Unicode, ClassesFollowTheUnicodeCategories) {
  for (char32_t c : {U'a', U'Z', U'\u00e9', U'\u03a3', U'\u6771', U'\uac00', U'\u02b0'})
    EXPECT_TRUE(is_letter(c)) << uint32_t(c);
  for (char32_t c : {U'1', U'\u0663', U'\u00bd', U'\u2460', U'\u00b2'})
    EXPECT_TRUE(is_number(c)) << uint32_t(c);
  for (char32_t c : {U'!', U' ', U'\u0301', U'\U0001F680', U'_'}) {
    EXPECT_FALSE(is_letter(c)) << uint32_t(c);
    EXPECT_FALSE(is_number(c)) << uint32_t(c);
  }
  for (char32_t c : {U' ', U'\t', U'\n', U'\u0085', U'\u00a0', U'\u2003', U'\u3000'})
    EXPECT_TRUE(is_whitespace(c));
  for (char32_t c : {U'\u200b', U'\u001c', U'x'}) EXPECT_FALSE(is_whitespace(c));
}

TEST(Unicode, LowercaseIsPerCodePointAndFull) {
  std::u32string out;
  for (char32_t c : std::u32string(U"A\u00c9\u03a3\u0130\u1e9e\u01c5z")) append_lower(c, out);
  // No final-sigma rule; U+0130 becomes i + combining dot; U+1E9E becomes sharp s.
  EXPECT_EQ(out, U"a\u00e9\u03c3i\u0307\u00df\u01c6z");
}

TEST(Unicode, NfcComposesReordersAndMapsSingletons) {
  EXPECT_EQ(nfc(U"e\u0301"), U"\u00e9");
  EXPECT_EQ(nfc(U"\u212b"), U"\u00c5");              // angstrom sign -> A with ring
  EXPECT_EQ(nfc(U"a\u0323\u0302"), U"\u1ead");       // dot below (220) before circumflex (230)
  EXPECT_EQ(nfc(U"a\u0302\u0323"), U"\u1ead");       // reordered first
  EXPECT_EQ(nfc(U"\u1100\u1161\u11a8"), U"\uac01");  // Hangul L V T
  EXPECT_EQ(nfc(U"\uac00\u11a8"), U"\uac01");        // LV + T
  EXPECT_EQ(nfc(U"\u0344"), U"\u0308\u0301");        // excluded from recomposition
  EXPECT_EQ(nfc(U"plain ascii"), U"plain ascii");
  EXPECT_EQ(nfc(U"e\u0301\u0301"), U"\u00e9\u0301");  // the second accent is blocked
}

}  // namespace
}  // namespace asdm::unicode
