#include "model/torch_save_index.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "core/error.h"
#include "core/zip.h"

// A pickle machine that builds values and never runs code: dicts (OrderedDict), lists, tuples,
// sets, numbers, strings, tensors (torch._utils._rebuild_tensor_v2 over persistent storages,
// parameters, tensor subclasses) and, for any other class or function, an opaque value naming
// it. libtorch's own torch::pickle_load rejects state dicts whose OrderedDict carries _metadata
// (BUILD), which every nn.Module.state_dict() has, and training checkpoints' other objects.

namespace asdm {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct StorageRef {
  TorchDType dtype;
  std::string key;
  int64_t numel;
};
// An object of a class asdm does not build (a Lightning callback, a numpy scalar, a device).
struct Opaque {
  std::string type;
};
struct Mark {};
using Dict = std::vector<std::pair<ValuePtr, ValuePtr>>;
using List = std::vector<ValuePtr>;
struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Dict, Global, StorageRef,
               TorchSaveTensor, Opaque, Mark>
      v;
  bool is_tuple = false;
};

// Typed storages by class name; torch.storage.UntypedStorage (bytes) holds the dtypes that have no
// typed storage class (fp8, uint16..64), whose tensors name their dtype (_rebuild_tensor_v3).
TorchDType storage_dtype(const Global& type) {
  static const std::map<std::string, TorchDType> types = {
      {"torch.FloatStorage", TorchDType::kFloat32},
      {"torch.DoubleStorage", TorchDType::kFloat64},
      {"torch.HalfStorage", TorchDType::kFloat16},
      {"torch.BFloat16Storage", TorchDType::kBFloat16},
      {"torch.LongStorage", TorchDType::kInt64},
      {"torch.IntStorage", TorchDType::kInt32},
      {"torch.ShortStorage", TorchDType::kInt16},
      {"torch.CharStorage", TorchDType::kInt8},
      {"torch.ByteStorage", TorchDType::kUInt8},
      {"torch.BoolStorage", TorchDType::kBool},
      {"torch.ComplexFloatStorage", TorchDType::kComplex64},
      {"torch.ComplexDoubleStorage", TorchDType::kComplex128},
      {"torch.storage.UntypedStorage", TorchDType::kUInt8},
      {"torch.UntypedStorage", TorchDType::kUInt8}};
  const auto it = types.find(type.module + "." + type.name);
  if (it == types.end()) fail("tensor storage type {}.{} is not supported", type.module, type.name);
  return it->second;
}

// A dtype as pickled (torch.float8_e4m3fn), for _rebuild_tensor_v3.
std::optional<TorchDType> pickled_dtype(const Global& g) {
  static const std::map<std::string, TorchDType> types = {
      {"float32", TorchDType::kFloat32},
      {"float64", TorchDType::kFloat64},
      {"float16", TorchDType::kFloat16},
      {"bfloat16", TorchDType::kBFloat16},
      {"int64", TorchDType::kInt64},
      {"int32", TorchDType::kInt32},
      {"int16", TorchDType::kInt16},
      {"int8", TorchDType::kInt8},
      {"uint8", TorchDType::kUInt8},
      {"bool", TorchDType::kBool},
      {"uint16", TorchDType::kUInt16},
      {"uint32", TorchDType::kUInt32},
      {"uint64", TorchDType::kUInt64},
      {"complex64", TorchDType::kComplex64},
      {"complex128", TorchDType::kComplex128},
      {"float8_e4m3fn", TorchDType::kFloat8E4M3fn},
      {"float8_e5m2", TorchDType::kFloat8E5M2},
      {"float8_e4m3fnuz", TorchDType::kFloat8E4M3fnuz},
      {"float8_e5m2fnuz", TorchDType::kFloat8E5M2fnuz}};
  if (g.module != "torch") return std::nullopt;
  const auto it = types.find(g.name);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

class Unpickler {
 public:
  // `storage` is told of each storage the pickle names (it checks the file can back it). Reads
  // the pickles in `data` one after another (load).
  Unpickler(std::string_view data, std::string source,
            std::function<void(const StorageRef&)> storage)
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
        case 0x80:  // PROTO
          u8();
          break;
        case 0x95:  // FRAME (its length: frames are not needed to read the opcodes)
          u64();
          break;
        case '.':  // STOP
          return pop();
        case '(':  // MARK
          push(make(Mark{}));
          break;
        case '}':  // EMPTY_DICT
          push(make(Dict{}));
          break;
        case ']':   // EMPTY_LIST
        case 0x8f:  // EMPTY_SET (kept as a list)
          push(make(List{}));
          break;
        case ')':
          push(tuple({}));
          break;
        case 't':
          push(tuple(pop_mark()));
          break;
        case 'l':   // LIST
        case 0x91:  // FROZENSET
          push(make(pop_mark()));
          break;
        case 'd': {  // DICT
          auto items = pop_mark();
          Dict d;
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.emplace_back(items[i], items[i + 1]);
          push(make(std::move(d)));
          break;
        }
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
        case 'q':  // BINPUT
          memo_[u8()] = top();
          break;
        case 'r':  // LONG_BINPUT
          memo_[u32()] = top();
          break;
        case 0x94:  // MEMOIZE
          memo_[memo_.size()] = top();
          break;
        case 'h':  // BINGET
          push(memo(u8()));
          break;
        case 'j':  // LONG_BINGET
          push(memo(u32()));
          break;
        case 'J':
          push(make(static_cast<int64_t>(static_cast<int32_t>(u32()))));
          break;
        case 'K':
          push(make(static_cast<int64_t>(u8())));
          break;
        case 'M':
          push(make(static_cast<int64_t>(u16())));
          break;
        case 0x8a:  // LONG1
          push(long_int(u8()));
          break;
        case 0x8b:  // LONG4
          push(long_int(u32()));
          break;
        case 'G': {  // BINFLOAT, big-endian
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();
          double v;
          std::memcpy(&v, &bits, 8);
          push(make(v));
          break;
        }
        case 'X':  // BINUNICODE
        case 'B':  // BINBYTES
        case 'T':  // BINSTRING (Python 2)
          push(make(bytes(u32())));
          break;
        case 0x8c:  // SHORT_BINUNICODE
        case 'C':   // SHORT_BINBYTES
        case 'U':   // SHORT_BINSTRING (Python 2)
          push(make(bytes(u8())));
          break;
        case 0x8d:  // BINUNICODE8
        case 0x8e:  // BINBYTES8
        case 0x96:  // BYTEARRAY8
          push(make(bytes(u64())));
          break;
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
        case 'Q':  // BINPERSID
          push(persistent(pop()));
          break;
        case 'R': {  // REDUCE
          const auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          pop();
          push(make(Opaque{type_name(pop())}));
          break;
        }
        case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
          pop();
          pop();
          push(make(Opaque{type_name(pop())}));
          break;
        }
        case 'b':  // BUILD: an object's state (an OrderedDict's _metadata): not needed
          pop();
          top();
          break;
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
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS (a set)
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
          fail("{}: pickle opcode 0x{:02x} at byte {} is not one torch.save writes", src_, op,
               pos_ - 1);
      }
    }
  }

  size_t position() const { return pos_; }

 private:
  ValuePtr make(auto x) {
    auto p = std::make_shared<Value>();
    p->v = std::move(x);
    made_.push_back(p);
    return p;
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
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(u8()) << (8 * i);
    return v;
  }
  std::string bytes(uint64_t n) {
    if (n > d_.size() - pos_) fail("{}: the pickle ends early", src_);
    std::string s(d_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::string line() {
    const size_t nl = d_.find('\n', pos_);
    if (nl == std::string_view::npos) fail("{}: the pickle ends early", src_);
    std::string s(d_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return s;
  }
  // A little-endian two's-complement integer of n bytes; longer than 8 (only the legacy format's
  // magic number is) it is kept as its bytes.
  ValuePtr long_int(uint64_t n) {
    if (n > 8) return make(bytes(n));
    int64_t v = 0;
    for (uint64_t i = 0; i < n; ++i) v |= static_cast<int64_t>(u8()) << (8 * i);
    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t{1} << (8 * n);
    return make(v);
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
  List pop_mark() {
    List items;
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
  ValuePtr tuple(List items) {
    auto v = make(std::move(items));
    v->is_tuple = true;
    return v;
  }
  std::string str(const ValuePtr& v) {
    if (const auto* s = std::get_if<std::string>(&v->v)) return *s;
    fail("{}: malformed pickle (a string was expected)", src_);
  }
  std::string type_name(const ValuePtr& v) {
    if (const auto* g = std::get_if<Global>(&v->v)) return g->module + "." + g->name;
    if (const auto* o = std::get_if<Opaque>(&v->v)) return o->type;
    return "object";
  }
  int64_t integer(const ValuePtr& v) {
    if (const auto* i = std::get_if<int64_t>(&v->v)) return *i;
    fail("{}: malformed pickle (an integer was expected)", src_);
  }
  List& list(const ValuePtr& v) {
    if (auto* l = std::get_if<List>(&v->v)) return *l;
    if (std::holds_alternative<Opaque>(v->v)) return scratch_list_;  // an object's append
    fail("{}: malformed pickle (a list was expected)", src_);
  }
  Dict& dict(const ValuePtr& v) {
    if (auto* d = std::get_if<Dict>(&v->v)) return *d;
    if (std::holds_alternative<Opaque>(v->v)) return scratch_dict_;  // an object's __setitem__
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
    StorageRef ref{storage_dtype(*type), str(t[2]), integer(t[4])};
    if (ref.numel < 0) fail("{}: storage {} has a negative size", src_, ref.key);
    const auto it = storages_.find(ref.key);
    if (it == storages_.end()) {
      storage_(ref);
      storages_.emplace(ref.key, ref);
    } else if (it->second.dtype != ref.dtype || it->second.numel != ref.numel) {
      fail("{}: storage {} is named with two types or sizes", src_, ref.key);
    }
    return make(ref);
  }

  // (storage, offset, size, stride, ...): offset, sizes and strides in elements of `dtype`, by
  // default the storage's.
  ValuePtr rebuild_tensor(const List& a, std::optional<TorchDType> dtype = std::nullopt) {
    const auto* storage = std::get_if<StorageRef>(&a[0]->v);
    if (!storage) fail("{}: a tensor without storage", src_);
    TorchSaveTensor t{storage->key, integer(a[1]), ints(a[2]), ints(a[3]),
                      dtype.value_or(storage->dtype)};
    const auto& [key, offset, size, stride, type] = t;
    // The storage's length in the tensor's elements.
    const int64_t numel = storage->numel * static_cast<int64_t>(element_size(storage->dtype)) /
                          static_cast<int64_t>(element_size(type));
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
      if (overflow || last >= numel) fail("{}: a tensor reaches past its storage", src_);
    } else if (offset > numel) {
      fail("{}: a tensor starts past its storage", src_);
    }
    return make(std::move(t));
  }

  ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
    const auto* g = std::get_if<Global>(&fn->v);
    if (!g) return make(Opaque{type_name(fn)});  // calling an object: some object
    const std::string name = g->module + "." + g->name;
    const List* a = std::get_if<List>(&args->v);
    if (!a) return make(Opaque{name});
    if (name == "collections.OrderedDict" && a->empty()) return make(Dict{});
    if ((name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") &&
        a->size() >= 4)
      return rebuild_tensor(*a);
    // (storage, offset, size, stride, requires_grad, hooks, dtype, metadata): an untyped storage.
    if (name == "torch._utils._rebuild_tensor_v3" && a->size() >= 7) {
      const auto* g = std::get_if<Global>(&(*a)[6]->v);
      const auto dtype = g ? pickled_dtype(*g) : std::nullopt;
      if (!dtype) fail("{}: a tensor of dtype {} is not supported", src_, type_name((*a)[6]));
      return rebuild_tensor(*a, dtype);
    }
    // Parameters (data, requires_grad, hooks[, state]) are their data.
    if ((name == "torch._utils._rebuild_parameter" ||
         name == "torch._utils._rebuild_parameter_with_state") &&
        !a->empty())
      return (*a)[0];
    // A tensor subclass: (func, type, func's args, state); the tensor is func(*args).
    if (name == "torch._tensor._rebuild_from_type_v2" && a->size() >= 3)
      return reduce((*a)[0], (*a)[2]);
    return make(Opaque{name});
  }

  std::string_view d_;
  size_t pos_ = 0;
  std::string src_;
  std::function<void(const StorageRef&)> storage_;
  List stack_;
  std::map<size_t, ValuePtr> memo_;
  std::map<std::string, StorageRef> storages_;
  std::vector<ValuePtr> made_;
  // What is added to opaque objects (SETITEMS, APPENDS) goes here, unread.
  Dict scratch_dict_;
  List scratch_list_;
};

// The state dict: the object itself, or its "state_dict" entry (training checkpoints; a pickle
// can make one hold itself, hence the depth).
const Dict* find_state_dict(const ValuePtr& root, const std::string& source, int depth = 0) {
  const auto* d = std::get_if<Dict>(&root->v);
  if (d && depth < 4) {
    for (const auto& [k, v] : *d) {
      const auto* key = std::get_if<std::string>(&k->v);
      if (key && *key == "state_dict" && std::holds_alternative<Dict>(v->v))
        return find_state_dict(v, source, depth + 1);
    }
  }
  if (const auto* o = std::get_if<Opaque>(&root->v))
    fail("'{}' holds a {} object, not a state dict (a dict of tensors): save model.state_dict()",
         source, o->type);
  if (!d) fail("'{}' does not hold a state dict (a dict of tensors)", source);
  return d;
}

void take_state_dict(const ValuePtr& root, const std::string& source, TorchSaveIndex& index) {
  for (const auto& [k, v] : *find_state_dict(root, source)) {
    const auto* key = std::get_if<std::string>(&k->v);
    if (!key) fail("'{}': a state dict key that is not a string", source);
    if (const auto* o = std::get_if<Opaque>(&v->v))
      fail("'{}': state dict entry '{}' is a {} object, not a tensor", source, *key, o->type);
    const auto* t = std::get_if<TorchSaveTensor>(&v->v);
    if (!t) continue;  // a plain value (an epoch counter)
    if (index.tensors.insert_or_assign(*key, *t).second)
      index.names.push_back(*key);  // Python: last wins
  }
  if (index.tensors.empty()) fail("'{}' holds no tensors", source);
}

}  // namespace

TorchSaveIndex index_torch_save(std::string_view image, const std::string& source) {
  TorchSaveIndex index;
  auto& storages = index.storages;
  const std::string_view z = image;
  if (z.substr(0, 4) == std::string_view("PK\x03\x04", 4)) {
    // The zip format: <root>/data.pkl, and <root>/data/<key> per storage, stored uncompressed.
    std::map<std::string, ZipEntry> members;
    for (auto& e : zip_directory(z, source)) {
      const auto slash = e.name.find('/');
      members.emplace(slash == std::string::npos ? e.name : e.name.substr(slash + 1), e);
    }
    const auto pkl = members.find("data.pkl");
    if (pkl == members.end()) fail("'{}' is a zip but not a torch.save file (no data.pkl)", source);
    auto stored = [&](const ZipEntry& e) {
      if (e.method != 0)
        fail("'{}': member '{}' is compressed; torch.save stores its members uncompressed", source,
             e.name);
      return z.substr(e.data_offset, e.compressed_size);
    };
    if (const auto order = members.find("byteorder");
        order != members.end() && stored(order->second) != "little")
      fail("'{}' was saved on a big-endian machine; asdm reads little-endian files", source);
    const std::string_view pickle = stored(pkl->second);
    if (crc32(pickle.data(), pickle.size()) != pkl->second.crc)
      fail("{}: member '{}' fails its CRC-32 check (the file is damaged)", source,
           pkl->second.name);
    Unpickler u(pickle, source, [&](const StorageRef& ref) {
      const auto it = members.find("data/" + ref.key);
      if (it == members.end()) fail("{}: storage data/{} is missing", source, ref.key);
      const std::string_view bytes = stored(it->second);
      const size_t item = element_size(ref.dtype);
      if (static_cast<uint64_t>(ref.numel) > bytes.size() / item)  // numel >= 0 (persistent)
        fail("{}: storage {} holds {} bytes, {} elements of {} expected", source, ref.key,
             bytes.size(), ref.numel, item);
      storages[ref.key] = {ref.dtype, ref.numel,      it->second.data_offset,
                           true,      it->second.crc, bytes.size()};
    });
    take_state_dict(u.load(), source, index);
    return index;
  }
  if (z.empty() || static_cast<uint8_t>(z[0]) != 0x80)
    fail("'{}' is not a torch.save file (neither its zip nor its legacy format)", source);
  // The legacy format (torch < 1.6): pickles of the magic number, the protocol version and system
  // info, the object itself, the list of storage keys; then each storage as an int64 element
  // count and its bytes, in that list's order.
  Unpickler u(z, source, [&](const StorageRef& ref) {
    // The file must hold the storage's bytes: refused before anything else is read.
    if (static_cast<uint64_t>(ref.numel) > z.size() / element_size(ref.dtype))
      fail("'{}': storage {} is truncated or of the wrong size", source, ref.key);
    storages[ref.key] = {ref.dtype, ref.numel, 0, false, 0, 0};
  });
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
      const auto* l = std::get_if<List>(&v->v);
      if (!l) fail("'{}': the legacy storage key list is missing", source);
      for (const auto& k : *l)
        if (const auto* s = std::get_if<std::string>(&k->v)) keys.push_back(*s);
    }
  }
  size_t offset = u.position();
  for (const auto& key : keys) {
    const auto s = storages.find(key);
    if (s == storages.end()) fail("'{}': storage {} is listed but not used", source, key);
    if (offset + 8 > z.size()) fail("'{}': storage {} is truncated", source, key);
    int64_t count;
    std::memcpy(&count, z.data() + offset, 8);
    offset += 8;
    const size_t bytes = static_cast<size_t>(count) * element_size(s->second.dtype);
    if (count != s->second.numel || offset + bytes > z.size())
      fail("'{}': storage {} is truncated or of the wrong size", source, key);
    s->second.offset = offset;
    offset += bytes;
  }
  take_state_dict(root, source, index);
  // Every storage the state dict's tensors use must have been in the list.
  for (const auto& [name, t] : index.tensors)
    if (std::find(keys.begin(), keys.end(), t.storage) == keys.end())
      fail("'{}': storage {} is used but its bytes are not in the file", source, t.storage);
  return index;
}

std::string_view to_string(TorchDType dtype) {
  switch (dtype) {
    case TorchDType::kFloat32:
      return "float32";
    case TorchDType::kFloat64:
      return "float64";
    case TorchDType::kFloat16:
      return "float16";
    case TorchDType::kBFloat16:
      return "bfloat16";
    case TorchDType::kInt64:
      return "int64";
    case TorchDType::kInt32:
      return "int32";
    case TorchDType::kInt16:
      return "int16";
    case TorchDType::kInt8:
      return "int8";
    case TorchDType::kUInt8:
      return "uint8";
    case TorchDType::kBool:
      return "bool";
    case TorchDType::kUInt16:
      return "uint16";
    case TorchDType::kUInt32:
      return "uint32";
    case TorchDType::kUInt64:
      return "uint64";
    case TorchDType::kComplex64:
      return "complex64";
    case TorchDType::kComplex128:
      return "complex128";
    case TorchDType::kFloat8E4M3fn:
      return "float8_e4m3fn";
    case TorchDType::kFloat8E5M2:
      return "float8_e5m2";
    case TorchDType::kFloat8E4M3fnuz:
      return "float8_e4m3fnuz";
    case TorchDType::kFloat8E5M2fnuz:
      return "float8_e5m2fnuz";
  }
  return "?";
}

size_t element_size(TorchDType dtype) {
  switch (dtype) {
    case TorchDType::kFloat64:
    case TorchDType::kInt64:
    case TorchDType::kUInt64:
    case TorchDType::kComplex64:
      return 8;
    case TorchDType::kComplex128:
      return 16;
    case TorchDType::kFloat32:
    case TorchDType::kInt32:
    case TorchDType::kUInt32:
      return 4;
    case TorchDType::kFloat16:
    case TorchDType::kBFloat16:
    case TorchDType::kInt16:
    case TorchDType::kUInt16:
      return 2;
    default:
      return 1;
  }
}

const TorchSaveTensor& TorchSaveIndex::tensor(const std::string& name,
                                              const std::string& source) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) fail("'{}' has no tensor '{}'", source, name);
  return it->second;
}

}  // namespace asdm
