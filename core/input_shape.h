#pragma once
// The one input-shape vocabulary: the UNet input a cost, a profile, a search and a bench are
// measured at, and how every artifact writes it ("input": {resolution, latent_height,
// latent_width, batch, text_tokens}). Torch-free.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

struct InputShape {
  int resolution = 512;  // image side in pixels; 0 when not known (a bare UNet config)
  int latent_height = 64, latent_width = 64;  // the UNet's sample (image side / VAE factor)
  int batch = 1;                              // images per forward (before the guidance batch)
  int text_tokens = 77;

  // A square latent of `side`, for an image of side x vae_scale pixels.
  static InputShape square(int side, int vae_scale, int batch, int text_tokens);
  // "batch 8, 128² (latent 16x16), 16 text tokens"; what is not known is left out.
  std::string text() const;
  bool operator==(const InputShape&) const = default;
};

nlohmann::json to_json(const InputShape& s);
// Reads what to_json wrote; fields an older writer left out are 0. nlohmann::json errors on a
// missing batch or text_tokens (artifact readers wrap them).
InputShape input_shape_from_json(const nlohmann::json& j);

}  // namespace asdm
