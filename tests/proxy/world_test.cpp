#include "proxy/world.h"

#include <set>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm::proxy {
namespace {

bool same(const std::vector<Object>& a, const std::vector<Object>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape != b[i].shape || a[i].colour != b[i].colour || a[i].position != b[i].position)
      return false;
  return true;
}

TEST(ProxyWorld, ExamplesAreAPureFunctionOfSeedAndIndex) {
  const WorldSpec w = world_spec("default");
  const Example a = make_example(w, 7, 1234), b = make_example(w, 7, 1234);
  EXPECT_EQ(a.caption, b.caption);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_TRUE(same(a.objects, b.objects));
  ASSERT_EQ(a.pixels.size(), 32u * 32 * 3);
  int differ = 0;
  for (uint64_t i = 0; i < 20; ++i)
    differ += make_example(w, 7, i).pixels != make_example(w, 8, i).pixels;
  EXPECT_GE(differ, 15);  // another seed, another stream
  // The stream covers every attribute value.
  std::set<int> shapes, colours, positions;
  for (uint64_t i = 0; i < 500; ++i) {
    const auto o = make_example(w, 1, i).objects[0];
    shapes.insert(o.shape);
    colours.insert(o.colour);
    positions.insert(o.position);
  }
  EXPECT_EQ(shapes.size(), w.shapes.size());
  EXPECT_EQ(colours.size(), w.colours.size());
  EXPECT_EQ(positions.size(), 9u);
}

TEST(ProxyWorld, CaptionsParseBackToTheirObjects) {
  for (const char* name : {"default", "test"}) {
    const WorldSpec w = world_spec(name);
    for (int s = 0; s < int(w.shapes.size()); ++s)
      for (int c = 0; c < int(w.colours.size()); ++c)
        for (int p = 0; p < w.grid * w.grid; ++p)
          for (int t = 0; t < 2; ++t) {
            const std::vector<Object> o = {{s, c, p}};
            const std::string cap = caption(w, o, t);
            EXPECT_TRUE(same(parse_caption(w, cap), o)) << cap;
            Tokenizer(w).encode(cap);  // every caption fits the tokenizer
          }
  }
  const WorldSpec w = world_spec("default");
  EXPECT_EQ(caption(w, {{0, 0, 0}}), "a red circle at the top left");
  EXPECT_EQ(caption(w, {{1, 2, 4}}, 1), "the center has a blue square");
  EXPECT_EQ(test::error_of([&] { parse_caption(w, "a purple circle at the top"); }),
            "caption 'a purple circle at the top' is outside the default world's grammar: 'purple' "
            "is not a colour");
}

TEST(ProxyWorld, TwoObjectsAsAnOption) {
  WorldSpec w = world_spec("default");
  w.max_objects = 2;
  w.two_object_rate = 1.0;
  w.max_tokens = 24;
  for (uint64_t i = 0; i < 50; ++i) {
    const Example e = make_example(w, 3, i);
    ASSERT_EQ(e.objects.size(), 2u);
    EXPECT_NE(e.objects[0].position, e.objects[1].position);
    EXPECT_TRUE(same(parse_caption(w, e.caption), e.objects)) << e.caption;
    EXPECT_NE(e.caption.find(" and "), std::string::npos);
  }
}

TEST(ProxyWorld, EveryShapeDrawsADistinctSprite) {
  for (const char* name : {"default", "test"}) {
    WorldSpec w = world_spec(name);
    w.shapes = all_shapes();
    w.jitter = 0;
    std::set<std::vector<uint8_t>> sprites;
    for (int s = 0; s < int(w.shapes.size()); ++s) {
      const auto px = render(w, {{s, 0, 0}}, 0, 0);
      int lit = 0;
      for (size_t i = 0; i < px.size(); i += 3) lit += px[i] > 0;
      EXPECT_GT(lit, w.sprite_size) << name << " " << w.shapes[s];
      sprites.insert(px);
    }
    EXPECT_EQ(sprites.size(), w.shapes.size()) << name;
  }
  // Position: the object's pixels sit in its cell.
  const WorldSpec w = world_spec("default");
  const auto px = render(w, {{1, 0, 8}}, 0, 0);  // a square at the bottom right
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) EXPECT_EQ(px[(y * 32 + x) * 3], 0) << x << "," << y;
  EXPECT_EQ(px[(26 * 32 + 26) * 3], 230);
}

TEST(ProxyTokenizer, EncodesTheClosedVocabularyAndNamesUnknownWords) {
  const WorldSpec w = world_spec("default");
  const Tokenizer t(w);
  EXPECT_EQ(t.vocab[0], "<pad>");
  const auto ids = t.encode("A Red circle at the top left");
  ASSERT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids[0], Tokenizer::kStart);
  EXPECT_EQ(t.vocab[ids[2]], "red");
  EXPECT_EQ(Tokenizer::end_position(ids), 8);
  EXPECT_EQ(ids[9], Tokenizer::kPad);
  const auto empty = t.encode("");
  EXPECT_EQ(empty[0], Tokenizer::kStart);
  EXPECT_EQ(empty[1], Tokenizer::kEnd);
  const std::string err = test::error_of([&] { t.encode("a red dragon at the top"); });
  EXPECT_EQ(err.rfind("unknown word 'dragon' in caption 'a red dragon at the top' (the vocabulary: "
                      "a, and, at, ",
                      0),
            0u)
      << err;
  EXPECT_EQ(test::error_of([&] { t.encode("a a a a a a a a a a a a a a a"); }),
            "caption 'a a a a a a a a a a a a a a a' has 15 words; at most 14 fit in 16 tokens");
}

TEST(ProxyWorld, PromptSetsAreDistinctAndDeterministic) {
  const WorldSpec w = world_spec("default");
  const auto a = prompt_set(w, 1001, 200), b = prompt_set(w, 1001, 200);
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()).size(), 200u);
  EXPECT_NE(prompt_set(w, 2002, 200), a);
  EXPECT_EQ(test::error_of([] { prompt_set(world_spec("test"), 1, 49); }),
            "the test world has 48 distinct single-object captions; asked for 49");
  EXPECT_EQ(test::error_of([] { world_spec("mnist"); }),
            "unknown proxy world 'mnist' (known: default, test)");
}

}  // namespace
}  // namespace asdm::proxy
