#pragma once
namespace asdm {
const char* version();     // "0.1.0"
const char* git_commit();  // short hash at configure time, or "unknown"
}  // namespace asdm
