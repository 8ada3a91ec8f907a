#pragma once
// SHA-256 of a byte string or a file (FIPS 180-4), for recording and checking the hashes of files
// kept in the repository (the proxy teacher and classifier).
#include <filesystem>
#include <string>
#include <string_view>

namespace asdm {

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);  // throws asdm::Error if unreadable

}  // namespace asdm
