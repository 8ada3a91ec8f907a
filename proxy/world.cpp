#include "proxy/world.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"

namespace asdm::proxy {

uint64_t SplitMix64::next() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const std::vector<std::string>& all_shapes() {
  static const std::vector<std::string> v = {"circle", "square", "triangle",
                                             "cross",  "ring",   "diamond"};
  return v;
}

const std::vector<std::string>& all_colours() {
  static const std::vector<std::string> v = {"red",     "green", "blue",  "yellow",
                                             "magenta", "cyan",  "white", "orange"};
  return v;
}

std::array<uint8_t, 3> colour_rgb(const std::string& c) {
  if (c == "red") return {230, 30, 30};
  if (c == "green") return {30, 200, 40};
  if (c == "blue") return {40, 60, 240};
  if (c == "yellow") return {240, 220, 30};
  if (c == "magenta") return {220, 40, 220};
  if (c == "cyan") return {30, 220, 230};
  if (c == "white") return {245, 245, 245};
  if (c == "orange") return {250, 140, 20};
  fail("unknown colour '{}'", c);
}

std::vector<std::string> WorldSpec::positions() const {
  if (grid == 2) return {"top left", "top right", "bottom left", "bottom right"};
  return {"top left", "top",         "top right", "left",        "center",
          "right",    "bottom left", "bottom",    "bottom right"};
}

WorldSpec world_spec(const std::string& name) {
  WorldSpec w;
  w.name = name;
  if (name == "default") {
    w.image_size = 32;
    w.sprite_size = 12;
    w.grid = 3;
    w.jitter = 1;
    w.shapes = {"circle", "square", "triangle", "cross"};
    w.colours = {"red", "green", "blue", "yellow", "magenta", "cyan"};
  } else if (name == "test") {
    w.image_size = 16;
    w.sprite_size = 7;
    w.grid = 2;
    w.jitter = 0;
    w.shapes = {"circle", "square"};
    w.colours = {"red", "green", "blue"};
    w.max_tokens = 12;
  } else {
    fail("unknown proxy world '{}' (known: default, test)", name);
  }
  return w;
}

namespace {

bool inside(const std::string& shape, int S, int x, int y) {
  const double c = S / 2.0, dx = x + 0.5 - c, dy = y + 0.5 - c, r = S / 2.0 - 0.5;
  if (shape == "circle") return dx * dx + dy * dy <= r * r;
  if (shape == "square") return x >= 1 && x < S - 1 && y >= 1 && y < S - 1;
  if (shape == "triangle") {  // apex up
    if (y < 1 || y >= S - 1) return false;
    const double t = (y + 0.5 - 1) / (S - 2);  // 0 at the apex row, 1 at the base
    return std::abs(dx) <= t * r + 0.25;
  }
  if (shape == "cross") {
    const double arm = S / 6.0;
    return (std::abs(dx) <= arm && std::abs(dy) <= r) || (std::abs(dy) <= arm && std::abs(dx) <= r);
  }
  if (shape == "ring") {
    const double d = std::sqrt(dx * dx + dy * dy);
    return d <= r && d >= r - S / 4.0;
  }
  if (shape == "diamond") return std::abs(dx) + std::abs(dy) <= r;
  fail("unknown shape '{}'", shape);
}

uint64_t mix(uint64_t seed, uint64_t index) {
  SplitMix64 g(seed ^ (index * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
  g.next();
  return g.next();
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    std::transform(w.begin(), w.end(), w.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    words.push_back(w);
  }
  return words;
}

}  // namespace

std::vector<uint8_t> render(const WorldSpec& w, const std::vector<Object>& objects, uint64_t seed,
                            uint64_t index) {
  const int N = w.image_size, S = w.sprite_size;
  std::vector<uint8_t> px(size_t(N) * N * 3, 0);
  SplitMix64 g(mix(seed, index) ^ 0x5bd1e995u);
  for (const Object& o : objects) {
    const int row = o.position / w.grid, col = o.position % w.grid;
    auto origin = [&](int cell) {
      int v = static_cast<int>(std::lround(double(N - S) * cell / (w.grid - 1)));
      if (w.jitter > 0) v += g.below(2 * w.jitter + 1) - w.jitter;
      return std::clamp(v, 0, N - S);
    };
    const int x0 = origin(col), y0 = origin(row);
    const auto rgb = colour_rgb(w.colours.at(o.colour));
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        if (inside(w.shapes.at(o.shape), S, x, y))
          for (int k = 0; k < 3; ++k) px[(size_t(y0 + y) * N + (x0 + x)) * 3 + k] = rgb[k];
  }
  return px;
}

std::string caption(const WorldSpec& w, const std::vector<Object>& objects, int t) {
  ASDM_CHECK(!objects.empty(), "a caption needs an object");
  auto pos = w.positions();
  auto one = [&](const Object& o) {
    return fmt::format("a {} {} at the {}", w.colours.at(o.colour), w.shapes.at(o.shape),
                       pos.at(o.position));
  };
  if (objects.size() == 1 && t == 1)
    return fmt::format("the {} has a {} {}", pos.at(objects[0].position),
                       w.colours.at(objects[0].colour), w.shapes.at(objects[0].shape));
  std::string s = one(objects[0]);
  for (size_t i = 1; i < objects.size(); ++i) s += " and " + one(objects[i]);
  return s;
}

Example make_example(const WorldSpec& w, uint64_t seed, uint64_t index) {
  SplitMix64 g(mix(seed, index));
  Example e;
  const int n = (w.max_objects >= 2 && g.uniform() < w.two_object_rate) ? 2 : 1;
  const int positions = w.grid * w.grid;
  for (int i = 0; i < n; ++i) {
    Object o;
    o.shape = g.below(static_cast<int>(w.shapes.size()));
    o.colour = g.below(static_cast<int>(w.colours.size()));
    do {
      o.position = g.below(positions);
    } while (i > 0 && o.position == e.objects[0].position);
    e.objects.push_back(o);
  }
  e.caption = caption(w, e.objects, n == 1 ? g.below(2) : 0);
  e.pixels = render(w, e.objects, seed, index);
  return e;
}

std::vector<Object> parse_caption(const WorldSpec& w, const std::string& text) {
  const auto words = split_words(text);
  const auto pos = w.positions();
  size_t i = 0;
  auto bad = [&](const std::string& why) -> std::vector<Object> {
    fail("caption '{}' is outside the {} world's grammar: {}", text, w.name, why);
  };
  auto index_of = [&](const std::vector<std::string>& list, const std::string& word,
                      const char* what) {
    auto it = std::find(list.begin(), list.end(), word);
    if (it == list.end()) bad(fmt::format("'{}' is not a {}", word, what));
    return static_cast<int>(it - list.begin());
  };
  auto expect = [&](const std::string& word) {
    if (i >= words.size() || words[i] != word)
      bad(fmt::format("expected '{}' at word {}", word, i + 1));
    ++i;
  };
  auto position = [&]() {  // the longest position phrase at i
    int best = -1;
    size_t best_len = 0;
    for (size_t p = 0; p < pos.size(); ++p) {
      const auto pw = split_words(pos[p]);
      if (i + pw.size() <= words.size() && std::equal(pw.begin(), pw.end(), words.begin() + i) &&
          pw.size() > best_len) {
        best = static_cast<int>(p);
        best_len = pw.size();
      }
    }
    if (best < 0) bad(fmt::format("no position at word {}", i + 1));
    i += best_len;
    return best;
  };
  std::vector<Object> objects;
  if (!words.empty() && words[0] == "the") {
    ++i;
    Object o;
    o.position = position();
    expect("has");
    expect("a");
    if (i + 2 != words.size()) bad("expected '<colour> <shape>' at the end");
    o.colour = index_of(w.colours, words[i++], "colour");
    o.shape = index_of(w.shapes, words[i++], "shape");
    objects.push_back(o);
    return objects;
  }
  while (true) {
    expect("a");
    if (i + 2 > words.size()) bad("expected '<colour> <shape>'");
    Object o;
    o.colour = index_of(w.colours, words[i++], "colour");
    o.shape = index_of(w.shapes, words[i++], "shape");
    expect("at");
    expect("the");
    o.position = position();
    objects.push_back(o);
    if (i == words.size()) break;
    expect("and");
  }
  return objects;
}

std::vector<std::string> prompt_set(const WorldSpec& w, uint64_t seed, int count) {
  const int distinct = static_cast<int>(w.shapes.size() * w.colours.size()) * w.grid * w.grid * 2;
  if (count < 1 || count > distinct)
    fail("the {} world has {} distinct single-object captions; asked for {}", w.name, distinct,
         count);
  SplitMix64 g(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  while (static_cast<int>(out.size()) < count) {
    Object o{g.below(static_cast<int>(w.shapes.size())),
             g.below(static_cast<int>(w.colours.size())), g.below(w.grid * w.grid)};
    std::string c = caption(w, {o}, g.below(2));
    if (seen.insert(c).second) out.push_back(std::move(c));
  }
  return out;
}

Tokenizer::Tokenizer(const WorldSpec& w) : max_tokens(w.max_tokens) {
  std::set<std::string> words = {"a", "at", "the", "has", "and"};
  for (const auto& s : w.shapes) words.insert(s);
  for (const auto& c : w.colours) words.insert(c);
  for (const auto& p : w.positions())
    for (const auto& x : split_words(p)) words.insert(x);
  vocab = {"<pad>", "<start>", "<end>"};
  vocab.insert(vocab.end(), words.begin(), words.end());
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  const auto words = split_words(text);
  if (static_cast<int>(words.size()) + 2 > max_tokens)
    fail("caption '{}' has {} words; at most {} fit in {} tokens", text, words.size(),
         max_tokens - 2, max_tokens);
  std::vector<int64_t> ids(max_tokens, kPad);
  ids[0] = kStart;
  for (size_t i = 0; i < words.size(); ++i) {
    auto it = std::find(vocab.begin() + 3, vocab.end(), words[i]);
    if (it == vocab.end())
      fail("unknown word '{}' in caption '{}' (the vocabulary: {})", words[i], text,
           join_limited(std::vector<std::string>(vocab.begin() + 3, vocab.end()), 40));
    ids[i + 1] = it - vocab.begin();
  }
  ids[words.size() + 1] = kEnd;
  return ids;
}

int Tokenizer::end_position(const std::vector<int64_t>& ids) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == kEnd) return static_cast<int>(i);
  fail("token ids without an end token");
}

}  // namespace asdm::proxy
