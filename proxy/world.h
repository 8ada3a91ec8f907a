#pragma once
// The proxy world (DESIGN.md §7, issue 4): a small text-to-image problem generated procedurally
// and deterministically. Each example is a small RGB image of one object (two as an option) with
// a shape, a colour and a position, and a caption from templates ("a red circle at the top left").
// Example i of a stream is a pure function of (world, seed, i), so a training run resumes from an
// index and two machines draw the same data. Torch-free.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace asdm::proxy {

struct WorldSpec {
  std::string name;                  // "default" | "test"
  int image_size = 32;               // pixels per side (RGB)
  int sprite_size = 12;              // object side in pixels
  int grid = 3;                      // positions: grid x grid cells
  int jitter = 1;                    // +- pixels of random offset inside a cell
  std::vector<std::string> shapes;   // from kAllShapes
  std::vector<std::string> colours;  // from kAllColours
  int max_objects = 1;               // 2: a second object (other position) in some examples
  double two_object_rate = 0.0;      // fraction of examples with two objects when max_objects is 2
  int max_tokens = 16;               // tokenizer length, start and end tokens included

  std::vector<std::string> positions() const;  // "top left", "top", ... ("center" in the middle)
};

// "default": 32x32 images, 12-pixel sprites, 4 shapes, 6 colours, 9 positions.
// "test": 16x16 images, 6-pixel sprites, 2 shapes, 3 colours, 4 positions (trains in minutes).
// Throws asdm::Error naming the known worlds.
WorldSpec world_spec(const std::string& name);

struct Object {
  int shape = 0, colour = 0, position = 0;  // indices into the spec's lists
};

struct Example {
  std::vector<Object> objects;
  std::string caption;
  std::vector<uint8_t> pixels;  // HWC, RGB, image_size^2 * 3
};

// Example `index` of the stream with `seed`: objects, caption and image.
Example make_example(const WorldSpec& w, uint64_t seed, uint64_t index);
// Draws objects into an image (the same renderer the stream uses); jitter from `seed`/`index`.
std::vector<uint8_t> render(const WorldSpec& w, const std::vector<Object>& objects, uint64_t seed,
                            uint64_t index);
std::string caption(const WorldSpec& w, const std::vector<Object>& objects, int template_index = 0);
// The objects a caption names; throws asdm::Error for a caption outside the world's grammar.
std::vector<Object> parse_caption(const WorldSpec& w, const std::string& caption);

// `count` distinct single-object captions drawn with `seed` (validation and test prompt sets).
std::vector<std::string> prompt_set(const WorldSpec& w, uint64_t seed, int count);

// The closed vocabulary: special tokens, then every word the templates use, sorted.
struct Tokenizer {
  static constexpr int kPad = 0, kStart = 1, kEnd = 2;
  std::vector<std::string> vocab;
  int max_tokens = 16;

  explicit Tokenizer(const WorldSpec& w);
  int vocab_size() const { return static_cast<int>(vocab.size()); }
  // Lower-cases and splits on spaces; [start, words..., end, pad...] of max_tokens ids. An unknown
  // word or a caption too long is an asdm::Error naming it. "" gives the unconditional caption.
  std::vector<int64_t> encode(const std::string& caption) const;
  // The position of the end token in an encoding (the pooled embedding is read there).
  static int end_position(const std::vector<int64_t>& ids);
};

// SplitMix64: the stream's generator (stable across platforms and libraries).
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t s) : state(s) {}
  uint64_t next();
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

const std::vector<std::string>& all_shapes();  // circle, square, triangle, cross, ring, diamond
const std::vector<std::string>&
all_colours();  // red, green, blue, yellow, magenta, cyan, white, orange
std::array<uint8_t, 3> colour_rgb(const std::string& colour);

}  // namespace asdm::proxy
