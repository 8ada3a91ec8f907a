#pragma once
// Caption files for evaluation (torch-free), in the forms COCO-style protocols come in:
//   .txt   one caption per line (blank lines skipped); ids are the line's 0-based index
//   .json  a list of strings; a list of {"id" | "image_id", "caption" | "prompt" | "text"};
//          or a COCO captions file ({"annotations": [{"image_id", "caption"}, ...]}), from which
//          the first caption of each image is taken, in file order
//   .csv   a header naming an id column (id, image_id) and a caption column (caption, prompt,
//          text); RFC 4180 quoting
// and the pairing of images with captions.
#include <filesystem>
#include <string>
#include <vector>

namespace asdm {

struct Caption {
  std::string id;  // as written in the file ("" for plain text files: the index is the id)
  std::string text;
};

// Throws asdm::Error naming the file, and the entry, when it is malformed or holds no caption.
std::vector<Caption> read_captions(const std::filesystem::path& path);

// The caption of each image: by id when the captions have ids and every image's file stem is one
// of them (the stem itself, or its number without leading zeros: 000000000139.png <-> 139);
// otherwise by order, which needs as many captions as images. asdm::Error names the first image
// without a caption, or both counts.
std::vector<std::string> pair_captions(const std::vector<std::filesystem::path>& images,
                                       const std::vector<Caption>& captions,
                                       const std::string& captions_source);

}  // namespace asdm
