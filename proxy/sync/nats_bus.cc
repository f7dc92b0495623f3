#include "proxy/sync/nats_bus.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <random>
#include <utility>

#include "cache/hash.h"
#include "proxy/loop/log.h"

namespace strata::proxy {
namespace {

constexpr int64_t kTickMs = 10;  // silence and staleness checks
constexpr size_t kDropScanKeys = 1024;
constexpr int kLagBuckets = 24;  // 1 ms .. 2^23 ms

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

uint64_t random_epoch() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                     static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return v == 0 ? 1 : v;
}

std::vector<std::string> split_servers(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    std::string one = list.substr(start, comma - start);
    one.erase(0, one.find_first_not_of(' '));
    one.erase(one.find_last_not_of(' ') + 1);
    if (!one.empty()) out.push_back(one.find("://") == std::string::npos ? "nats://" + one : one);
    start = comma + 1;
  }
  return out;
}

// A silent peer may be writing unseen until it has surely noticed its own isolation (its
// pings unanswered: nats.c declares a link dead once more than max_pings_out go unanswered, up
// to (max_pings_out + 2) intervals after it stalled by where the stall falls between pings; one
// more interval for its timer and the machine's load) and then refused writes
// (max_staleness_ms). Past that, one heartbeat more, it is gone: what the tiers hold is final.
SyncTrustLimits trust_limits(const policies::NatsConfig& c) {
  SyncTrustLimits t;
  t.silence_ms = c.silence_ms != 0 ? c.silence_ms : 2 * static_cast<int64_t>(c.heartbeat_ms) + 50;
  t.stale_after_ms = c.max_staleness_ms;
  t.skew_max_ms = c.clock_skew_max_ms;
  t.gone_after_ms = static_cast<int64_t>(c.ping_interval_ms) * (c.max_pings_out + 3) +
                    c.max_staleness_ms + c.heartbeat_ms;
  return t;
}

ChangeOp op_of(protocol::SyncOp op) {
  switch (op) {
    case protocol::SyncOp::kSet: return ChangeOp::kSet;
    case protocol::SyncOp::kDelete: return ChangeOp::kDelete;
    case protocol::SyncOp::kFlushAll: return ChangeOp::kFlushAll;
    case protocol::SyncOp::kInvalidate: break;
  }
  return ChangeOp::kInvalidate;
}

}  // namespace

NatsBus::NatsBus(Setup setup, cache::Store* store, const SyncPolicies* policies,
                 HybridClock* clock, SyncState* status)
    : setup_(std::move(setup)),
      store_(store),
      policies_(policies),
      clock_(clock),
      status_(status),
      origin_(cache::hash_key(setup_.instance) | 1),
      epoch_(random_epoch()),
      rx_(setup_.nats.partitions, trust_limits(setup_.nats)),
      lag_buckets_(kLagBuckets, 0),
      inbox_wake_events_(std::max<size_t>(1, std::min<size_t>(kInboxWakeEventsMax,
                                                               setup_.nats.queue_max / 2))) {
  // Receiving takes whatever NATS carries; sending stays within batch_bytes_max.
  send_limits_.message_bytes_max = setup_.nats.batch_bytes_max;
  const std::string& prefix = setup_.nats.subject_prefix;
  // Batches carry several partitions: the partition is in each section, not the subject.
  changes_subject_ = prefix + ".ev.batch";
  heartbeat_subject_ = prefix + ".hb";
  batcher_ = protocol::SyncBatchEncoder(&batch_, send_limits_);
  wildcard_ = prefix + ".>";
  for (uint32_t i = 0; i < setup_.workers; ++i) inboxes_.push_back(std::make_unique<Inbox>());
  // Until the first connection, synced keys read through: nothing vouches for L1 yet.
  status_->degraded.store(true, std::memory_order_relaxed);
  down_since_ms_.store(wall_ms() - setup_.nats.max_staleness_ms - 1, std::memory_order_relaxed);
}

NatsBus::~NatsBus() { stop(); }

void NatsBus::attach_worker(uint32_t index, Loop* loop) { inboxes_.at(index)->loop = loop; }

uint32_t NatsBus::partition_of(std::string_view key) const {
  return static_cast<uint32_t>(cache::hash_key(key) % setup_.nats.partitions);
}

bool NatsBus::start(std::string* err) {
  const policies::NatsConfig& c = setup_.nats;
  natsStatus s = natsOptions_Create(&opts_);
  std::vector<std::string> servers = split_servers(c.url);
  std::vector<const char*> urls;
  for (const std::string& u : servers) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts_, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts_, ("strata " + setup_.instance).c_str());
  if (s == NATS_OK && !c.user.empty()) {
    s = natsOptions_SetUserInfo(opts_, c.user.c_str(), c.password.c_str());
  }
  if (s == NATS_OK && !c.token.empty()) s = natsOptions_SetToken(opts_, c.token.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts_, c.connect_timeout_ms);
  // nats.c pings every 2 minutes by default: a half-open link would go unnoticed that long.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts_, c.ping_interval_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts_, static_cast<int>(c.max_pings_out));
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts_, c.reconnect_wait_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts_, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts_, true, nullptr, nullptr);
  if (s == NATS_OK) s = natsOptions_SetNoEcho(opts_, true);  // our own messages stay home
  // nats.c's flusher otherwise waits up to 1 ms to gather more: messages here are already
  // batched per loop iteration and partition, and only the sender thread publishes.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts_, true);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts_, &NatsBus::on_disconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts_, &NatsBus::on_reconnected, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts_, &NatsBus::on_error, this);
  if (s != NATS_OK) {
    *err = std::string("nats: ") + natsStatus_GetText(s);
    return false;
  }
  // With RetryOnFailedConnect a server that is not up yet is NATS_NOT_YET_CONNECTED: the
  // library keeps trying in the background and calls on_reconnected once it is.
  s = natsConnection_Connect(&conn_, opts_);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    *err = std::string("nats: cannot connect to ") + c.url + ": " + natsStatus_GetText(s);
    return false;
  }
  // Messages are handled on nats.c's reader thread (see receive()): its message filter is
  // nats.c's own hook (exported by libnats, declared in its private natsp.h; its tests use it).
  natsConn_setFilterWithClosure(conn_, &NatsBus::on_read, this);
  s = natsConnection_Subscribe(&sub_, conn_, wildcard_.c_str(), &NatsBus::on_message, this);
  if (s == NATS_OK) {
    // nats.c's defaults drop silently past 65536 messages / 64 MiB: ours are set and counted.
    s = natsSubscription_SetPendingLimits(sub_, static_cast<int>(c.pending_msgs_max),
                                          static_cast<int>(std::min<uint64_t>(
                                              c.pending_bytes_max, INT32_MAX)));
  }
  if (s != NATS_OK) {
    *err = std::string("nats: cannot subscribe to ") + wildcard_ + ": " + natsStatus_GetText(s);
    return false;
  }
  if (natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED) set_connected(true, wall_ms());
  ticker_ = std::thread([this] { ticker(); });
  sender_ = std::thread([this] { sender(); });
  STRATA_LOG_INFO("sync: instance '%s' epoch %016llx on NATS %s (%u partitions, heartbeat %u ms)",
                  setup_.instance.c_str(), static_cast<unsigned long long>(epoch_),
                  c.url.c_str(), c.partitions, c.heartbeat_ms);
  return true;
}

void NatsBus::stop() {
  {
    std::lock_guard<std::mutex> g(tick_mu_);
    stopping_ = true;
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  {
    std::lock_guard<std::mutex> g(out_mu_);
    out_stopping_ = true;
  }
  out_cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    natsConnection_Destroy(conn_);
    conn_ = nullptr;
  }
  release_spent();  // nats.c's library is still up to take them
  if (opts_ != nullptr) {
    natsOptions_Destroy(opts_);
    opts_ = nullptr;
    // nats.c's own threads and memory go too (one bus per process), so a leak check at exit
    // sees only ours.
    nats_CloseAndWait(2000);
  }
}

void NatsBus::publish(bool heartbeat, std::string_view data) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> g(out_mu_);
    if (outbox_bytes_ + data.size() > kOutboxBytesMax) {
      bump(counters_.outbox_dropped);
      return;
    }
    outbox_bytes_ += data.size();
    // Only an idle sender is woken (once); a busy one comes by itself (see sender()).
    wake = sender_idle_ || outbox_.size() + 1 == kLingerMessagesMax;
    sender_idle_ = false;
    outbox_.push_back(Outgoing{heartbeat, std::string(data)});
  }
  if (wake) out_cv_.notify_one();
}

// The sender thread: the only caller of natsConnection_Publish, in the order workers queued.
// What it takes at once goes out as one batch: one socket write here (SendAsap) and one read
// and wake-up at each peer, whatever the number of workers and partitions. A wake-up here is
// paid per group too, so a busy stream is sent on a clock, one wake-up per group: once a group
// goes out less than linger_window() after the one before, the sender sleeps until linger()
// after it and takes what came meanwhile (sooner when kLingerMessagesMax are queued), without
// being woken by the workers' publishes; finding nothing, it is idle again. An idle sender is
// woken by the first publish and sends at once, so a lone write's lag is unchanged ([nats]
// linger_us = 0: never busy, every publish wakes it). Workers only queue (and wake an idle
// sender, once).
void NatsBus::sender() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_sent{};
  bool busy = false;
  std::unique_lock<std::mutex> lk(out_mu_);
  for (;;) {
    if (busy) {
      out_cv_.wait_until(lk, last_sent + linger(), [&] {
        return out_stopping_ || outbox_.size() >= kLingerMessagesMax;
      });
      busy = !outbox_.empty();
    }
    if (!busy) {
      sender_idle_ = outbox_.empty();
      out_cv_.wait(lk, [&] { return out_stopping_ || !outbox_.empty(); });
      sender_idle_ = false;
    }
    if (outbox_.empty() && out_stopping_) return;
    const Clock::time_point now = Clock::now();
    busy = now - last_sent < linger_window();
    last_sent = now;
    sending_.clear();
    std::swap(outbox_, sending_);
    outbox_bytes_ = 0;
    lk.unlock();
    // Every changes message waiting goes out joined in as few batches as batch_bytes_max
    // allows (one NATS message, one socket write here and one read at each peer, however many
    // workers and partitions); a heartbeat goes after the batch before it.
    for (const Outgoing& m : sending_) {
      if (m.heartbeat) {
        send_batch();
        const natsStatus s = natsConnection_Publish(conn_, heartbeat_subject_.c_str(),
                                                    m.data.data(), static_cast<int>(m.data.size()));
        bump(s == NATS_OK ? counters_.published_messages : counters_.publish_failures);
        continue;
      }
      protocol::SyncAddStatus added = batcher_.add(m.data);
      if (added == protocol::SyncAddStatus::kFull) {
        send_batch();
        added = batcher_.add(m.data);
      }
      if (added != protocol::SyncAddStatus::kAdded) {
        // Not our encoder's (cannot happen): dropped, and receivers see the gap.
        bump(counters_.publish_failures);
        STRATA_LOG_WARN("sync: a changes message cannot be batched: %.*s",
                        static_cast<int>(batcher_.error().message.size()),
                        batcher_.error().message.data());
      }
    }
    send_batch();
    lk.lock();
  }
}

void NatsBus::send_batch() {
  if (!batcher_.open()) return;
  const size_t sections = batcher_.sections();
  const std::string_view data = batcher_.finish();
  const natsStatus s = natsConnection_Publish(conn_, changes_subject_.c_str(), data.data(),
                                              static_cast<int>(data.size()));
  if (s == NATS_OK) {
    bump(counters_.published_messages);
    bump(counters_.published_batches);
    bump(counters_.published_sections, sections);
  } else {
    bump(counters_.publish_failures);
  }
  batch_.clear();
}

void NatsBus::take_peer_events(uint32_t worker, std::vector<PeerEvent>* out) {
  Inbox& in = *inboxes_[worker];
  // One relaxed-cheap load per loop iteration when nothing waits.
  if (in.waiting.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> g(in.mu);
  out->swap(in.events);
  in.waiting.store(0, std::memory_order_relaxed);
  in.woken = false;
}

// ---- receiving (nats.c's reader thread) ----

void NatsBus::on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  static_cast<NatsBus*>(self)->receive(msg);
}

void NatsBus::on_read(natsConnection*, natsMsg** msg, void* self) {
  static_cast<NatsBus*>(self)->receive(*msg);
  *msg = nullptr;  // ours now: nats.c queues nothing and wakes no delivery thread
}

// A message is handled where it is read (nats.c's reader thread, through its filter; the
// subscription's own callback only if nats.c ever skipped the filter), and given back to nats.c
// in groups: natsMsg_Destroy hands each message to nats.c's garbage-collector thread and wakes
// it when it is idle, which at one message per write was a context switch per message.
void NatsBus::receive(natsMsg* msg) {
  const std::string_view data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  std::vector<natsMsg*> release;
  {
    std::lock_guard<std::mutex> g(rx_mu_);
    handle(data, wall_ms());
    spent_.push_back(msg);
    spent_bytes_ += data.size();
    if (spent_.size() >= kSpentMessagesMax || spent_bytes_ >= kSpentBytesMax) {
      release.swap(spent_);
      spent_bytes_ = 0;
    }
  }
  for (natsMsg* m : release) natsMsg_Destroy(m);
}

// The ticker's half: what the last tick left is given back (at most kTickMs late).
void NatsBus::release_spent() {
  std::vector<natsMsg*> release;
  {
    std::lock_guard<std::mutex> g(rx_mu_);
    release.swap(spent_);
    spent_bytes_ = 0;
  }
  for (natsMsg* m : release) natsMsg_Destroy(m);
}

// One decoded message, all or nothing (decode_message calls back only for a whole, valid one).
class NatsBus::Decoded final : public protocol::SyncHandler {
 public:
  Decoded(NatsBus* bus, int64_t now_ms) : bus_(bus), now_ms_(now_ms) {}
  void on_header(const protocol::SyncHeader& h) override {
    h_ = h;
    if (h.origin == bus_->origin_ && h.epoch == bus_->epoch_) {
      self_ = true;  // our own (NoEcho aside)
      return;
    }
  }
  // Each section is numbered in its own (sender, partition) space: a batch of several is
  // checked section by section, exactly as one message each would be.
  void on_section(const protocol::SyncSection& s) override {
    if (self_) return;
    apply_ = bus_->rx_.on_changes({h_.origin, h_.epoch, s.sender}, s.partition, s.seq, now_ms_,
                                  &bus_->drops_);
    if (!apply_) bump(bus_->counters_.stale_refused);
    bus_->note_returned(bus_->drops_);
    bus_->drop(bus_->drops_);  // before this section's own changes
    bus_->drops_.clear();
  }
  void on_record(const protocol::SyncRecord& r) override {
    if (apply_ && !self_) bus_->apply(r, h_.origin, now_ms_);
  }
  void on_heartbeat(protocol::SyncSeqView seqs) override {
    if (self_) return;
    last_.resize(seqs.size());
    for (size_t p = 0; p < seqs.size(); ++p) last_[p] = seqs[p];
    // Its send time in ms; a format 1 heartbeat has none (0: the arrival stands in for it).
    const auto sent_at_ms = static_cast<int64_t>(h_.sent_at_us / 1000);
    bus_->rx_.on_heartbeat({h_.origin, h_.epoch, h_.sender}, last_, now_ms_, &bus_->drops_,
                           sent_at_ms);
    bus_->note_returned(bus_->drops_);
    bus_->drop(bus_->drops_);
    bus_->drops_.clear();
  }

 private:
  NatsBus* bus_;
  int64_t now_ms_;
  protocol::SyncHeader h_;
  bool self_ = false;
  bool apply_ = false;
  std::vector<uint64_t> last_;
};

void NatsBus::handle(std::string_view data, int64_t now_ms) {
  bump(counters_.received_messages);
  drops_.clear();
  Decoded d(this, now_ms);
  const protocol::SyncError e = protocol::decode_message(data, limits_, d);
  if (e.code == protocol::SyncErrorCode::kUnknownFormat) {
    refuse_unknown_format(data, e);
  } else if (!e.ok()) {
    // Refused whole: its numbers were never counted, so the receiver sees the gap it leaves.
    bump(counters_.malformed);
    STRATA_LOG_WARN("sync: malformed message (%zu bytes) refused: %.*s", data.size(),
                    static_cast<int>(e.message.size()), e.message.data());
  } else {
    fan_out_pending();
  }
}

// A newer build's message: its prefix still says whose it is and which partition it changed,
// so that partition is dropped (its keys read through) rather than the rest guessed at. Its
// heartbeats say nothing we can read: to us that sender is silent, and trusted no longer.
void NatsBus::refuse_unknown_format(std::string_view data, const protocol::SyncError& e) {
  bump(counters_.unknown_format);
  const std::optional<protocol::SyncEnvelopeId> id = protocol::sync_peek_id(data);
  if (id && id->origin == origin_ && id->epoch == epoch_) return;
  if (id && id->kind == static_cast<uint8_t>(protocol::SyncKind::kChanges) &&
      id->partition < setup_.nats.partitions) {
    Drops d;
    d.partitions.push_back(id->partition);
    drop(d);
  }
  if (!warned_format_.exchange(true, std::memory_order_relaxed)) {
    STRATA_LOG_WARN("sync: a peer speaks a newer format; its changes drop their partitions: %.*s",
                    static_cast<int>(e.message.size()), e.message.data());
  }
}

void NatsBus::apply(const protocol::SyncRecord& r, uint64_t origin, int64_t now_ms) {
  if (r.op == protocol::SyncOp::kFlushAll) {
    Drops all;
    all.all = true;
    drop(all);
    pending_.push_back(PeerEvent{{}, {}, r.version, 0, origin, ChangeOp::kFlushAll});
    return;
  }
  const policies::SyncMode mode = policies_->sync_of(r.key);
  if (mode == policies::SyncMode::kOff) return;  // this instance does not sync the prefix
  bool trusted = true;
  if (r.version != 0) {
    const int64_t ahead = HybridClock::wall_ms_of(r.version) - clock_->wall_now_ms();
    if (ahead > static_cast<int64_t>(setup_.nats.clock_skew_max_ms)) {
      // A peer's clock runs ahead past the bound: its change still drops the key (safe), but
      // it must not drag our clock, nor install a value whose version would outrank ours.
      trusted = false;
      bump(counters_.skewed);
    } else {
      clock_->observe(r.version);  // our next writes order after what we heard
      note_lag(r.key, now_ms - HybridClock::wall_ms_of(r.version));
    }
  }
  std::string key(r.key);
  // Version-monotone: an event older than one already seen for the key changes nothing (a
  // late event must never put an older value back). Only update mode keeps the table: in
  // invalidate mode an event only drops the key, which a late one may do again harmlessly.
  if (mode == policies::SyncMode::kUpdate && r.version != 0) {
    uint64_t& seen = seen_[key];
    if (r.version <= seen) {
      bump(counters_.stale_refused);
      return;
    }
    seen = r.version;
    if (seen_.size() > kSeenMax) {  // forget the table; older events are refused from now on
      for (const auto& [k, v] : seen_) forgotten_below_ = std::max(forgotten_below_, v);
      seen_.clear();
    }
  }
  // Older than what the table forgot, or than a drop (a reconnect replays what nats.c held
  // during the outage): nothing vouches it is still the newest, so it only drops the key.
  if (r.version != 0 && r.version <= forgotten_below_) trusted = false;
  bool installed = false;
  // A versioned value from a trusted, newest event: the key's value now, wherever it is
  // installed or not (L1 may drop it instead, below). The seam's consumers get it as a set
  // (WebSocket subscribers need the value, not a re-read that may skip it).
  const bool newest_value = mode == policies::SyncMode::kUpdate &&
                            r.op == protocol::SyncOp::kSet && r.value && r.version != 0 &&
                            trusted;
  // Only a versioned value is installed (a PostgreSQL-backed prefix's, whose version orders it
  // everywhere); a forwarded write's has no version to order it against a late one.
  if (mode == policies::SyncMode::kUpdate && r.op == protocol::SyncOp::kSet && r.value &&
      r.version != 0 && trusted) {
    // Installed only where L1 has nothing: a local value may be newer, and L1 keeps no
    // version to compare with, so it is dropped instead and the next read finds the newest.
    auto txn = store_->lock(key);
    cache::EntryView v;
    if (!txn->find(key, &v)) {
      installed = txn->set(key, *r.value, r.expire_at_ms.value_or(0)) != 0;
    }
  }
  if (installed) {
    bump(counters_.installed_values);
  } else {
    store_->invalidate(key);
  }
  bump(counters_.applied_events);
  PeerEvent e;
  e.key = std::move(key);
  if (newest_value) e.value.assign(*r.value);
  e.version = r.version;
  e.expire_at_ms = r.expire_at_ms.value_or(0);
  e.origin = origin;
  e.op = newest_value ? ChangeOp::kSet : op_of(r.op) == ChangeOp::kSet ? ChangeOp::kInvalidate
                                                                        : op_of(r.op);
  pending_.push_back(std::move(e));
}

// One message's events go to every worker's inbox at once (one lock each). The worker is not
// woken for them: it takes its inbox at the start of every loop iteration, so a busy worker
// sees them before the next request it reads, and the ticker wakes an idle one within kTickMs
// (its seam's peer events feed counters and fence its fills, and a fill in flight means the
// worker is waiting on an upstream reply that wakes it). Only an inbox filling up wakes its
// worker at once. A wake per message cost each worker a context switch per change.
void NatsBus::fan_out_pending() {
  if (pending_.empty()) return;
  const size_t n = pending_.size();
  for (size_t i = 0; i < inboxes_.size(); ++i) {
    Inbox& in = *inboxes_[i];
    bool wake = false;
    {
      std::lock_guard<std::mutex> g(in.mu);
      const size_t room = setup_.nats.queue_max - std::min<size_t>(in.events.size(),
                                                                     setup_.nats.queue_max);
      const size_t take = std::min(n, room);
      if (take < n) bump(counters_.inbox_dropped, n - take);
      if (i + 1 == inboxes_.size()) {
        std::move(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(take),
                  std::back_inserter(in.events));
      } else {
        in.events.insert(in.events.end(), pending_.begin(),
                         pending_.begin() + static_cast<ptrdiff_t>(take));
      }
      in.waiting.store(in.events.size(), std::memory_order_release);
      wake = in.events.size() >= inbox_wake_events_ && !in.woken;
      if (wake) in.woken = true;
    }
    if (wake && in.loop != nullptr) in.loop->wake();
  }
  pending_.clear();
}

// The ticker's half of the above: a worker that has not taken its inbox since the last tick is
// idle (or blocked); wake it.
void NatsBus::wake_idle_workers() {
  for (const std::unique_ptr<Inbox>& p : inboxes_) {
    Inbox& in = *p;
    if (in.waiting.load(std::memory_order_acquire) == 0) continue;
    bool wake = false;
    {
      std::lock_guard<std::mutex> g(in.mu);
      wake = !in.events.empty() && !in.woken;
      if (wake) in.woken = true;
    }
    if (wake && in.loop != nullptr) in.loop->wake();
  }
}

void NatsBus::drop(const Drops& d) {
  if (d.empty()) return;
  // Changes older than now may still arrive (late, or replayed after a reconnect): from here
  // on they drop keys but install nothing.
  forgotten_below_ = std::max(forgotten_below_,
                              static_cast<uint64_t>(clock_->wall_now_ms()) << HybridClock::kWallShift);
  // Only synced keys are dropped: the others never depended on the bus.
  std::vector<std::string> keys;
  uint64_t cursor = 0;
  uint64_t dropped = 0;
  do {
    keys.clear();
    cursor = store_->scan_keys(cursor, kDropScanKeys, &keys);
    for (const std::string& k : keys) {
      if (!d.all && std::find(d.partitions.begin(), d.partitions.end(), partition_of(k)) ==
                        d.partitions.end()) {
        continue;
      }
      if (policies_->sync_of(k) == policies::SyncMode::kOff) continue;
      store_->invalidate(k);
      ++dropped;
    }
  } while (cursor != 0);
  bump(counters_.keys_dropped, dropped);
  // Update mode's version table is no help across a loss: start it over.
  seen_.clear();
}

// A peer back from silence replays what nats.c held for it during its outage: those changes
// may be older than what happened here since, so they drop keys but install nothing.
void NatsBus::note_returned(const Drops& d) {
  if (!d.returned) return;
  forgotten_below_ = std::max(forgotten_below_, static_cast<uint64_t>(clock_->wall_now_ms())
                                                    << HybridClock::kWallShift);
}

void NatsBus::note_lag(std::string_view key, int64_t lag_ms) {
  int b = 0;
  while (b + 1 < kLagBuckets && (int64_t{1} << b) <= lag_ms) ++b;
  ++lag_buckets_[static_cast<size_t>(b)];
  const std::string_view prefix = policies_->prefix_of(key);
  auto it = lag_by_prefix_.find(prefix);
  if (it == lag_by_prefix_.end()) {
    it = lag_by_prefix_.emplace(std::string(prefix), std::vector<uint64_t>(kLagBuckets, 0)).first;
  }
  ++it->second[static_cast<size_t>(b)];
}

namespace {
// The upper bound (ms) of the log2 bucket holding quantile q; 0 with no samples.
int64_t bucket_quantile(const std::vector<uint64_t>& buckets, double q) {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  if (total == 0) return 0;
  const auto want = static_cast<uint64_t>(q * static_cast<double>(total));
  uint64_t acc = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    acc += buckets[b];
    if (acc > want) return int64_t{1} << b;
  }
  return int64_t{1} << (buckets.size() - 1);
}
}  // namespace

// ---- connection state (nats.c's threads) and the ticker ----

void NatsBus::on_disconnected(natsConnection*, void* self) {
  static_cast<NatsBus*>(self)->set_connected(false, wall_ms());
}

void NatsBus::on_reconnected(natsConnection*, void* self) {
  auto* bus = static_cast<NatsBus*>(self);
  {
    // Whatever was published while we were away is lost to us.
    std::lock_guard<std::mutex> g(bus->rx_mu_);
    bus->drops_.clear();
    bus->rx_.on_reconnect(&bus->drops_);
    bus->drop(bus->drops_);
  }
  bus->set_connected(true, wall_ms());
}

void NatsBus::on_error(natsConnection*, natsSubscription*, natsStatus err, void* /*self*/) {
  if (err != NATS_SLOW_CONSUMER) return;
  // Messages were dropped before we saw them: the ticker counts them and drops what they
  // might have changed.
  STRATA_LOG_WARN("sync: slow consumer: NATS dropped messages");
}

void NatsBus::set_connected(bool up, int64_t now_ms) {
  connected_.store(up, std::memory_order_relaxed);
  if (up) {
    down_since_ms_.store(0, std::memory_order_relaxed);
    if (status_->degraded.exchange(false, std::memory_order_relaxed)) {
      STRATA_LOG_INFO("sync: NATS connected; synced prefixes use L1");
    }
  } else if (down_since_ms_.load(std::memory_order_relaxed) == 0) {
    down_since_ms_.store(now_ms, std::memory_order_relaxed);
    STRATA_LOG_WARN("sync: NATS connection lost; synced prefixes keep L1 for %u ms",
                    setup_.nats.max_staleness_ms);
  }
}

void NatsBus::refresh_server_url() {
  char url[256] = {};
  if (conn_ == nullptr || natsConnection_GetConnectedUrl(conn_, url, sizeof url) != NATS_OK) {
    url[0] = 0;
  }
  std::lock_guard<std::mutex> g(url_mu_);
  server_url_ = url;
}

void NatsBus::ticker() {
  std::unique_lock<std::mutex> lk(tick_mu_);
  while (!stopping_) {
    tick_cv_.wait_for(lk, std::chrono::milliseconds(kTickMs));
    if (stopping_) break;
    release_spent();
    const int64_t now = wall_ms();
    const int64_t down = down_since_ms_.load(std::memory_order_relaxed);
    if (down != 0 && now - down > setup_.nats.max_staleness_ms &&
        !status_->degraded.exchange(true, std::memory_order_relaxed)) {
      bump(counters_.degraded_episodes);
      STRATA_LOG_WARN("sync: NATS away for %lld ms: synced prefixes read through until it is back",
                      static_cast<long long>(now - down));
      std::lock_guard<std::mutex> g(rx_mu_);
      Drops all;
      all.all = true;
      drop(all);
    }
    refresh_server_url();
    std::lock_guard<std::mutex> g(rx_mu_);
    drops_.clear();
    rx_.on_tick(now, &drops_);
    // A peer whose horizon is too old (silent, or its link slow) or too far ahead (clocks)
    // cannot vouch for L1: synced keys skip it here until the peer's heartbeats are young again
    // (see sync_receiver.h). A silent one gone past its own isolation bound drops everything.
    const bool trusted = rx_.on_tick(now, &drops_);
    if (status_->peer_guard.exchange(!trusted, std::memory_order_relaxed) == trusted &&
        !trusted) {
      bump(counters_.peer_guard_episodes);
    }
    if (sub_ != nullptr) {
      int64_t dropped = 0;
      if (natsSubscription_GetDropped(sub_, &dropped) == NATS_OK &&
          static_cast<uint64_t>(dropped) > last_nats_dropped_) {
        bump(counters_.nats_dropped, static_cast<uint64_t>(dropped) - last_nats_dropped_);
        last_nats_dropped_ = static_cast<uint64_t>(dropped);
        drops_.all = true;  // which partitions they were for is unknown
      }
    }
    if (!drops_.empty()) drop(drops_);
    fan_out_pending();  // a flushall's events, should a drop have made any
    wake_idle_workers();
  }
}

std::string NatsBus::info_lines() const {
  auto rd = [](const std::atomic<uint64_t>& a) {
    return std::to_string(a.load(std::memory_order_relaxed));
  };
  std::string out;
  out += "sync_instance:" + setup_.instance + "\r\n";
  char buf[64];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(epoch_));
  out += "sync_epoch:" + std::string(buf) + "\r\n";
  out += "sync_connected:" + std::string(connected() ? "1" : "0") + "\r\n";
  {
    // Cached by the ticker: asking nats.c here would wait on its connection lock, held while
    // it reconnects, on a worker thread.
    std::lock_guard<std::mutex> g(url_mu_);
    out += "sync_server:" + server_url_ + "\r\n";
  }
  out += "sync_peer_guard:" + std::string(status_->peer_guard.load() ? "1" : "0") + "\r\n";
  out += "sync_degraded:" + std::string(status_->degraded.load() ? "1" : "0") + "\r\n";
  const std::pair<const char*, const std::atomic<uint64_t>*> counters[] = {
      {"published_messages", &counters_.published_messages},
      {"published_batches", &counters_.published_batches},
      {"published_sections", &counters_.published_sections},
      {"published_events", &counters_.published_events},
      {"publish_failures", &counters_.publish_failures},
      {"received_messages", &counters_.received_messages},
      {"applied_events", &counters_.applied_events},
      {"installed_values", &counters_.installed_values},
      {"stale_refused", &counters_.stale_refused},
      {"skewed", &counters_.skewed},
      {"malformed", &counters_.malformed},
      {"nats_dropped", &counters_.nats_dropped},
      {"inbox_dropped", &counters_.inbox_dropped},
      {"keys_dropped", &counters_.keys_dropped},
      {"degraded_episodes", &counters_.degraded_episodes},
      {"outbox_dropped", &counters_.outbox_dropped},
      {"peer_guard_episodes", &counters_.peer_guard_episodes},
      {"unknown_format", &counters_.unknown_format},
  };
  for (const auto& [name, counter] : counters) {
    out += "sync_" + std::string(name) + ":" + rd(*counter) + "\r\n";
  }
  std::lock_guard<std::mutex> g(rx_mu_);
  const SyncReceiverStats& s = rx_.stats();
  out += "sync_gaps:" + std::to_string(s.gaps) + "\r\nsync_duplicates:" +
         std::to_string(s.duplicates) + "\r\nsync_new_epochs:" + std::to_string(s.new_epochs) +
         "\r\nsync_silences:" + std::to_string(s.silences) + "\r\nsync_long_silences:" +
         std::to_string(s.long_silences) + "\r\nsync_slow_links:" + std::to_string(s.slow_links) +
         "\r\nsync_skewed_links:" + std::to_string(s.skewed_links) + "\r\nsync_untrusted:" +
         std::to_string(s.untrusted) + "\r\nsync_trust_restored:" +
         std::to_string(s.trust_restored) + "\r\nsync_reconnects:" +
         std::to_string(s.reconnects) + "\r\nsync_partition_drops:" +
         std::to_string(s.partition_drops) + "\r\n";
  // Apply lag (write's version time to applied here), as upper bounds of log2 ms buckets.
  out += "sync_lag_ms_p50_le:" + std::to_string(bucket_quantile(lag_buckets_, 0.5)) +
         "\r\nsync_lag_ms_p99_le:" + std::to_string(bucket_quantile(lag_buckets_, 0.99)) +
         "\r\n";
  size_t n = 0;
  for (const auto& [prefix, buckets] : lag_by_prefix_) {
    out += "sync_lag_" + std::to_string(n++) + ":prefix=" + prefix +
           ",p50_le_ms=" + std::to_string(bucket_quantile(buckets, 0.5)) +
           ",p99_le_ms=" + std::to_string(bucket_quantile(buckets, 0.99)) + "\r\n";
  }
  size_t i = 0;
  const int64_t now = wall_ms();
  for (const SyncReceiver::Peer& p : rx_.peers()) {
    snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(p.id.epoch));
    out += "sync_peer_" + std::to_string(i++) + ":origin=" + std::to_string(p.id.origin) +
           ",epoch=" + buf + ",sender=" + std::to_string(p.id.sender) +
           ",last_seen_ms=" + std::to_string(p.last_seen_ms) + ",silent=" + (p.silent ? "1" : "0") +
           ",age_ms=" + std::to_string(now - p.horizon_ms) + ",delay_ms=" +
           std::to_string(p.delay_ms) + ",trusted=" + (p.trusted ? "1" : "0") +
           ",gone=" + (p.gone ? "1" : "0") + "\r\n";
  }
  return out;
}

}  // namespace strata::proxy
