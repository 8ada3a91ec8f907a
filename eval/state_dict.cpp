#include "eval/state_dict.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <variant>
#include <vector>

#include <torch/torch.h>

#include "core/artifact.h"
#include "core/error.h"
#include "eval/npz.h"

// A restricted pickle machine for torch.save files: dicts (OrderedDict), lists, tuples, numbers,
// strings and tensors (torch._utils._rebuild_tensor_v2 over persistent storages) — the objects of a
// state dict — and nothing that runs code: any other global is an error naming it. libtorch's
// own torch::pickle_load rejects state dicts whose OrderedDict carries _metadata (BUILD), which
// every nn.Module.state_dict() has.

namespace asdm {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct StorageRef {
  c10::ScalarType dtype;
  std::string key;
  int64_t numel;
};
struct Mark {};
struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<ValuePtr>,
               std::vector<std::pair<ValuePtr, ValuePtr>>, Global, StorageRef, at::Tensor, Mark>
      v;
  bool is_tuple = false;
};

ValuePtr new_value(auto x) {
  auto p = std::make_shared<Value>();
  p->v = std::move(x);
  return p;
}

c10::ScalarType storage_dtype(const std::string& name) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64},
      {"HalfStorage", torch::kFloat16},  {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kInt64},    {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},   {"CharStorage", torch::kInt8},
      {"ByteStorage", torch::kUInt8},    {"BoolStorage", torch::kBool}};
  const auto it = types.find(name);
  if (it == types.end()) fail("tensor storage type torch.{} is not supported", name);
  return it->second;
}

class Unpickler {
 public:
  // storage(key, dtype, numel) returns the storage's tensor. Reads the pickles in `data` one
  // after another (load).
  Unpickler(const std::string& data, std::string source,
            std::function<at::Tensor(const StorageRef&)> storage)
      : d_(data), src_(std::move(source)), storage_(std::move(storage)) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  // A pickle can make a container hold itself (through the memo): those cycles of shared
  // pointers are broken here, so the values loaded must not be used after the Unpickler.
  ~Unpickler() {
    for (const auto& v : made_) v->v = std::monostate{};
  }

  // The next pickle's object (the stack and memo start empty for each).
  ValuePtr load() {
    stack_.clear();
    memo_.clear();
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80:
          u8();
          break;  // PROTO
        case 0x95:
          pos_ += 8;
          break;  // FRAME
        case '.':
          return pop();  // STOP
        case '(':
          push(make(Mark{}));
          break;  // MARK
        case '}':
          push(make(std::vector<std::pair<ValuePtr, ValuePtr>>{}));
          break;
        case ']':
          push(make(std::vector<ValuePtr>{}));
          break;
        case ')':
          push(tuple({}));
          break;
        case 't':
          push(tuple(pop_mark()));
          break;
        case 0x85: {
          auto a = pop();
          push(tuple({a}));
          break;
        }
        case 0x86: {
          auto b = pop(), a = pop();
          push(tuple({a, b}));
          break;
        }
        case 0x87: {
          auto c = pop(), b = pop(), a = pop();
          push(tuple({a, b, c}));
          break;
        }
        case 'q':
          memo_[u8()] = top();
          break;  // BINPUT
        case 'r':
          memo_[u32()] = top();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[memo_.size()] = top();
          break;  // MEMOIZE
        case 'h':
          push(memo(u8()));
          break;  // BINGET
        case 'j':
          push(memo(u32()));
          break;  // LONG_BINGET
        case 'J':
          push(make(static_cast<int64_t>(static_cast<int32_t>(u32()))));
          break;
        case 'K':
          push(make(static_cast<int64_t>(u8())));
          break;
        case 'M':
          push(make(static_cast<int64_t>(u16())));
          break;
        case 0x8a: {  // LONG1
          const int n = u8();
          if (n > 8) {  // only the legacy format's magic number is this long: kept as its bytes
            push(make(bytes(n)));
            break;
          }
          int64_t v = 0;
          for (int i = 0; i < n; ++i) v |= static_cast<int64_t>(u8()) << (8 * i);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t{1} << (8 * n);
          push(make(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();
          double v;
          std::memcpy(&v, &bits, 8);
          push(make(v));
          break;
        }
        case 'X':
          push(make(bytes(u32())));
          break;  // BINUNICODE
        case 0x8c:
          push(make(bytes(u8())));
          break;  // SHORT_BINUNICODE
        case 'C':
          push(make(bytes(u8())));
          break;  // SHORT_BINBYTES
        case 'B':
          push(make(bytes(u32())));
          break;  // BINBYTES
        case 'N':
          push(make(std::monostate{}));
          break;
        case 0x88:
          push(make(true));
          break;
        case 0x89:
          push(make(false));
          break;
        case 'c': {  // GLOBAL
          const std::string module = line(), name = line();
          push(make(Global{module, name}));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const auto name = pop(), module = pop();
          push(make(Global{str(module), str(name)}));
          break;
        }
        case 'Q':
          push(persistent(pop()));
          break;     // BINPERSID
        case 'R': {  // REDUCE
          const auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b':
          pop();
          break;  // BUILD: an OrderedDict's _metadata, a tensor's state: not needed
        case 's': {
          const auto v = pop(), k = pop();
          dict(top()).emplace_back(k, v);
          break;
        }
        case 'u': {
          auto items = pop_mark();
          auto& d = dict(top());
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'a': {
          const auto v = pop();
          list(top()).push_back(v);
          break;
        }
        case 'e': {
          auto items = pop_mark();
          auto& l = list(top());
          l.insert(l.end(), items.begin(), items.end());
          break;
        }
        case '0':
          pop();
          break;
        case '1':
          pop_mark();
          break;
        case '2':
          push(top());
          break;
        default:
          fail("{}: pickle opcode 0x{:02x} at byte {} is not one a state dict uses", src_, op,
               pos_ - 1);
      }
    }
  }

  size_t position() const { return pos_; }

 private:
  ValuePtr make(auto x) {
    made_.push_back(new_value(std::move(x)));
    return made_.back();
  }

  uint8_t u8() {
    if (pos_ >= d_.size()) fail("{}: the pickle ends early", src_);
    return static_cast<uint8_t>(d_[pos_++]);
  }
  uint16_t u16() { return u8() | (u8() << 8); }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(u8()) << (8 * i);
    return v;
  }
  std::string bytes(size_t n) {
    if (pos_ + n > d_.size()) fail("{}: the pickle ends early", src_);
    std::string s = d_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    const size_t nl = d_.find('\n', pos_);
    if (nl == std::string::npos) fail("{}: the pickle ends early", src_);
    std::string s = d_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.empty()) fail("{}: malformed pickle (empty stack)", src_);
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr top() {
    if (stack_.empty()) fail("{}: malformed pickle (empty stack)", src_);
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    std::vector<ValuePtr> items;
    while (true) {
      auto v = pop();
      if (std::holds_alternative<Mark>(v->v)) break;
      items.push_back(v);
    }
    return {items.rbegin(), items.rend()};
  }
  ValuePtr memo(size_t i) {
    const auto it = memo_.find(i);
    if (it == memo_.end()) fail("{}: malformed pickle (memo {} unset)", src_, i);
    return it->second;
  }
  ValuePtr tuple(std::vector<ValuePtr> items) {
    auto v = make(std::move(items));
    v->is_tuple = true;
    return v;
  }
  std::string str(const ValuePtr& v) {
    if (const auto* s = std::get_if<std::string>(&v->v)) return *s;
    fail("{}: malformed pickle (a string was expected)", src_);
  }
  int64_t integer(const ValuePtr& v) {
    if (const auto* i = std::get_if<int64_t>(&v->v)) return *i;
    fail("{}: malformed pickle (an integer was expected)", src_);
  }
  std::vector<ValuePtr>& list(const ValuePtr& v) {
    if (auto* l = std::get_if<std::vector<ValuePtr>>(&v->v)) return *l;
    fail("{}: malformed pickle (a list was expected)", src_);
  }
  std::vector<std::pair<ValuePtr, ValuePtr>>& dict(const ValuePtr& v) {
    if (auto* d = std::get_if<std::vector<std::pair<ValuePtr, ValuePtr>>>(&v->v)) return *d;
    fail("{}: malformed pickle (a dict was expected)", src_);
  }
  std::vector<int64_t> ints(const ValuePtr& v) {
    std::vector<int64_t> out;
    for (const auto& x : list(v)) out.push_back(integer(x));
    return out;
  }

  ValuePtr persistent(const ValuePtr& pid) {
    const auto& t = list(pid);
    if (t.size() < 5 || str(t[0]) != "storage")
      fail("{}: a persistent object that is not a tensor storage", src_);
    const auto* type = std::get_if<Global>(&t[1]->v);
    if (!type) fail("{}: malformed storage reference", src_);
    StorageRef ref{storage_dtype(type->name), str(t[2]), integer(t[4])};
    if (ref.numel < 0) fail("{}: storage {} has a negative size", src_, ref.key);
    auto it = storages_.find(ref.key);
    if (it == storages_.end()) it = storages_.emplace(ref.key, storage_(ref)).first;
    return make(it->second);
  }

  ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
    const auto* g = std::get_if<Global>(&fn->v);
    if (!g) fail("{}: malformed pickle (REDUCE of a non-global)", src_);
    const std::string name = g->module + "." + g->name;
    auto& a = list(args);
    if (name == "collections.OrderedDict" && a.empty())
      return make(std::vector<std::pair<ValuePtr, ValuePtr>>{});
    if (name == "torch._utils._rebuild_tensor_v2" && a.size() >= 4) {
      const auto* storage = std::get_if<at::Tensor>(&a[0]->v);
      if (!storage) fail("{}: a tensor without storage", src_);
      const auto size = ints(a[2]), stride = ints(a[3]);
      const int64_t offset = integer(a[1]);
      if (size.size() != stride.size())
        fail("{}: a tensor has {} sizes but {} strides", src_, size.size(), stride.size());
      const auto negative = [](int64_t x) { return x < 0; };
      if (offset < 0 || std::any_of(size.begin(), size.end(), negative) ||
          std::any_of(stride.begin(), stride.end(), negative))
        fail("{}: a tensor has a negative size, stride or storage offset", src_);
      // The last element's index, overflow-checked; an empty tensor reaches nothing.
      if (std::find(size.begin(), size.end(), 0) == size.end()) {
        int64_t last = offset, step = 0;
        bool overflow = false;
        for (size_t i = 0; i < size.size(); ++i)
          overflow = overflow || __builtin_mul_overflow(size[i] - 1, stride[i], &step) ||
                     __builtin_add_overflow(last, step, &last);
        if (overflow || last >= storage->numel())
          fail("{}: a tensor reaches past its storage", src_);
      } else if (offset > storage->numel()) {
        fail("{}: a tensor starts past its storage", src_);
      }
      return make(storage->as_strided(size, stride, offset));
    }
    if (name == "torch._utils._rebuild_parameter" && !a.empty()) return a[0];
    fail("{}: the pickle holds a {} object; asdm reads state dicts of tensors only", src_, name);
  }

  const std::string& d_;
  size_t pos_ = 0;
  std::string src_;
  std::function<at::Tensor(const StorageRef&)> storage_;
  std::vector<ValuePtr> stack_;
  std::map<size_t, ValuePtr> memo_;
  std::map<std::string, at::Tensor> storages_;
  std::vector<ValuePtr> made_;
};

at::Tensor storage_from_bytes(const char* data, size_t size, const StorageRef& ref,
                              const std::string& source) {
  const size_t item = c10::elementSize(ref.dtype);
  if (static_cast<uint64_t>(ref.numel) > size / item)  // numel >= 0 (persistent)
    fail("{}: storage {} holds {} bytes, {} elements of {} expected", source, ref.key, size,
         ref.numel, item);
  const size_t need = static_cast<size_t>(ref.numel) * item;
  at::Tensor t = torch::empty({ref.numel}, torch::TensorOptions().dtype(ref.dtype));
  std::memcpy(t.data_ptr(), data, need);
  return t;
}

TensorMap to_state_dict(const ValuePtr& root, const std::string& source, int depth = 0) {
  const auto* d = std::get_if<std::vector<std::pair<ValuePtr, ValuePtr>>>(&root->v);
  if (d && depth < 4) {  // a {"state_dict": {...}} wrapper (training checkpoints); a pickle can
                         // make one hold itself, hence the depth
    for (const auto& [k, v] : *d) {
      const auto* key = std::get_if<std::string>(&k->v);
      if (key && *key == "state_dict" &&
          std::holds_alternative<std::vector<std::pair<ValuePtr, ValuePtr>>>(v->v))
        return to_state_dict(v, source, depth + 1);
    }
  }
  if (!d) fail("'{}' does not hold a state dict (a dict of tensors)", source);
  TensorMap out;
  for (const auto& [k, v] : *d) {
    const auto* key = std::get_if<std::string>(&k->v);
    const auto* t = std::get_if<at::Tensor>(&v->v);
    if (!key) fail("'{}': a state dict key that is not a string", source);
    if (!t) continue;  // non-tensor entries (e.g. an epoch counter)
    out.emplace(*key, t->contiguous());
  }
  if (out.empty()) fail("'{}' holds no tensors", source);
  return out;
}

// torch.save's zip format: <root>/data.pkl and <root>/data/<key> per storage.
TensorMap read_zip_state_dict(const std::string& file, const std::string& source) {
  std::map<std::string, std::string> members;
  std::string pkl;
  for (auto& [name, bytes] : parse_zip(file, source)) {
    const auto slash = name.find('/');
    const std::string rel = slash == std::string::npos ? name : name.substr(slash + 1);
    if (rel == "data.pkl") pkl = bytes;
    members.emplace(rel, std::move(bytes));
  }
  if (pkl.empty()) fail("'{}' is a zip but not a torch.save file (no data.pkl)", source);
  Unpickler u(pkl, source, [&](const StorageRef& ref) {
    const auto it = members.find("data/" + ref.key);
    if (it == members.end()) fail("{}: storage data/{} is missing", source, ref.key);
    return storage_from_bytes(it->second.data(), it->second.size(), ref, source);
  });
  return to_state_dict(u.load(), source);
}

// The legacy format (torch < 1.6): pickles of the magic number, the protocol version and system
// info, the object itself, the list of storage keys; then each storage as an int64 element count
// and its bytes, in that list's order.
TensorMap read_legacy_state_dict(const std::string& data, const std::string& source) {
  std::map<std::string, StorageRef> wanted;
  std::map<std::string, at::Tensor> placeholders;
  // Storages come after the pickles: parse first with empty placeholders, fill them in after.
  auto storage = [&](const StorageRef& ref) {
    // The file must hold the storage's bytes: refused before allocating what a damaged count asks.
    if (static_cast<uint64_t>(ref.numel) > data.size() / c10::elementSize(ref.dtype))
      fail("'{}': storage {} is truncated or of the wrong size", source, ref.key);
    wanted[ref.key] = ref;
    auto t = torch::empty({ref.numel}, torch::TensorOptions().dtype(ref.dtype));
    placeholders[ref.key] = t;
    return t;
  };
  Unpickler u(data, source, storage);
  ValuePtr root;
  std::vector<std::string> keys;
  for (int i = 0; i < 5; ++i) {
    const ValuePtr v = u.load();
    if (i == 0) {  // 0x1950a86a20f9469cfc6c, little-endian
      const auto* magic = std::get_if<std::string>(&v->v);
      if (!magic || *magic != std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10))
        fail("'{}' is neither safetensors nor a torch.save file", source);
    } else if (i == 1) {
      const auto* proto = std::get_if<int64_t>(&v->v);
      if (!proto || *proto != 1001)
        fail("'{}': legacy torch.save protocol {} is not supported (1001 is)", source,
             proto ? *proto : -1);
    } else if (i == 3) {
      root = v;
    } else if (i == 4) {
      const auto* l = std::get_if<std::vector<ValuePtr>>(&v->v);
      if (!l) fail("'{}': the legacy storage key list is missing", source);
      for (const auto& k : *l)
        if (const auto* s = std::get_if<std::string>(&k->v)) keys.push_back(*s);
    }
  }
  size_t offset = u.position();
  for (const auto& key : keys) {
    const auto ref = wanted.find(key);
    if (ref == wanted.end()) fail("'{}': storage {} is listed but not used", source, key);
    if (offset + 8 > data.size()) fail("'{}': storage {} is truncated", source, key);
    int64_t count;
    std::memcpy(&count, data.data() + offset, 8);
    offset += 8;
    const size_t bytes = static_cast<size_t>(count) * c10::elementSize(ref->second.dtype);
    if (count != ref->second.numel || offset + bytes > data.size())
      fail("'{}': storage {} is truncated or of the wrong size", source, key);
    std::memcpy(placeholders[key].data_ptr(), data.data() + offset, bytes);
    offset += bytes;
  }
  return to_state_dict(root, source);
}

}  // namespace

TensorMap read_state_dict(const std::filesystem::path& path) {
  std::string head(4, '\0');
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("cannot read weights file '{}'", path.string());
    head.resize(std::fread(head.data(), 1, 4, f));
    std::fclose(f);
  }
  if (head.rfind("PK", 0) == 0 || (!head.empty() && static_cast<uint8_t>(head[0]) == 0x80))
    return parse_torch_save(read_text_file(path), path.string());
  return read_tensors(path);  // safetensors (its own errors name the file)
}

TensorMap parse_torch_save(const std::string& bytes, const std::string& source) {
  if (bytes.rfind("PK", 0) == 0) return read_zip_state_dict(bytes, source);
  if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) == 0x80)
    return read_legacy_state_dict(bytes, source);
  fail("'{}' is not a torch.save file (neither its zip nor its legacy format)", source);
}

}  // namespace asdm
