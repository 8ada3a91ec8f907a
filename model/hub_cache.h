#pragma once
// Models in the Hugging Face Hub's local cache (torch-free): what `from_pretrained("org/name")`
// downloaded is a snapshot folder in the diffusers layout, found offline the way huggingface_hub
// finds it. asdm downloads nothing.
#include <filesystem>
#include <string>

namespace asdm {

// The Hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub.
std::filesystem::path hub_cache_dir();

// The local folder `arg` names when it is a Hub repository id in the cache ("org/name", or with a
// subfolder: "org/name/unet") or a repository's cache folder itself
// (".../hub/models--org--name"): the snapshot refs/main points at, or the only snapshot there. ""
// when `arg` is some other path, or a repository id not in the cache. Throws asdm::Error for a
// cache folder whose snapshot cannot be chosen (several, no refs/main).
std::string hub_snapshot(const std::string& arg);

}  // namespace asdm
