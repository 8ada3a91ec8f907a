#pragma once
// What incubation trains on (issue 7 item 5), behind one interface: a batch of clean latents with
// their conditioning. Each example is a pure function of (seed, its global index (step - 1) * size
// + i), so that a resumed run sees exactly the batches an uninterrupted one would, and ranks and
// micro-batches that each take a slice of a step's batch see what one process would (issue 24). Two
// sources: the proxy world's endless stream (captions encoded by the pipeline's frozen text
// encoder, dropped to "" at cond_drop for guidance), and a safetensors file of precomputed latents
// and text embeddings for real checkpoints.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>  // TrainBatch holds tensors: include this header from .cpp files only

namespace asdm::proxy {
struct ProxyPipeline;
}

namespace asdm {

struct TrainBatch {
  at::Tensor x0;      // [B, C, H, W] clean latents
  at::Tensor hidden;  // [B, T, D] encoder hidden states
  std::optional<at::Tensor> class_labels, text_embeds, time_ids;
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  // Rows [first, first + count) of step `step`'s batch of `size` examples.
  virtual TrainBatch rows(uint64_t step, int size, int first, int count) const = 0;
  TrainBatch batch(uint64_t step, int size) const { return rows(step, size, 0, size); }
  virtual std::string describe() const = 0;
};

// The proxy world's stream with `seed`; example (step - 1) * size + i is the batch's i-th.
std::unique_ptr<DataSource> proxy_data(const proxy::ProxyPipeline& pipeline, uint64_t seed,
                                       double cond_drop);

// A safetensors file with "latents" [N, C, H, W] and "encoder_hidden_states" [N, T, D] (and, as the
// UNet needs them, "class_labels", "text_embeds", "time_ids"); rows are visited in a permutation
// drawn per epoch from `seed`. Throws asdm::Error naming what is missing or mis-shaped.
std::unique_ptr<DataSource> latents_data(const std::filesystem::path& file, uint64_t seed);

}  // namespace asdm
