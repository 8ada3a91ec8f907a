#pragma once
// A student's form in stock diffusers terms, torch-free: whether its edits can be said in a plain
// UNet2DConditionModel config (structural drops are; removed transformer blocks are, as per-layer
// transformer depths; removed ResBlocks or attention units, CLME-CondConv and GRI attention are
// not), that config, and the stock key of each student weight. Also whether the single-file
// (LDM/SGM) loaders can hold it, and each key's name there.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/arch_spec.h"

namespace asdm {

struct StockForm {
  // Empty when the student has a stock form; else one line naming the first edit without one.
  std::string why_not;
  // Empty when the stock form also fits the single-file loaders; else why not.
  std::string single_file_why_not;
  UNetConfig config;  // the structural student (per-stage depths: the teacher's)
  // Per-layer transformer depths when transformer blocks were removed (else empty): per down stage
  // one depth per layer, per up stage one per layer (layers + 1).
  std::vector<std::vector<int>> down_depths, up_depths;
  // Transformer2D unit -> student block index -> stock block index (blocks renumbered from 0).
  std::map<std::string, std::map<int, int>> block_index;

  bool stock() const { return why_not.empty(); }
  bool single_file() const { return stock() && single_file_why_not.empty(); }
  // The stock diffusers key of a student weight key.
  std::string stock_key(const std::string& student_key) const;
  // config.json of the stock form.
  nlohmann::json diffusers_config() const;
};

StockForm stock_form(const ArchSpec& spec);

// "stock diffusers, single file, asdm_diffusers" or "asdm_diffusers (no stock form: <why>)": the
// routes a student can take out of asdm (asdm_diffusers, the Python package in python/, always).
std::string export_routes(const StockForm& form);

}  // namespace asdm
