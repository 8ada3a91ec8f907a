#pragma once
// BK-SDM's students as ArchSpecs of a teacher config (Kim et al., "BK-SDM: A Lightweight, Fast,
// and Cheap Version of Stable Diffusion"): Base drops the second (resnet, attention) layer of every
// down stage and its mirrored up layer; Small also drops the mid block; Tiny also drops the
// innermost stage. All three are stock diffusers configs (drop edits only).
#include <string>
#include <vector>

#include "model/arch_spec.h"

namespace asdm {

const std::vector<std::string>& bk_sdm_preset_names();  // base, small, tiny
// Throws asdm::Error for an unknown name, or a teacher these edits do not fit (fewer than two
// layers per stage, no mid block for small/tiny).
ArchSpec bk_sdm_preset(const UNetConfig& teacher, const std::string& name);

}  // namespace asdm
