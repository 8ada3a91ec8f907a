#pragma once
// ArchSpec (DESIGN.md §4): the teacher's UNetConfig plus an ordered list of edits. Plain data; it
// round-trips through JSON, gives the student's layout, and maps student weights to teacher
// weights.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/clme_condconv.h"
#include "model/gri_attention.h"
#include "model/unet_config.h"
#include "model/unet_layout.h"

namespace asdm {

struct Edit {
  enum class Op {
    kRemove,     // remove(unit): keep only the unit's shortcut
    kDropLayer,  // drop_layer(stage, index): BK-SDM-style, the (resnet, attention) layer `index`
                 // of down stage `stage` and of its mirrored up block, with their skip connection
    kDropMid,    // drop_mid(): no mid block
    kDropStage,  // drop_stage(stage): down stage `stage` and its mirrored up block
    kGri,        // gri(unit, window, pool): the attention unit's self-attention becomes GRI
                 // attention (model/gri_attention.h) with the same weights
    kClme,       // clme(unit, experts): the ResBlock's conv1/conv2 become CLME-CondConvs
                 // (model/clme_condconv.h) whose extra experts are the same-shaped kernels of the
                 // removed sibling ResBlocks `experts` (removed by remove() edits, same block)
  };
  Op op = Op::kRemove;
  std::string unit;  // kRemove
  int stage = -1;    // kDropLayer, kDropStage (index into the config's stages at that point)
  int index = -1;    // kDropLayer
  int window = 0;    // kGri
  int pool = 0;      // kGri
  std::vector<std::string> experts;  // kClme

  static Edit remove(std::string unit_id);
  static Edit drop_layer(int stage, int index);
  static Edit drop_mid();
  static Edit drop_stage(int stage);
  static Edit gri(std::string unit_id, int window, int pool);
  static Edit clme(std::string unit_id, std::vector<std::string> experts);
  bool operator==(const Edit&) const = default;
};

struct ArchSpec {
  UNetConfig teacher;
  std::vector<Edit> edits;

  // The config after the structural (drop_*) edits: a stock diffusers config.
  UNetConfig student_config() const;
  // Units removed by remove() edits, validated against the student layout.
  std::set<std::string> removed_units() const;
  UNetLayout student_layout() const;
  // Attention units whose self-attention is GRI attention, validated against the student layout.
  std::map<std::string, GriOptions> gri_units() const;
  // ResBlocks with CLME-CondConvs and their experts per convolution, validated (the unit survives,
  // every expert is a removed ResBlock of the same block).
  std::map<std::string, ClmeOptions> clme_units() const;
  // Whether the student is a stock diffusers UNet (no remove(), gri() or clme() edits).
  bool diffusers_expressible() const;
  // Student module path -> teacher module path for every block-level prefix that moved (drop_*
  // edits shift indices); identity elsewhere. Applied to a checkpoint key by longest prefix. A CLME
  // expert's key ("<unit>.conv1.experts.0.weight") maps to the removed sibling's kernel; keys with
  // no teacher tensor (a CLME router, initialised to zero) map to "".
  std::string teacher_key(const std::string& student_key) const;
};

ArchSpec arch_from_config(const UNetConfig& teacher);

nlohmann::json to_json(const ArchSpec& spec);
// Throws asdm::Error on unknown ops, missing fields and units that do not exist.
ArchSpec arch_spec_from_json(const nlohmann::json& j);
// An ArchSpec file (asdm_arch.json, or one written by hand); asdm::Error "<path>: <what>".
ArchSpec read_arch_spec(const std::filesystem::path& path);

}  // namespace asdm
