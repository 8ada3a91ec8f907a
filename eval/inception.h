#pragma once
// Inception-v3 in its FID form: the TensorFlow 2015-12-05 graph as pytorch-fid, torch-fidelity and
// clean-fid port it (FIDInceptionA/C/E blocks: average pools without padded zeros, max pool in the
// last block), loaded from the weights file those packages use
// (pt_inception-2015-12-05-6726825d.pth, a torch.save state dict, or the same tensors as
// safetensors). Convolutions carry their batch norm folded in (eps 1e-3). Outputs: the 2048-d pool
// features (FID), the 1008 logits without the fc bias (torch-fidelity's "logits_unbiased", IS), and
// the 64/192/768-d early features pytorch-fid offers with --dims. Light header.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace at {
class Tensor;
}

namespace asdm {

// How images are brought to 299x299 and to the network's range, per reference package:
//   kPytorchFid    x/255, torch bilinear (align_corners=False), 2x - 1      (pytorch-fid, default)
//   kClean         PIL bicubic of each channel as a float image, clip to [0, 255], (x - 128)/128
//                  (clean-fid's "clean" mode)
//   kTorchFidelity TensorFlow 1.x bilinear (no half-pixel offset), (x - 128)/128 (torch-fidelity;
//                  its IS and FID)
enum class InceptionPreprocess { kPytorchFid, kClean, kTorchFidelity };
std::string to_string(InceptionPreprocess p);  // "pytorch-fid" | "clean" | "torch-fidelity"
InceptionPreprocess parse_inception_preprocess(const std::string& name);  // asdm::Error if unknown

struct InceptionOutputs {
  at::Tensor* pool = nullptr;    // [B, dims] for dims 64 | 192 | 768 | 2048
  at::Tensor* logits = nullptr;  // [B, 1008], unbiased
};

class FidInception {
 public:
  // Reads a state dict (torch.save zip format, .pth/.pt/.bin) or safetensors. Every key of the
  // architecture must be there with its shape; keys of another network are named in one error.
  static std::unique_ptr<FidInception> load(const std::filesystem::path& path);
  // Random weights of the real architecture (for tests and benchmarks), seeded.
  static std::unique_ptr<FidInception> random(uint64_t seed);
  ~FidInception();

  const std::string& sha256() const;  // of the weights file ("" for random weights)
  void to(const std::string& device,
          const std::string& dtype);  // "float32" | "float16" | "bfloat16"
  // images: [B, 3, H, W] uint8 (any H, W). `pool_dims` picks the pool features' layer.
  void forward(const at::Tensor& images, InceptionPreprocess preprocess, int pool_dims,
               const InceptionOutputs& out) const;
  // The preprocessed 299x299 float input the network sees, for tests.
  at::Tensor preprocess(const at::Tensor& images, InceptionPreprocess preprocess) const;

 private:
  FidInception();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
