// The torch.save reader on hand-made pickles: what a training checkpoint holds besides its state
// dict (objects of any class, sets, a class as a dict key) is skipped; a state dict entry that is
// an object is refused; zip members are read lazily and CRC-checked when used; the legacy format's
// five pickles and storages; and the hostile cases scripts/fuzz.sh found
// (fuzz/state_dict_fuzz.cpp) or that follow from them. The real files torch writes (Stable
// Diffusion-style .ckpt files among them, pytorch-fid's weights) are read in tests/reference.
#include "model/torch_save.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/zip.h"
#include "model/torch_save_index.h"
#include "model/weights_file.h"
#include "tests/test_env.h"
#include "tests/torch_save_bytes.h"

namespace asdm {
namespace {

using namespace test::pkl;  // NOLINT: the pickle pieces

// An instance of some class, as pickle writes one: cls.__new__(cls) (NEWOBJ), then its __dict__
// (BUILD).
std::string object(const std::string& module, const std::string& name) {
  return global(module, name) + ")\x81}" + str("dirpath") + str("/logs") + "sb";
}
// The legacy format: magic, protocol, system info, the object, the storage keys, then storage "0"
// as an int64 count and its bytes (none listed when `storage` is empty).
std::string legacy(const std::string& object, const std::vector<float>& storage) {
  const std::string magic = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  std::string b = pickle(magic) + pickle(num(1001)) + pickle("}") + pickle(object) +
                  pickle(storage.empty() ? "]" : "]" + str("0") + "a");
  if (storage.empty()) return b;  // no storage listed
  const int64_t count = storage.size();
  b += std::string(reinterpret_cast<const char*>(&count), 8);
  b += std::string(reinterpret_cast<const char*>(storage.data()), storage.size() * 4);
  return b;
}

TensorMap read_all(const std::string& bytes) { return TorchSaveFile(bytes, "x.pt").read_all(); }
std::string w_of(const std::string& value) { return "}" + str("w") + value + "s"; }

TEST(TorchSave, LegacyPicklesGiveStridedTensors) {
  const auto t = read_all(legacy(w_of(tensor("0", 4, 1, {2}, {2})), {1, 2, 3, 4}));
  ASSERT_EQ(t.count("w"), 1u);
  EXPECT_TRUE(torch::equal(t.at("w"), torch::tensor({2.0f, 4.0f})));
}

TEST(TorchSave, HostileTensorsAreNamedErrors) {
  auto error = [](const std::string& t, std::vector<float> storage = {1, 2, 3, 4}) {
    return test::error_of([&] { read_all(legacy(w_of(t), storage)); });
  };
  // Found by the fuzzer: sizes and strides of different lengths were read past the strides' end.
  EXPECT_EQ(error(tensor("0", 4, 0, {2, 2}, {1})), "x.pt: a tensor has 2 sizes but 1 strides");
  EXPECT_EQ(error(tensor("0", 4, 0, {2}, {-1})),
            "x.pt: a tensor has a negative size, stride or storage offset");
  EXPECT_EQ(error(tensor("0", 4, -1, {2}, {1})),
            "x.pt: a tensor has a negative size, stride or storage offset");
  // (2^62 - 1) * 4 overflows int64: it must not wrap around into the storage.
  EXPECT_EQ(error(tensor("0", 4, 0, {int64_t{1} << 62}, {4})),
            "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(tensor("0", 4, 3, {2}, {1})), "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(tensor("0", 4, 5, {}, {})), "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(tensor("0", 4, 9, {0}, {1})), "x.pt: a tensor starts past its storage");
  // A storage bigger than the whole file is refused before it is allocated.
  EXPECT_EQ(error(tensor("0", int64_t{1} << 40, 0, {1}, {1})),
            "'x.pt': storage 0 is truncated or of the wrong size");
  EXPECT_EQ(error(tensor("0", -4, 0, {1}, {1})), "x.pt: storage 0 has a negative size");
  // A storage the state dict uses whose bytes the file does not list.
  EXPECT_EQ(test::error_of([&] { read_all(legacy(w_of(tensor("0", 4, 0, {4}, {1})), {})); }),
            "'x.pt': storage 0 is used but its bytes are not in the file");
}

TEST(TorchSave, ADictHoldingItselfEnds) {
  // d = {}; d["state_dict"] = d: the wrapper unwrapping stops, and finds no tensors.
  using namespace std::string_literals;  // the memo index 0 is a NUL byte
  const std::string self = "}q\0"s + str("state_dict") + "h\0s"s;
  const std::string wrapped = "}" + str("state_dict") + w_of(tensor("0", 4, 0, {4}, {1})) + "s";
  EXPECT_EQ(test::error_of([&] { read_all(legacy(self, {})); }), "'x.pt' holds no tensors");
  EXPECT_EQ(read_all(legacy(wrapped, {1, 2, 3, 4})).at("w").numel(), 4);
}

TEST(TorchSave, OtherBytesAreNotATorchSaveFile) {
  EXPECT_EQ(test::error_of([] { read_all("hello"); }),
            "'x.pt' is not a torch.save file (neither its zip nor its legacy format)");
  EXPECT_EQ(test::error_of([] { read_all("\x80\x02K\x01."); }),
            "'x.pt' is neither safetensors nor a torch.save file");
}

TEST(TorchSave, TrainingCheckpointsGiveTheirStateDict) {
  // A Lightning-style checkpoint: a class as a dict key, an object, a set, a function call with
  // an unknown function, optimizer tensors in a storage of their own, then the state dict with a
  // step counter among its tensors (skipped) and a strided view.
  const std::string callbacks =
      dict({{global("pytorch_lightning.callbacks", "ModelCheckpoint"),
             dict({{str("best_model_score"), tensor("9", 1, 0, {}, {})}})}});
  const std::string set = global("builtins", "set") + "](" + num(0) + num(1) + "e\x85R";
  const std::string call = global("numpy.core.multiarray", "scalar") + "(" + str("f8") + "tR";
  const std::string state = "}(" + str("w") + tensor("0", 6, 1, {2, 2}, {1, 2}) + str("step") +
                            num(7) + str("b") + tensor("0", 6, 0, {1}, {1}) + "u";
  const std::string root = dict({{str("callbacks"), callbacks},
                                 {str("hparams"), object("ldm.util", "Config")},
                                 {str("groups"), set},
                                 {str("loss"), call},
                                 {str("optimizer"), tensor("1", 2, 0, {2}, {1})},
                                 {str("state_dict"), state}});
  const TorchSaveFile f(
      torch_zip(pickle(root), {{"0", {0, 1, 2, 3, 4, 5}}, {"1", {7, 7}}, {"9", {0.25f}}}),
      "x.ckpt");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "b"}));
  EXPECT_TRUE(f.contains("w"));
  EXPECT_FALSE(f.contains("step"));
  EXPECT_TRUE(torch::equal(f.read("w"), torch::tensor({1.0f, 3.0f, 2.0f, 4.0f}).view({2, 2})));
  EXPECT_TRUE(f.read("w").is_contiguous());
  EXPECT_TRUE(torch::equal(f.read("b"), torch::tensor({0.0f})));
  EXPECT_EQ(test::error_of([&] { f.read("optimizer"); }), "'x.ckpt' has no tensor 'optimizer'");
}

TEST(TorchSave, ParametersAndTensorSubclassesAreTheirTensors) {
  const std::string param = global("torch._utils", "_rebuild_parameter") + "(" +
                            tensor("0", 2, 0, {2}, {1}) + "\x88" +
                            global("collections", "OrderedDict") + ")Rt" + "R";
  // _rebuild_from_type_v2(func, type, args, state): func(*args) is the tensor.
  const std::string storage = "(" + str("storage") + global("torch", "FloatStorage") + str("0") +
                              str("cpu") + num(2) + "tQ";
  const std::string sub = global("torch._tensor", "_rebuild_from_type_v2") + "(" +
                          global("torch._utils", "_rebuild_tensor_v2") +
                          global("my.tensors", "Tagged") + "(" + storage + num(1) + ints({1}) +
                          ints({1}) + "t}tR";
  const TorchSaveFile f(
      torch_zip(pickle(dict({{str("p"), param}, {str("s"), sub}})), {{"0", {5, 6}}}), "x.pt");
  EXPECT_TRUE(torch::equal(f.read("p"), torch::tensor({5.0f, 6.0f})));
  EXPECT_TRUE(torch::equal(f.read("s"), torch::tensor({6.0f})));
}

TEST(TorchSave, AnObjectInTheStateDictIsRefused) {
  const std::string root =
      dict({{str("state_dict"), dict({{str("w"), tensor("0", 1, 0, {1}, {1})},
                                      {str("ema"), object("ldm.modules.ema", "LitEma")}})}});
  EXPECT_EQ(test::error_of([&] {
              TorchSaveFile(torch_zip(pickle(root), {{"0", {1}}}), "x.ckpt");
            }),
            "'x.ckpt': state dict entry 'ema' is a ldm.modules.ema.LitEma object, not a tensor");
}

TEST(TorchSave, AWholePickledModuleIsNotAStateDict) {
  // torch.save(model): the module object itself.
  EXPECT_EQ(test::error_of(
                [&] { TorchSaveFile(torch_zip(pickle(object("my.nets", "UNet")), {}), "m.pt"); }),
            "'m.pt' holds a my.nets.UNet object, not a state dict (a dict of tensors): save "
            "model.state_dict()");
}

TEST(TorchSave, StoragesAreCheckedWhenUsed) {
  const std::string root =
      dict({{str("state_dict"), dict({{str("w"), tensor("0", 2, 0, {2}, {1})}})},
            {str("optimizer"), tensor("1", 2, 0, {2}, {1})}});
  std::string z = torch_zip(pickle(root), {{"0", {1, 2}}, {"1", {3, 4}}});
  // Damage the optimizer's storage: never read, never checked.
  const auto entries = zip_directory(z, "x.ckpt");
  auto member = [&](const std::string& name) {
    for (const auto& e : entries)
      if (e.name == name) return e.data_offset;
    ADD_FAILURE() << name;
    return uint64_t{0};
  };
  z[member("archive/data/1")] ^= 1;
  const TorchSaveFile ok(z, "x.ckpt");
  EXPECT_TRUE(torch::equal(ok.read("w"), torch::tensor({1.0f, 2.0f})));
  z[member("archive/data/0")] ^= 1;
  const TorchSaveFile damaged(z, "x.ckpt");
  EXPECT_EQ(test::error_of([&] { damaged.read("w"); }),
            "x.ckpt: the storage of tensor 'w' fails its CRC-32 check (the file is damaged)");
  // A storage the pickle names but the zip lacks, and one too small for its elements.
  EXPECT_EQ(test::error_of([&] {
              TorchSaveFile(torch_zip(pickle(root), {{"0", {1, 2}}}), "y.pt");
            }),
            "y.pt: storage data/1 is missing");
  EXPECT_EQ(test::error_of([&] {
              TorchSaveFile(torch_zip(pickle(root), {{"0", {1}}, {"1", {3, 4}}}), "y.pt");
            }),
            "y.pt: storage 0 holds 4 bytes, 2 elements of 4 expected");
}

TEST(TorchSave, FilesAreToldApartByTheirBytes) {
  const auto dir = test::scratch_dir("torch_save_sniff");
  const std::string root = dict({{str("w"), tensor("0", 2, 0, {2}, {1})}});
  const auto zip = dir / "weights.safetensors";  // a torch.save file, whatever its name
  { std::ofstream(zip, std::ios::binary) << torch_zip(pickle(root), {{"0", {1, 2}}}); }
  const auto f = open_weights_file(zip);
  EXPECT_EQ(f->names(), (std::vector<std::string>{"w"}));
  EXPECT_TRUE(torch::equal(f->read_all().at("w"), torch::tensor({1.0f, 2.0f})));
  EXPECT_TRUE(torch::equal(f->map("w"), torch::tensor({1.0f, 2.0f})));  // over the file's bytes
  // A safetensors file whose header length starts with the bytes of a pickle's first opcode
  // (0x80, protocol 2: a 640-byte header) is still safetensors.
  const uint8_t safetensors_head[8] = {0x80, 0x02, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(is_torch_save(safetensors_head, 8, 640 + 8 + 16));
  EXPECT_TRUE(is_torch_save(safetensors_head, 8, 100));  // the header would not fit: a pickle
  const uint8_t legacy_head[8] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46};
  EXPECT_TRUE(is_torch_save(legacy_head, 8, 1 << 30));
}

// The index (model/torch_save_index.h, torch-free) says each tensor's dtype, shape, strides and
// where its storage lies, without reading a storage: a damaged storage is found only by the reader.
TEST(TorchSave, TheIndexSaysWhereEveryTensorLiesWithoutReadingIt) {
  const at::Tensor w = torch::arange(6, torch::kFloat32).reshape({2, 3});
  const at::Tensor h = torch::tensor({1.5, -2.0}, torch::kFloat16);
  std::string z = state_dict_zip({{"w", w}, {"h", h}}, /*wrapped=*/true);
  const TorchSaveIndex index = index_torch_save(z, "x.ckpt");
  EXPECT_EQ(index.names, (std::vector<std::string>{"w", "h"}));
  const TorchSaveTensor& tw = index.tensor("w", "x.ckpt");
  EXPECT_EQ(tw.dtype, TorchDType::kFloat32);
  EXPECT_EQ(tw.size, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tw.stride, (std::vector<int64_t>{3, 1}));
  const TorchSaveStorage& sh = index.storages.at(index.tensor("h", "x.ckpt").storage);
  EXPECT_EQ(to_string(sh.dtype), "float16");
  EXPECT_EQ(sh.numel, 2);
  EXPECT_EQ(sh.offset % 64, 0u);  // as torch.save pads its members
  EXPECT_EQ(std::memcmp(z.data() + sh.offset, h.data_ptr(), 4), 0);
  EXPECT_EQ(test::error_of([&] { index.tensor("b", "x.ckpt"); }), "'x.ckpt' has no tensor 'b'");
  z[sh.offset] ^= 1;  // the index still reads; the reader refuses the storage
  EXPECT_EQ(index_torch_save(z, "x.ckpt").names.size(), 2u);
  EXPECT_EQ(test::error_of([&] { TorchSaveFile(z, "x.ckpt").read("h"); }),
            "x.ckpt: the storage of tensor 'h' fails its CRC-32 check (the file is damaged)");
  EXPECT_EQ(element_size(TorchDType::kComplex128), 16u);
  EXPECT_EQ(element_size(TorchDType::kFloat8E5M2), 1u);
}

// map() hands out a tensor over the mapped file's bytes (the same memory each time; writing it
// copies the page, never the file) where a tensor is its storage's only one, contiguous, of the
// storage's dtype; else undefined, and read() copies.
TEST(TorchSave, MappedTensorsAreTheFilesBytesCopyOnWrite) {
  const auto dir = test::scratch_dir("torch_save_map");
  const auto path = dir / "model.ckpt";
  const at::Tensor w = torch::arange(12, torch::kFloat32).reshape({3, 4});
  // "v" and "t" share storage 1 (a tensor and its transpose); "h" is half.
  const std::string root = dict({{str("w"), tensor("0", 12, 0, {3, 4}, {4, 1})},
                                 {str("v"), tensor("1", 4, 0, {2, 2}, {2, 1})},
                                 {str("t"), tensor("1", 4, 0, {2, 2}, {1, 2})},
                                 {str("h"), tensor("2", 2, 0, {2}, {1}, "HalfStorage")}});
  const at::Tensor h = torch::tensor({0.5, 4.0}, torch::kFloat16);
  {
    std::ofstream(path, std::ios::binary) << torch_zip_bytes(
        pickle(root), {{"0", std::string(static_cast<const char*>(w.data_ptr()), w.nbytes())},
                       {"1", std::string(16, '\0')},
                       {"2", std::string(static_cast<const char*>(h.data_ptr()), h.nbytes())}});
  }
  {
    const TorchSaveFile f(path);
    at::Tensor m = f.map("w");
    ASSERT_TRUE(m.defined());
    EXPECT_TRUE(torch::equal(m, w));
    EXPECT_EQ(m.data_ptr(), f.map("w").data_ptr());  // the file's bytes, not a copy
    EXPECT_NE(f.read("w").data_ptr(), f.read("w").data_ptr());
    EXPECT_TRUE(torch::equal(f.map("h"), h));
    EXPECT_FALSE(f.map("v").defined());  // two tensors share its storage
    EXPECT_FALSE(f.map("t").defined());
    EXPECT_TRUE(torch::equal(f.read("t"), f.read("v").t()));
    m.add_(1);  // copy-on-write: this process's page, never the file
    EXPECT_TRUE(torch::equal(f.map("w"), w + 1));
  }
  EXPECT_TRUE(torch::equal(TorchSaveFile(path).read("w"), w));
  // A mapped tensor keeps the file mapped after the reader is gone.
  at::Tensor kept = TorchSaveFile(path).map("w");
  EXPECT_TRUE(torch::equal(kept, w));
  // Bytes in memory (tests, the fuzzer) are never handed out.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(TorchSaveFile(bytes, "x.ckpt").map("w").defined());
}

}  // namespace
}  // namespace asdm
