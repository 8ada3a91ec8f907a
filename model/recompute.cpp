#include "model/recompute.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace asdm {
namespace {

thread_local bool g_recompute = false;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Fn = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

struct FnHolder : torch::CustomClassHolder {
  explicit FnHolder(Fn f) : fn(std::move(f)) {}
  Fn fn;
};

struct Recompute : torch::autograd::Function<Recompute> {
  // `tensors`: the inputs, then the parameters.
  static at::Tensor forward(AutogradContext* ctx, c10::intrusive_ptr<FnHolder> holder,
                            int64_t n_inputs, at::TensorList tensors) {
    ctx->save_for_backward(tensors.vec());
    ctx->saved_data["n"] = n_inputs;
    ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(at::kCUDA);
    ctx->saved_data["fn"] = c10::IValue::make_capsule(holder);
    at::Tensor out;
    {
      torch::NoGradGuard ng;
      out = holder->fn(std::vector<at::Tensor>(tensors.begin(), tensors.begin() + n_inputs));
    }
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const int64_t n = ctx->saved_data["n"].toInt();
    const bool autocast = ctx->saved_data["autocast"].toBool();
    auto holder = c10::static_intrusive_pointer_cast<FnHolder>(ctx->saved_data["fn"].toCapsule());
    std::vector<at::Tensor> inputs;
    for (int64_t i = 0; i < n; ++i)
      inputs.push_back(saved[i].detach().requires_grad_(saved[i].requires_grad()));
    at::Tensor out;
    {
      torch::AutoGradMode grad(true);
      const bool was = at::autocast::is_autocast_enabled(at::kCUDA);
      at::autocast::set_autocast_enabled(at::kCUDA, autocast);
      out = holder->fn(inputs);
      at::autocast::set_autocast_enabled(at::kCUDA, was);
    }
    std::vector<at::Tensor> wrt;
    std::vector<size_t> where;
    for (size_t i = 0; i < saved.size(); ++i) {
      const at::Tensor& t = int64_t(i) < n ? inputs[i] : saved[i];
      if (t.requires_grad()) {
        wrt.push_back(t);
        where.push_back(i);
      }
    }
    variable_list result(2 + saved.size());
    if (wrt.empty() || !out.requires_grad()) return result;
    const variable_list grads = torch::autograd::grad({out}, wrt, {grad_out[0]},
                                                      /*retain_graph=*/false,
                                                      /*create_graph=*/false,
                                                      /*allow_unused=*/true);
    for (size_t k = 0; k < where.size(); ++k) result[2 + where[k]] = grads[k];
    return result;
  }
};

}  // namespace

RecomputeGuard::RecomputeGuard(bool on) : previous_(g_recompute) { g_recompute = on; }
RecomputeGuard::~RecomputeGuard() { g_recompute = previous_; }

bool recompute_enabled() { return g_recompute; }

at::Tensor recompute_in_backward(Fn fn, const std::vector<at::Tensor>& inputs,
                                 const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> all(inputs);
  all.insert(all.end(), params.begin(), params.end());
  return Recompute::apply(c10::make_intrusive<FnHolder>(std::move(fn)), int64_t(inputs.size()),
                          at::TensorList(all));
}

}  // namespace asdm
