#pragma once
// AblationSubject's data (analysis/subject.h). Internal: included by analysis/*.cpp only.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "analysis/subject.h"
#include "model/unet.h"

namespace asdm {

struct AblationSubject::Impl {
  std::shared_ptr<void> owner;  // keeps the UNet (and pipeline, classifier) alive
  const UNet* unet = nullptr;
  std::string device = "cpu";
  // Conditioning by name (encoder_hidden_states, class_labels, text_embeds, time_ids,
  // timestep_cond): row 0 unconditional (zeros when there is none), row i + 1 prompt i.
  std::map<std::string, at::Tensor> cond;
  bool has_unconditional = false;
  std::vector<std::string> prompts;
  std::string prompts_sha256, description;
  std::vector<int64_t> sample_shape;
  SchedulerConfig scheduler;
  double default_guidance = 7.5;
  std::function<at::Tensor(const at::Tensor&)> to_output;  // default: float32 CPU copy
  double output_range = 0;
  std::string output_space = "latents";
  std::function<std::map<std::string, double>(const at::Tensor&, const std::vector<int>&, uint64_t)>
      quality;

  // Fills prompts_sha256 from cond and prompts.
  void fingerprint();
};

}  // namespace asdm
