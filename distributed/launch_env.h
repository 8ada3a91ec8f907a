#pragma once
// Where this process sits in a distributed job, read from the variables torchrun (and Slurm through
// torchrun) sets: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. A process started without
// them is a job of one. Torch-free, so that every command can ask without linking c10d.
#include <string>

namespace asdm::dist {

struct LaunchEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;

  bool launched = false;  // torchrun's variables with a master: a group, even of one process

  // A job that needs a process group: several processes, or one started by torchrun (which says
  // where its store is), so that e.g. NCCL at world size 1 runs the same path as more ranks.
  bool distributed() const { return world > 1 || launched; }
  bool leader() const { return rank == 0; }
  // "rank 1 of 2" (or "" for a job of one), for messages.
  std::string describe() const;
  // The device this rank uses for `device`: "cuda" becomes "cuda:LOCAL_RANK" in a job of several
  // processes (one GPU per process, as torchrun starts them); anything else is kept.
  std::string local_device(const std::string& device) const;

  // Reads the environment; throws asdm::Error naming the variable that is missing or malformed
  // (WORLD_SIZE 2 without MASTER_ADDR, RANK 3 of WORLD_SIZE 2, a port that is not one, ...).
  static LaunchEnv from_environment();
};

}  // namespace asdm::dist
