// Trace files: plain CSV (key[,size[,op]]) and libCacheSim's oracleGeneral binary format. Keys
// are renumbered to dense ids in order of first appearance, which is what lets the simulator use
// flat arrays indexed by id.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "bench/trace_gen.h"

namespace strata::bench::trace_detail {

namespace {

// oracleGeneral: uint32 timestamp, uint64 obj_id, uint32 size, int64 next_access_vtime, packed
// little-endian.
constexpr size_t kOracleRecordBytes = 24;
constexpr size_t kOracleRecordsPerRead = 1 << 16;

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a finaliser for the high bits
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return mix64(h);
}

// Open addressing uint64 -> dense uint32, linear probing, grown at half load. Ids from real
// traces are arbitrary 64-bit values, so an unordered_map's node per key would dominate loading.
class IdMap {
 public:
  IdMap() : slots_(1 << 16) {}
  uint32_t find_or_add(uint64_t key, uint32_t next_id, bool* added) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    Slot* s = probe(key);
    *added = !s->used;
    if (!s->used) *s = Slot{key, next_id, true}, ++count_;
    return s->value;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t value = 0;
    bool used = false;
  };
  Slot* probe(uint64_t key) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
      if (!slots_[i].used || slots_[i].key == key) return &slots_[i];
    }
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.used) *probe(s.key) = s;
    }
  }
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

Op parse_op(std::string_view text, bool* ok) {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  *ok = true;
  if (lower == "get" || lower == "read" || lower.empty()) return Op::kGet;
  if (lower == "set" || lower == "write") return Op::kSet;
  if (lower == "del" || lower == "delete") return Op::kDel;
  *ok = false;
  return Op::kGet;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Trace read_csv_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw SpecError("csv:" + path + ": cannot open: " + std::strerror(errno));
  Trace t;
  std::unordered_map<std::string, uint32_t> ids;
  bool any_size = false;
  bool any_op = false;
  std::string line;
  for (uint64_t line_no = 1; std::getline(in, line); ++line_no) {
    std::string_view rest = trim(line);
    if (rest.empty() || rest.front() == '#') continue;
    std::string_view fields[3];
    size_t n = 0;
    while (n < 3) {
      const size_t comma = rest.find(',');
      fields[n++] = trim(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
      if (n == 3)
        throw SpecError("csv:" + path + ":" + std::to_string(line_no) +
                        ": more than 3 fields (key[,size[,op]])");
    }
    if (line_no == 1 && fields[0] == "key") continue;  // header
    if (fields[0].empty())
      throw SpecError("csv:" + path + ":" + std::to_string(line_no) + ": empty key");
    uint64_t size = 1;
    if (n >= 2 && !fields[1].empty()) {
      auto [end, ec] = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), size);
      if (ec != std::errc() || end != fields[1].data() + fields[1].size() || size == 0 ||
          size > kTraceObjectBytesMax) {
        throw SpecError("csv:" + path + ":" + std::to_string(line_no) + ": bad size '" +
                        std::string(fields[1]) + "' (1..2^32-1)");
      }
      any_size = true;
    }
    bool ok = true;
    const Op op = n >= 3 ? parse_op(fields[2], &ok) : Op::kGet;
    if (!ok)
      throw SpecError("csv:" + path + ":" + std::to_string(line_no) + ": bad op '" +
                      std::string(fields[2]) + "' (get|set|del)");
    any_op |= op != Op::kGet;
    if (t.ids.size() >= kTraceRequestsMax) throw SpecError("csv:" + path + ": too many requests");
    auto [it, added] = ids.try_emplace(std::string(fields[0]), static_cast<uint32_t>(ids.size()));
    if (added) t.hashes.push_back(hash_bytes(fields[0]));
    t.ids.push_back(it->second);
    t.sizes.push_back(static_cast<uint32_t>(size));
    t.ops.push_back(op);
  }
  if (in.bad()) throw SpecError("csv:" + path + ": read error");
  if (t.ids.empty()) throw SpecError("csv:" + path + ": no requests");
  if (!any_size) t.sizes.clear();
  if (!any_op) t.ops.clear();
  t.objects = static_cast<uint32_t>(ids.size());
  return t;
}

Trace read_oracle_trace(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw SpecError("oracle:" + path + ": cannot open: " + std::strerror(errno));
  Trace t;
  IdMap ids;
  std::vector<unsigned char> buf(kOracleRecordBytes * kOracleRecordsPerRead);
  size_t carry = 0;
  for (;;) {
    const size_t got = std::fread(buf.data() + carry, 1, buf.size() - carry, file.get());
    const size_t have = carry + got;
    const size_t records = have / kOracleRecordBytes;
    for (size_t r = 0; r < records; ++r) {
      const unsigned char* rec = buf.data() + r * kOracleRecordBytes;
      uint64_t obj = 0;
      uint32_t size = 0;
      std::memcpy(&obj, rec + 4, 8);  // little-endian host assumed (x86-64, arm64)
      std::memcpy(&size, rec + 12, 4);
      if (t.ids.size() >= kTraceRequestsMax)
        throw SpecError("oracle:" + path + ": too many requests");
      bool added = false;
      const uint32_t id = ids.find_or_add(obj, t.objects, &added);
      if (added) {
        t.hashes.push_back(mix64(obj));
        ++t.objects;
      }
      t.ids.push_back(id);
      t.sizes.push_back(std::max<uint32_t>(size, 1));  // size 0 records exist; count them as 1
    }
    carry = have - records * kOracleRecordBytes;
    std::memmove(buf.data(), buf.data() + records * kOracleRecordBytes, carry);
    if (got == 0) break;
  }
  if (std::ferror(file.get())) throw SpecError("oracle:" + path + ": read error");
  if (carry != 0) {
    throw SpecError("oracle:" + path + ": size is not a multiple of 24 bytes (truncated record)");
  }
  if (t.ids.empty()) throw SpecError("oracle:" + path + ": no requests");
  return t;
}

}  // namespace strata::bench::trace_detail
