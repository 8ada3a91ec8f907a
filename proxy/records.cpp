#include "proxy/records.h"

#include <nlohmann/json.hpp>

#include "proxy/classifier.h"
#include "proxy/world.h"

namespace asdm::proxy {

nlohmann::json ClassifierRecord::to_json() const {
  nlohmann::json j = header.to_json();
  j["world"] = world;
  j["steps"] = steps;
  j["seed"] = seed;
  j["holdout_accuracy_all_attributes"] = holdout_accuracy;
  j["holdout_images"] = holdout_images;
  return j;
}

void ClassifierRecord::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

nlohmann::json EvalRecord::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = model;
  j["classifier"] = classifier;
  j["prompts"] = prompts;
  if (!removed_units.empty()) j["removed_units"] = removed_units;
  if (!cache_plan.empty())
    j["cache_plan"] = {
        {"file", cache_plan}, {"reused", cache_reused}, {"peak_bytes", cache_peak_bytes}};
  j["sampler"] = {{"name", options.sampler.sampler},
                  {"steps", options.sampler.steps},
                  {"guidance", options.sampler.guidance},
                  {"seed", options.seed}};
  j.update(proxy::to_json(result));
  return j;
}

void EvalRecord::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

ClassifierRecord train_classifier(const std::string& world, const std::filesystem::path& out,
                                  int steps, uint64_t seed, const RunContext& context,
                                  const std::function<void(int, int, double)>& progress) {
  AttributeClassifier c(world_spec(world));
  AttributeClassifier::TrainOptions o;
  if (steps > 0) o.steps = steps;
  o.seed = seed;
  ClassifierRecord rec;
  rec.holdout_images = 1000;
  rec.holdout_accuracy = c.train(o, rec.holdout_images, progress);
  c.save(out);
  rec.header = ArtifactHeader::make(rec.kArtifact, rec.kSchemaVersion, context);
  rec.world = world;
  rec.steps = o.steps;
  rec.seed = o.seed;
  rec.write(out / "train_result.json");
  return rec;
}

}  // namespace asdm::proxy
