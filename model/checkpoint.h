#pragma once
// Loading and saving UNet weights: strict key and shape matching (every missing, unexpected and
// mis-shaped key listed in one message), dtype conversion on load, diffusers folders on save.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/model_files.h"
#include "model/unet.h"

namespace asdm {

struct LoadOptions {
  std::string device = "cpu";
  std::string dtype = "float32";
  // A bare config (no weights) builds a randomly initialised UNet instead of failing.
  bool allow_random_weights = false;
  // Channels-last (NHWC) weights and activations (UNet::set_channels_last; issue 21's fast path).
  bool channels_last = false;
};

// Loads a model from a folder or config (see locate_model) with strict key matching.
std::unique_ptr<UNet> load_unet(const std::filesystem::path& model, const LoadOptions& opts = {});

// Fills the UNet's parameters from the model's checkpoint (its weight files, or a single file's
// UNet through the LDM names). Strict: any missing or unexpected key or wrong shape throws one
// asdm::Error listing them all. CPU parameters of the file's dtype become the safetensors file's
// own bytes (copy-on-write); others are copies.
void load_weights(UNet& unet, const ModelFiles& model);
void load_weights(UNet& unet, const std::vector<std::filesystem::path>& files);

// Weight inheritance: fills a student built from an ArchSpec from its teacher's checkpoint,
// mapping each student key to the teacher key (ArchSpec::teacher_key). Teacher tensors the student
// does not use are ignored; a student key without a teacher tensor of its shape is an error. Keys
// that have no teacher counterpart by construction (CLME routers) keep the student's
// initialisation.
void inherit_weights(UNet& student, const ModelFiles& teacher);
void inherit_weights(UNet& student, const std::vector<std::filesystem::path>& teacher_files);

// The inheritance table of a student built from an ArchSpec: for every student tensor (diffusers
// key), the teacher key it is copied from (ArchSpec::teacher_key; "" for a new tensor) and its
// shape.
struct InheritedTensor {
  std::string student_key, teacher_key;
  std::vector<int64_t> shape;
};
std::vector<InheritedTensor> inheritance_table(const UNet& student);

// Saves a diffusers folder: config.json (the student config), diffusion_pytorch_model.safetensors
// in `dtype` ("" keeps the model's), and asdm_arch.json when unit removals make the student
// inexpressible as a stock diffusers config.
void save_unet(const UNet& unet, const std::filesystem::path& dir, const std::string& dtype = "");

}  // namespace asdm
