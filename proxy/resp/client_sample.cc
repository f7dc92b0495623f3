// Feeds the hit-rate monitor: reads and writes of sampled keys (1 in 2^shift by key hash).
// Only GET/SET-family commands are looked at, and an unsampled key costs one (inline) hash and a
// compare: the command's shape is remembered per command, and everything a sampled key needs
// (the monitor's lock, its prefix, its charged size) is out of line behind the sample test.
#include "cache/store.h"
#include "proxy/resp/client_conn.h"
#include "proxy/commands/hitrate_monitor.h"

namespace strata::proxy {
namespace {

enum class Access { kNone, kRead, kWrite, kErase };

// Which argument holds the value a write stores, for the SET family; 0: not a plain write.
struct Shape {
  Access access;
  size_t value_arg;  // SET k v -> 2; SETEX k s v -> 3; MSET -> pairs
  bool pairs;
};

Shape shape_of(std::string_view n) {
  if (n == "get" || n == "mget" || n == "getex") return {Access::kRead, 0, false};
  if (n == "set" || n == "setnx" || n == "getset") return {Access::kWrite, 2, false};
  if (n == "setex" || n == "psetex") return {Access::kWrite, 3, false};
  if (n == "mset" || n == "msetnx") return {Access::kWrite, 2, true};
  if (n == "del" || n == "unlink" || n == "getdel") return {Access::kErase, 0, false};
  return {Access::kNone, 0, false};
}

// Reads left until this thread counts one for the monitor's per-prefix read totals. Reset at
// random in [1, 2 x kReadCountEvery - 1]: a fixed period could lock onto a periodic workload
// (GET user:x, GET chat:y, ...) and count one prefix only.
thread_local uint32_t t_count_down = HitRateMonitor::kReadCountEvery;
thread_local uint64_t t_count_rng = 0x9e3779b97f4a7c15ull;

[[gnu::noinline]] void count_read(HitRateMonitor& mon, std::string_view key) {
  t_count_rng ^= t_count_rng << 13;
  t_count_rng ^= t_count_rng >> 7;
  t_count_rng ^= t_count_rng << 17;
  t_count_down = 1 + static_cast<uint32_t>(t_count_rng % (2 * HitRateMonitor::kReadCountEvery - 1));
  mon.count_read(key);
}

// The shape of the last command this thread saw: a connection (and a pipeline) mostly repeats
// one command, and CommandSpecs are static, so the pointer identifies it.
thread_local const CommandSpec* t_shape_spec = nullptr;
thread_local Shape t_shape{Access::kNone, 0, false};

// Out of line so the common path (same command as last time) needs no stack frame.
[[gnu::noinline]] const Shape& refresh_shape(const CommandSpec& spec) {
  t_shape = shape_of(spec.name);
  t_shape_spec = &spec;
  return t_shape;
}

const Shape& cached_shape(const CommandSpec& spec) {
  if (&spec != t_shape_spec) [[unlikely]]
    return refresh_shape(spec);
  return t_shape;
}

[[gnu::noinline]] void record_sampled(const Shape& shape, Args args, size_t i, uint64_t h,
                                      HitRateMonitor& mon, const cache::Store& store) {
  std::string_view key = args[i];
  switch (shape.access) {
    case Access::kRead:
      // Not looked up in L1 (that would touch the live policy twice): a shadow miss fills
      // with the mean size of the prefix's sampled writes.
      mon.read(key, h, 0);
      break;
    case Access::kWrite: {
      const size_t vi = shape.pairs ? i + 1 : shape.value_arg;
      if (vi >= args.size()) break;
      mon.write(key, h, store.charged_bytes(key, args[vi].size()));
      break;
    }
    case Access::kErase:
      mon.erase(key, h);
      break;
    case Access::kNone:
      break;
  }
}

// Commands with several keys (MGET, MSET, DEL a b c): the loop, out of the single-key path.
[[gnu::noinline]] void sample_keys(const Shape& shape, Args args, HitRateMonitor& mon,
                                   const cache::Store& store) {
  const uint32_t shift = mon.sample_shift();
  const size_t step = shape.pairs ? 2 : 1;
  for (size_t i = 1; i < args.size(); i += step) {
    if (shape.access == Access::kRead && --t_count_down == 0) count_read(mon, args[i]);
    const uint64_t h = cache::hash_key(args[i]);
    if (HitRateMonitor::sampled(h, shift)) [[unlikely]] {
      record_sampled(shape, args, i, h, mon, store);
    }
  }
}

}  // namespace

// Every call is a tail call, so the unsampled path saves no registers.
void ClientConn::sample_access(const CommandSpec& spec, Args args) {
  const Shape& shape = cached_shape(spec);
  if (shape.access == Access::kNone || args.size() < 2) return;
  HitRateMonitor& mon = *ctx_->hitrate;
  // The SET family writes one key; reads and erases take several only when given several.
  if (args.size() > 2 && (shape.pairs || shape.access != Access::kWrite)) [[unlikely]] {
    return sample_keys(shape, args, mon, *ctx_->store);
  }
  if (shape.access == Access::kRead && --t_count_down == 0) [[unlikely]]
    count_read(mon, args[1]);
  const uint64_t h = cache::hash_key(args[1]);
  if (!HitRateMonitor::sampled(h, mon.sample_shift())) [[likely]]
    return;
  return record_sampled(shape, args, 1, h, mon, *ctx_->store);
}

}  // namespace strata::proxy
