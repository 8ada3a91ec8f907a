#include "pruner/presets.h"

#include <algorithm>

#include "core/error.h"

namespace asdm {

const std::vector<std::string>& bk_sdm_preset_names() {
  static const std::vector<std::string> names = {"base", "small", "tiny"};
  return names;
}

ArchSpec bk_sdm_preset(const UNetConfig& teacher, const std::string& name) {
  const auto& names = bk_sdm_preset_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    fail("unknown BK-SDM preset '{}' (known: base, small, tiny)", name);
  ArchSpec spec;
  spec.teacher = teacher;
  const int stages = static_cast<int>(teacher.down_block_types.size());
  for (int s = 0; s < stages; ++s) spec.edits.push_back(Edit::drop_layer(s, 1));
  if (name != "base") spec.edits.push_back(Edit::drop_mid());
  if (name == "tiny") spec.edits.push_back(Edit::drop_stage(stages - 1));
  spec.student_config();  // validates: throws when the teacher does not fit
  return spec;
}

}  // namespace asdm
