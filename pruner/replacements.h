#pragma once
// A-SDM's replacement blocks for a removal set (issue 6 item 3), torch-free: which surviving
// ResBlock inherits which removed sibling's kernels as CLME-CondConv experts, and which attention
// units are candidates for GRI attention.
#include <string>
#include <vector>

#include "model/arch_spec.h"

namespace asdm {

// One clme edit per surviving ResBlock that receives experts: every removed ResBlock of a block
// (down, mid or up) that keeps at least one ResBlock goes to the nearest surviving sibling by layer
// index (the earlier one on a tie). Blocks whose ResBlocks are all removed get none. The edits are
// valid for `spec` (the removal set's ArchSpec) and are meant to be appended to it.
std::vector<Edit> clme_edits(const ArchSpec& spec);

// One gri edit per surviving attention unit with self-attention whose map at `input` has at least
// `min_tokens` tokens and is divided by `window` and `pool` (GRI is meant for the high-resolution
// stages where self-attention dominates). Whether each one pays off is for the caller to measure.
struct InputShape;
std::vector<Edit> gri_edits(const ArchSpec& spec, const InputShape& input, int window, int pool,
                            int min_tokens);

}  // namespace asdm
