#pragma once
// JSON encodings of numbers shared by the analysis artifacts (importance.json, temporal.json),
// torch-free: a number that is not finite is null and reads back as NaN; an Estimate is
// {"mean", "ci95": [low, high], "n"}. Defined in analysis/importance.cpp.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "analysis/statistics.h"

namespace asdm {

double number_of(const nlohmann::json& j);  // NaN for null
nlohmann::json numbers_json(const std::vector<double>& v);
std::vector<double> numbers_of(const nlohmann::json& j);
nlohmann::json number_map_json(const std::map<std::string, double>& m);
std::map<std::string, double> number_map_of(const nlohmann::json& j);
Estimate estimate_of(const nlohmann::json& j);
// The top-level keys in which two settings objects differ, as "key: a vs b" (values shortened),
// at most four named; "" when they are the same.
std::string json_differences(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace asdm
