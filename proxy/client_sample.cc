// Feeds the hit-rate monitor: reads and writes of sampled keys (1 in 2^shift by key hash).
// Unsampled keys cost one hash each; only GET/SET-family commands are looked at.
#include "cache/store.h"
#include "proxy/client_conn.h"
#include "proxy/hitrate_monitor.h"
#include "proxy/worker.h"

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

}  // namespace

void ClientConn::sample_access(const CommandSpec& spec, Args args) {
  const Shape shape = shape_of(spec.name);
  if (shape.access == Access::kNone) return;
  HitRateMonitor& mon = *worker_->shared().hitrate;
  cache::Store& store = *worker_->shared().store;
  const uint32_t shift = mon.sample_shift();
  const size_t step = shape.pairs ? 2 : 1;
  const size_t last = (shape.access == Access::kWrite && !shape.pairs) ? 1 : args.size() - 1;
  for (size_t i = 1; i <= last && i < args.size(); i += step) {
    std::string_view key = args[i];
    const uint64_t h = cache::hash_key(key);
    if (!HitRateMonitor::sampled(h, shift)) continue;
    switch (shape.access) {
      case Access::kRead:
        // Not looked up in L1 (that would touch the live policy twice): a shadow miss fills
        // with the mean size of the prefix's sampled writes.
        mon.read(key, h, 0);
        break;
      case Access::kWrite: {
        const size_t vi = shape.pairs ? i + 1 : shape.value_arg;
        if (vi >= args.size()) break;
        mon.write(key, h, store.charged_bytes(key.size(), args[vi].size()));
        break;
      }
      case Access::kErase:
        mon.erase(key, h);
        break;
      case Access::kNone:
        break;
    }
  }
}

}  // namespace strata::proxy
