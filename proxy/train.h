#pragma once
// Training the proxy world's pipeline (text encoder and UNet together) from scratch: v-prediction
// (or epsilon) MSE on the world's endless stream, captions dropped to "" at cond_drop so that the
// unconditional branch of classifier-free guidance is learned, AdamW with warm-up and gradient
// clipping. Checkpoints (weights, optimizer state, step) are written atomically every
// checkpoint_every steps; the data position and every random draw are functions of (seed, step),
// so a resumed run continues exactly where the interrupted one was. A JSON-lines log records
// each step.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace asdm::proxy {

struct TrainOptions {
  std::string world = "default";
  int steps = 2000;
  int batch = 32;
  double lr = 5e-4;
  int warmup = 100;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  double cond_drop = 0.1;
  std::string prediction = "v_prediction";
  uint64_t seed = 0;
  int checkpoint_every = 100;
  int stop_after = -1;  // stop after this step as if interrupted (tests); -1: run to the end
};

struct StepLog {
  int step = 0, steps = 0;
  double loss = 0, lr = 0, grad_norm = 0,
         seconds = 0;  // seconds: since this process started training
};

// Trains into `out` (the pipeline folder, train.jsonl, checkpoint/). With resume, continues from
// out/checkpoint; without it, an existing checkpoint there is an error. Returns the last step done.
int train_proxy(const std::filesystem::path& out, const TrainOptions& options, bool resume,
                const std::function<void(const StepLog&)>& on_step = {});

}  // namespace asdm::proxy
