#pragma once
// A CLIP model for scoring images against captions: the vision tower and its projection, the text
// tower (sd/clip_text.h's ClipTextModel) and its projection, the tokenizer, and the image
// preprocessing of the library the weights come from:
//   transformers  a CLIPModel folder (config.json with text_config/vision_config,
//   model.safetensors,
//                 vocab.json + merges.txt, preprocessor_config.json): what torchmetrics' CLIPScore
//                 runs — torchvision bicubic resize of the shortest edge with antialiasing, rounded
//                 to 8 bits, centre crop, normalisation; captions tokenized with padding and cut
//                 at the model's positions without a new end token, as torchmetrics does.
//   open_clip     an OpenCLIP folder (open_clip_config.json, open_clip_model.safetensors or
//                 open_clip_pytorch_model.bin, and CLIP's vocab.json + merges.txt): Pillow's 8-bit
//                 bicubic resize, centre crop, normalisation; captions truncated with the end
//                 token kept, as open_clip's tokenizer does. ViT image towers only.
// Embeddings come back L2-normalised, float32, on the CPU. Light header.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

class ClipScorer {
 public:
  // `tokenizer_dir` overrides where vocab.json + merges.txt are looked for (default: the folder
  // itself, then its tokenizer/ subfolder).
  static std::unique_ptr<ClipScorer> load(const std::filesystem::path& dir,
                                          const std::filesystem::path& tokenizer_dir = {});
  ~ClipScorer();

  const std::string& flavour() const;  // "transformers" | "open_clip"
  const std::string& sha256() const;   // of the weights file (of its shards' digests when sharded)
  const std::string& name() const;     // the folder's name, for eval.json
  int image_size() const;
  void to(const std::string& device, const std::string& dtype);

  // images: [B, 3, H, W] uint8. Returns [B, E] unit vectors.
  at::Tensor image_embeddings(const at::Tensor& images) const;
  at::Tensor text_embeddings(const std::vector<std::string>& captions) const;
  // The model's input for `images` ([B, 3, S, S] float), for tests.
  at::Tensor preprocess(const at::Tensor& images) const;

 private:
  ClipScorer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// torchmetrics' CLIPScore of paired unit embeddings, as its code computes it: max(mean over pairs
// of 100 * cos, 0) (its docstring writes the clamp per pair; with real CLIP models cosines are
// positive and the two agree). Both [N, E]; asdm::Error when N differs or is 0.
double clip_score(const at::Tensor& image_embeddings, const at::Tensor& text_embeddings);

}  // namespace asdm
