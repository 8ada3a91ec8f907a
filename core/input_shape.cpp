#include "core/input_shape.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace asdm {

InputShape InputShape::square(int side, int vae_scale, int batch, int text_tokens) {
  InputShape s;
  s.resolution = side * vae_scale;
  s.latent_height = s.latent_width = side;
  s.batch = batch;
  s.text_tokens = text_tokens;
  return s;
}

std::string InputShape::text() const {
  std::string t = fmt::format("batch {}", batch);
  if (resolution > 0) t += fmt::format(", {}²", resolution);
  if (latent_height > 0 && latent_width > 0)
    t += fmt::format(" (latent {}x{})", latent_height, latent_width);
  if (text_tokens > 0) t += fmt::format(", {} text tokens", text_tokens);
  return t;
}

nlohmann::json to_json(const InputShape& s) {
  return {{"resolution", s.resolution},
          {"latent_height", s.latent_height},
          {"latent_width", s.latent_width},
          {"batch", s.batch},
          {"text_tokens", s.text_tokens}};
}

InputShape input_shape_from_json(const nlohmann::json& j) {
  InputShape s;
  s.resolution = j.value("resolution", 0);
  s.latent_height = j.value("latent_height", 0);
  s.latent_width = j.value("latent_width", 0);
  s.batch = j.at("batch").get<int>();
  s.text_tokens = j.at("text_tokens").get<int>();
  return s;
}

}  // namespace asdm
