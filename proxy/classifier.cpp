#include "proxy/classifier.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "model/module_io.h"

namespace asdm::proxy {

namespace nn = torch::nn;

struct AttributeClassifier::Impl {
  WorldSpec world;
  std::shared_ptr<nn::Module> root = std::make_shared<nn::Module>();
  nn::Conv2d c1{nullptr}, c2{nullptr}, c3{nullptr};
  nn::Linear fc{nullptr};
  std::vector<nn::Linear> heads;

  explicit Impl(const WorldSpec& w) : world(w) {
    c1 = root->register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 32, 3).padding(1)));
    c2 = root->register_module("conv2",
                               nn::Conv2d(nn::Conv2dOptions(32, 64, 3).stride(2).padding(1)));
    c3 = root->register_module("conv3",
                               nn::Conv2d(nn::Conv2dOptions(64, 64, 3).stride(2).padding(1)));
    const int side = (w.image_size + 3) / 4;
    fc = root->register_module("fc", nn::Linear(64 * side * side, kFeatureDim));
    const int classes[3] = {int(w.shapes.size()), int(w.colours.size()), w.grid * w.grid};
    for (int a = 0; a < 3; ++a)
      heads.push_back(root->register_module("head_" + attribute_names()[a],
                                            nn::Linear(kFeatureDim, classes[a])));
  }

  at::Tensor batch(const std::vector<std::vector<uint8_t>>& images) const {
    const int N = world.image_size;
    std::vector<uint8_t> all;
    for (const auto& im : images) {
      if (im.size() != size_t(N) * N * 3)
        fail("classifier input of {} bytes, expected {}x{}x3", im.size(), N, N);
      all.insert(all.end(), im.begin(), im.end());
    }
    return torch::from_blob(all.data(), {int64_t(images.size()), N, N, 3}, torch::kUInt8)
                   .to(torch::kFloat32)
                   .permute({0, 3, 1, 2})
                   .contiguous() /
               127.5 -
           1.0;
  }

  Output run(const at::Tensor& x) {
    at::Tensor h = torch::relu(c1->forward(x));
    h = torch::relu(c2->forward(h));
    h = torch::relu(c3->forward(h));
    Output o;
    o.features = torch::relu(fc->forward(h.flatten(1)));
    for (auto& head : heads) o.logits.push_back(head->forward(o.features));
    return o;
  }
};

AttributeClassifier::AttributeClassifier(const WorldSpec& w) : impl_(std::make_unique<Impl>(w)) {}
AttributeClassifier::~AttributeClassifier() = default;
const WorldSpec& AttributeClassifier::world() const { return impl_->world; }

const std::vector<std::string>& AttributeClassifier::attribute_names() {
  static const std::vector<std::string> v = {"shape", "colour", "position"};
  return v;
}

AttributeClassifier::Output AttributeClassifier::forward(
    const std::vector<std::vector<uint8_t>>& images) const {
  return impl_->run(impl_->batch(images));
}

std::vector<std::array<int, 3>> AttributeClassifier::predict(
    const std::vector<std::vector<uint8_t>>& images) const {
  torch::InferenceMode guard;
  std::vector<std::array<int, 3>> out(images.size());
  for (size_t start = 0; start < images.size(); start += 256) {
    std::vector<std::vector<uint8_t>> chunk(images.begin() + start,
                                            images.begin() + std::min(images.size(), start + 256));
    const Output o = forward(chunk);
    for (int a = 0; a < 3; ++a) {
      const at::Tensor am = o.logits[a].argmax(1);
      for (size_t i = 0; i < chunk.size(); ++i)
        out[start + i][a] = static_cast<int>(am[i].item<int64_t>());
    }
  }
  return out;
}

void AttributeClassifier::save(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  const WorldSpec& w = impl_->world;
  write_json_atomic(dir / "config.json", {{"_class_name", "AsdmAttributeClassifier"},
                                          {"world", w.name},
                                          {"image_size", w.image_size},
                                          {"shapes", w.shapes},
                                          {"colours", w.colours},
                                          {"grid", w.grid}});
  write_tensors(dir / "model.safetensors", module_tensors(*impl_->root));  // atomic
}

std::unique_ptr<AttributeClassifier> AttributeClassifier::load(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / "config.json"))
    fail(
        "{} is not an attribute classifier folder (no config.json; make one with 'asdm proxy "
        "train-classifier')",
        dir.string());
  const auto j = read_json_file(dir / "config.json");
  WorldSpec w = world_spec(j.at("world").get<std::string>());
  w.image_size = j.at("image_size");
  w.shapes = j.at("shapes").get<std::vector<std::string>>();
  w.colours = j.at("colours").get<std::vector<std::string>>();
  w.grid = j.at("grid");
  auto c = std::make_unique<AttributeClassifier>(w);
  load_module_tensors(*c->impl_->root, read_tensors(dir / "model.safetensors"),
                      "classifier weights " + (dir / "model.safetensors").string());
  return c;
}

double AttributeClassifier::train(const TrainOptions& o, int holdout,
                                  const std::function<void(int, int, double)>& progress) {
  const WorldSpec& w = impl_->world;
  torch::manual_seed(o.seed);
  for (auto& p : impl_->root->parameters()) {  // re-initialise deterministically from the seed
    torch::NoGradGuard ng;
    if (p.dim() > 1)
      torch::nn::init::kaiming_uniform_(p, std::sqrt(5.0));
    else
      p.uniform_(-0.01, 0.01);
  }
  torch::optim::Adam opt(impl_->root->parameters(), torch::optim::AdamOptions(o.lr));
  for (int step = 1; step <= o.steps; ++step) {
    std::vector<std::vector<uint8_t>> images;
    std::vector<int64_t> labels[3];
    for (int i = 0; i < o.batch; ++i) {
      WorldSpec single = w;
      single.max_objects = 1;
      Example e = make_example(single, o.seed, uint64_t(step - 1) * o.batch + i);
      images.push_back(std::move(e.pixels));
      labels[0].push_back(e.objects[0].shape);
      labels[1].push_back(e.objects[0].colour);
      labels[2].push_back(e.objects[0].position);
    }
    const double lr = o.lr * 0.5 * (1 + std::cos(M_PI * (step - 1) / o.steps));  // cosine
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    const Output out = forward(images);
    at::Tensor loss = torch::zeros({});
    for (int a = 0; a < 3; ++a)
      loss = loss + torch::nn::functional::cross_entropy(out.logits[a], torch::tensor(labels[a]));
    loss.backward();
    opt.step();
    if (progress) progress(step, o.steps, loss.item<double>());
  }
  // Held-out accuracy: every attribute right, on another seed's examples.
  std::vector<std::vector<uint8_t>> images;
  std::vector<Object> truth;
  for (int i = 0; i < holdout; ++i) {
    WorldSpec single = w;
    single.max_objects = 1;
    Example e = make_example(single, o.seed + 1, uint64_t(i));
    images.push_back(std::move(e.pixels));
    truth.push_back(e.objects[0]);
  }
  const auto pred = predict(images);
  int right = 0;
  for (int i = 0; i < holdout; ++i)
    right += pred[i][0] == truth[i].shape && pred[i][1] == truth[i].colour &&
             pred[i][2] == truth[i].position;
  return double(right) / holdout;
}

}  // namespace asdm::proxy
