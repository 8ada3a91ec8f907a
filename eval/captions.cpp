#include "eval/captions.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

std::string id_string(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return v.dump();
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& src) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) fail("{}: a quoted CSV field is not closed", src);
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::vector<Caption> read_captions(const fs::path& path) {
  const std::string src = path.string();
  const std::string text = read_text_file(path);
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<Caption> out;
  if (ext == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      fail("{} is not valid JSON: {}", src, e.what());
    }
    if (j.is_object() && j.contains("annotations") && j["annotations"].is_array()) {
      std::map<std::string, bool> seen;
      for (const auto& a : j["annotations"]) {
        if (!a.is_object() || !a.contains("image_id") || !a.contains("caption") ||
            !a["caption"].is_string())
          fail("{}: a COCO annotation needs image_id and a caption string: {}", src,
               a.dump().substr(0, 120));
        const std::string id = id_string(a["image_id"]);
        if (seen.emplace(id, true).second) out.push_back({id, a["caption"].get<std::string>()});
      }
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) {
        const auto& e = j[i];
        if (e.is_string()) {
          out.push_back({"", e.get<std::string>()});
          continue;
        }
        if (!e.is_object()) fail("{}: entry {} is neither a string nor an object", src, i);
        std::string caption;
        bool found = false;
        for (const char* key : {"caption", "prompt", "text"})
          if (e.contains(key) && e[key].is_string()) {
            caption = e[key].get<std::string>();
            found = true;
            break;
          }
        if (!found)
          fail("{}: entry {} has no \"caption\" (or \"prompt\", \"text\") string", src, i);
        std::string id;
        for (const char* key : {"id", "image_id"})
          if (e.contains(key)) {
            id = id_string(e[key]);
            break;
          }
        out.push_back({id, caption});
      }
    } else {
      fail("{}: expected a list of captions or a COCO captions file (with \"annotations\")", src);
    }
  } else if (ext == ".csv") {
    const auto rows = parse_csv(text, src);
    if (rows.empty()) fail("{} is empty", src);
    int id_col = -1, text_col = -1;
    for (size_t c = 0; c < rows[0].size(); ++c) {
      const auto& h = rows[0][c];
      if (id_col < 0 && (h == "id" || h == "image_id")) id_col = static_cast<int>(c);
      if (text_col < 0 && (h == "caption" || h == "prompt" || h == "text"))
        text_col = static_cast<int>(c);
    }
    if (text_col < 0)
      fail("{}: the CSV header has no caption column (caption, prompt or text)", src);
    for (size_t r = 1; r < rows.size(); ++r) {
      if (static_cast<int>(rows[r].size()) <= std::max(id_col, text_col))
        fail("{}: row {} has {} fields, fewer than the header", src, r + 1, rows[r].size());
      out.push_back({id_col >= 0 ? rows[r][id_col] : "", rows[r][text_col]});
    }
  } else {
    size_t at = 0;
    while (at <= text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(at, nl - at);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) out.push_back({"", line});
      at = nl + 1;
    }
  }
  if (out.empty()) fail("{} holds no caption", src);
  return out;
}

std::vector<std::string> pair_captions(const std::vector<fs::path>& images,
                                       const std::vector<Caption>& captions,
                                       const std::string& source) {
  std::map<std::string, const Caption*> by_id;
  for (const auto& c : captions)
    if (!c.id.empty()) by_id.emplace(c.id, &c);
  auto find = [&](const fs::path& img) -> const Caption* {
    const std::string stem = img.stem().string();
    auto it = by_id.find(stem);
    if (it == by_id.end()) {
      const size_t nz = stem.find_first_not_of('0');
      it = by_id.find(nz == std::string::npos ? "0" : stem.substr(nz));
    }
    return it == by_id.end() ? nullptr : it->second;
  };
  std::vector<const Caption*> matched;
  for (const auto& img : images) matched.push_back(find(img));
  const size_t hits = std::count_if(matched.begin(), matched.end(), [](auto* c) { return c; });
  std::vector<std::string> out;
  if (hits > 0) {  // by id: every image needs its caption
    for (size_t i = 0; i < images.size(); ++i) {
      if (!matched[i])
        fail("image '{}' has no caption with id '{}' in {} ({} of {} images pair by id)",
             images[i].string(), images[i].stem().string(), source, hits, images.size());
      out.push_back(matched[i]->text);
    }
    return out;
  }
  if (images.size() != captions.size())
    fail(
        "{} images but {} captions in {}: with no image named by a caption id, captions pair "
        "with images in name order and the counts must agree",
        images.size(), captions.size(), source);
  for (const auto& c : captions) out.push_back(c.text);
  return out;
}

}  // namespace asdm
