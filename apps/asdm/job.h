#pragma once
// The distributed job a command runs in (distributed/group.h): joined from torchrun's environment
// (a job of one without it). On ranks other than 0, info lines are silenced (rank 0 speaks for the
// job; warnings and errors still print, prefixed by the rank in errors); -v keeps them.
#include <memory>
#include <string>

#include "core/log.h"
#include "distributed/group.h"

namespace asdm::cli {

inline std::unique_ptr<dist::Group> join_job(const std::string& device) {
  std::unique_ptr<dist::Group> g = dist::Group::join(device);
  if (!g->leader() && log::level() == log::Level::kInfo) log::set_level(log::Level::kWarn);
  return g;
}

}  // namespace asdm::cli
