#pragma once
// The job's process group (issue 24): c10d from the libtorch asdm links, rendezvous through a
// TCPStore at MASTER_ADDR:MASTER_PORT (distributed/launch_env.h), Gloo for CPU tensors and NCCL for
// CUDA tensors (NCCL through a plugin loaded with libtorch_cuda; Gloo otherwise, staging through
// host memory). A job of one is a Group whose collectives return at once, so callers need no
// branch. Every failed collective becomes an asdm::Error naming this rank, the operation, and the
// ranks on this host that are gone. Include <ATen/core/Tensor.h>-free callers only from .cpp files.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/launch_env.h"

namespace at {
class Tensor;
}

namespace asdm::dist {

class Group {
 public:
  // Joins the job the environment describes (a job of one without torchrun's variables). `device`
  // ("cpu", "cuda", "cuda:N") picks the backend: NCCL for CUDA when the plugin libasdm_nccl.so is
  // beside the asdm binary (or at ASDM_NCCL_PLUGIN), else Gloo. Throws asdm::Error on a taken port,
  // an unreachable master, or when this build has no c10d support (built without Gloo's headers).
  static std::unique_ptr<Group> join(const std::string& device);
  // The same for a job described by `env` (tests start ranks as threads of one process).
  static std::unique_ptr<Group> join(const LaunchEnv& env, const std::string& device);
  // A job of one, whatever the environment says (tests, library callers).
  static std::unique_ptr<Group> single();
  ~Group();

  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  bool leader() const { return env_.rank == 0; }
  const LaunchEnv& env() const { return env_; }
  // The device this rank works on: join's device, with "cuda" made "cuda:LOCAL_RANK" in a job of
  // several processes.
  const std::string& device() const { return device_; }
  // "" for a job of one, else the backend: "gloo" or "nccl".
  std::string backend() const;

  // In place: every tensor becomes the mean of its values over the ranks. Tensors are packed into
  // buckets of about 25 MB (one collective each, all in flight together). `what` names the step
  // for error messages ("gradients of global step 12").
  void all_reduce_mean(const std::vector<at::Tensor>& tensors, const std::string& what);
  // In place: every rank's tensors take rank 0's values.
  void broadcast(const std::vector<at::Tensor>& tensors, const std::string& what);
  // Every rank's string, in rank order, on every rank (through the store: for small metadata and
  // results, not tensors).
  std::vector<std::string> all_gather(const std::string& mine, const std::string& what);
  void barrier(const std::string& what);
  // Checks that every rank holds the same `what` as rank 0. `difference(rank0, other)` says how two
  // values differ ("" when they agree). On a mismatch every rank throws the same asdm::Error:
  // "ranks disagree on <what>: rank 1 has ...".
  void check_same(
      const std::string& what, const std::string& mine,
      const std::function<std::string(const std::string&, const std::string&)>& difference = {});

  // Averages parameter gradients over the ranks while the backward pass still runs (what DDP's
  // reducer does): the parameters go into ~25 MB buckets in reverse order (about the order backward
  // produces their gradients), and a bucket's all-reduce starts once its last gradient has been
  // accumulated; buckets start in index order, the same on every rank. arm() before the backward
  // pass whose gradients are final (the last micro-batch), finish() after it. A job of one does
  // nothing. The group must outlive it.
  class GradientReducer {
   public:
    GradientReducer(Group& group, std::vector<at::Tensor> params);
    ~GradientReducer();  // removes its hooks
    GradientReducer(const GradientReducer&) = delete;
    GradientReducer& operator=(const GradientReducer&) = delete;
    void arm();
    // Waits for every bucket (starting those whose gradients never came: unused parameters count
    // as zeros); then every defined gradient holds the ranks' mean. `what` names the step.
    void finish(const std::string& what);
    // Buckets in all: in flight before finish() when backward started them.
    size_t buckets() const;
    size_t started() const;
    struct State;

   private:
    std::shared_ptr<State> state_;
  };

  struct Impl;

 private:
  explicit Group(LaunchEnv env);
  LaunchEnv env_;
  std::string device_ = "cpu";
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm::dist
