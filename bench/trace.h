// Request traces for the hit-rate simulator: seeded synthetic generators and file readers, all
// producing one compact in-memory form (dense object ids + optional per-request sizes), so the
// simulator's owner loop can index flat arrays by object id instead of hashing keys.
//
// Spec grammar (the --trace argument):
//   zipf:alpha=1.0,objects=1000000,requests=10000000,seed=1
//   uniform:objects=N,requests=R,seed=S
//   loop:objects=N,requests=R                     (0,1,..,N-1,0,1,..)
//   scan:alpha=..,objects=..,requests=..,scan_every=..,scan_len=..,seed=..
//                                                 (Zipf polluted by sequential scans of new keys)
//   shift:objects=..,requests=..,hot=..,hot_frac=..,period=..,seed=..  (hot set moves each period)
//   onehit:alpha=..,objects=..,requests=..,onehit=0.2,seed=..  (Zipf + one-hit wonders)
//   recency:requests=..,new=0.1,window=..,seed=..  (re-reference a request log-uniformly
//                                                 1..window back: strongly recency-friendly)
//   csv:FILE                                      (lines key[,size[,op]]; op get|set|del)
//   oracle:FILE                                   (libCacheSim oracleGeneral, 24-byte records)
// Every generator also takes size=N (fixed bytes per object) or size=A..B (per-object size drawn
// log-uniformly from [A,B]); without it objects have unit size.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace strata::bench {

// Ids are uint32 and next-access positions too, so both are bounded by this.
inline constexpr uint64_t kTraceObjectsMax = UINT32_MAX - 1;
inline constexpr uint64_t kTraceRequestsMax = UINT32_MAX - 1;
inline constexpr uint64_t kTraceObjectBytesMax = UINT32_MAX;

enum class Op : uint8_t { kGet = 0, kSet = 1, kDel = 2 };

struct Trace {
  std::string description;
  std::vector<uint32_t> ids;     // per request: dense object id in [0, objects)
  std::vector<uint32_t> sizes;   // per request: object size in bytes; empty means unit sizes
  std::vector<Op> ops;           // per request; empty means every request is a get
  std::vector<uint64_t> hashes;  // per object: the key hash handed to the eviction policy
  uint32_t objects = 0;

  size_t requests() const { return ids.size(); }
  bool sized() const { return !sizes.empty(); }
  uint32_t size_at(size_t i) const { return sizes.empty() ? 1 : sizes[i]; }
  Op op_at(size_t i) const { return ops.empty() ? Op::kGet : ops[i]; }
};

struct WorkingSet {
  uint64_t objects = 0;  // distinct objects requested
  uint64_t bytes = 0;    // sum of their (last seen) sizes
};

// Parses a spec and generates or reads the trace. Errors name the offending part of the spec.
std::expected<Trace, std::string> load_trace(std::string_view spec);

WorkingSet working_set(const Trace& trace);

// next[i] = index of the next request for the same object after i, or kNoNextAccess.
inline constexpr uint32_t kNoNextAccess = UINT32_MAX;
std::vector<uint32_t> next_accesses(const Trace& trace);

// A 64-bit mix (splitmix64's finaliser); generators use it to give object ids key hashes.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace strata::bench
