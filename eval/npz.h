#pragma once
// NumPy's .npy and .npz files (torch-free), enough for FID statistics in pytorch-fid's layout
// (`mu`, `sigma`) and for feature dumps other tools can load with numpy.load:
//   .npy: "\x93NUMPY", version 1/2/3, a Python-literal header {'descr', 'fortran_order', 'shape'};
//         little-endian f4/f8/i4/i8 arrays (C or Fortran order) are read, as doubles.
//   .npz: a zip of .npy members, stored (np.savez) or deflated (np.savez_compressed), ZIP64
//         extras as numpy writes them; CRC-32 checked. asdm writes stored members, atomically.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace asdm {

struct NpyArray {
  std::vector<int64_t> shape;  // {} for a 0-d array
  std::vector<double> data;    // row-major (C order)
  bool integer = false;        // written as '<i8' when true, '<f8' otherwise
  int64_t numel() const;
};

// Parses one .npy image; `source` names it in messages. Throws asdm::Error.
NpyArray parse_npy(const std::string& bytes, const std::string& source);
std::string encode_npy(const NpyArray& array);

// Members by name without ".npy". Throws asdm::Error naming the file and the member.
std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path);
void write_npz(const std::filesystem::path& path, const std::map<std::string, NpyArray>& arrays);

// The members of a zip archive (stored or deflated), in directory order, CRC-checked. Throws
// asdm::Error naming the file.
std::vector<std::pair<std::string, std::string>> read_zip(const std::filesystem::path& path);
// The same for a zip archive's bytes; `source` names it in messages.
std::vector<std::pair<std::string, std::string>> parse_zip(const std::string& bytes,
                                                           const std::string& source);

}  // namespace asdm
