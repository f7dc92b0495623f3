// One worker's side of the bus: a subscriber of its change seam that batches the changes of
// synced prefixes per partition during a loop iteration and hands them to the bus at its end,
// one section (a format 3 message of one section) per partition touched, each numbered
// gaplessly in this worker's sequence for that partition -- the bus's sender joins what every
// worker queued into one NATS message; and a heartbeat every heartbeat_ms with its last number
// per partition. It also hands peers' changes (from the bus's inbox) to the worker's seam.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/sync_event.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/nats_bus.h"
#include "proxy/sync/sync_state.h"

namespace strata::proxy {

class SyncPublisher final : public ChangeSubscriber {
 public:
  // forget: called with each key a peer changed, before its event is published on the seam
  // (the worker fences its fills in flight for it).
  using ForgetFn = void (*)(void* ctx, std::string_view key);

  SyncPublisher(NatsBus* bus, uint16_t sender, ChangeSeam* seam, const SyncPolicies* policies);
  ~SyncPublisher();

  void set_forget(ForgetFn fn, void* ctx) {
    forget_ = fn;
    forget_ctx_ = ctx;
  }
  // ChangeSubscriber: this worker's own changes.
  void on_change(const ChangeEvent& e) override;
  // End of a loop iteration: publish what was batched.
  void flush();
  // Every tick: the heartbeat when due.
  void on_tick(int64_t now_ms);
  // The worker was woken: peers' changes waiting in the inbox go to the seam.
  void deliver_peer_events();

 private:
  void add(uint32_t partition, protocol::SyncRecord r);
  void flush_partition(uint32_t p);

  NatsBus* bus_;
  uint16_t sender_;
  ChangeSeam* seam_;
  const SyncPolicies* policies_;
  std::vector<std::string> batches_;  // per partition: the message under construction
  std::vector<protocol::SyncEncoder> encoders_;  // one per batch (they point into batches_)
  std::vector<uint64_t> seq_;         // last number given per partition
  std::vector<uint32_t> dirty_;       // partitions with a batch
  std::string scratch_;
  int64_t last_heartbeat_ms_ = 0;
  std::vector<PeerEvent> peer_;       // scratch
  ForgetFn forget_ = nullptr;
  void* forget_ctx_ = nullptr;
};

}  // namespace strata::proxy
