#pragma once
// Training sets for incubation on real pipelines (issue 9 item 6): images with captions encoded
// by a Stable Diffusion pipeline's own VAE and text encoders into the latents file that
// incubation/data.h's latents_data() reads ("latents", "encoder_hidden_states", and for SDXL
// "text_embeds" and "time_ids" with each image's original size and crop).
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model/tensor_io.h"

namespace asdm {

class SdPipeline;

struct ImageCaption {
  std::filesystem::path image;
  std::string caption;
};

// The images in `dir` (.png, .jpg, .jpeg, .bmp; sorted by name), each with its caption in
// <stem>.txt beside it. Throws asdm::Error naming an image without a caption, or an empty folder.
std::vector<ImageCaption> list_image_captions(const std::filesystem::path& dir);

// Each image resized (shorter side to `resolution`, bilinear with antialiasing) and centre-cropped
// to resolution x resolution, scaled to [-1, 1] and encoded to the VAE's mean latent (times the
// scaling factor); each caption embedded as the pipeline embeds prompts. progress(done, total).
TensorMap encode_latent_dataset(const SdPipeline& pipeline, const std::vector<ImageCaption>& items,
                                int resolution, int batch = 4,
                                const std::function<void(int, int)>& progress = {});

}  // namespace asdm
