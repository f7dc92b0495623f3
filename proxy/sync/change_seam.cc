#include "proxy/sync/change_seam.h"

#include <algorithm>

namespace strata::proxy {
namespace {
thread_local ChangeSeam* t_seam = nullptr;
}  // namespace

std::string_view change_op_name(ChangeOp op) {
  switch (op) {
    case ChangeOp::kSet: return "set";
    case ChangeOp::kDelete: return "delete";
    case ChangeOp::kInvalidate: return "invalidate";
    case ChangeOp::kFlushAll: return "flushall";
    case ChangeOp::kExpire: return "expire";
    case ChangeOp::kEvict: return "evict";
  }
  return "?";
}

std::string_view change_source_name(ChangeSource s) {
  switch (s) {
    case ChangeSource::kStrategy: return "strategy";
    case ChangeSource::kForwarded: return "forwarded";
    case ChangeSource::kNative: return "native";
    case ChangeSource::kTracking: return "tracking";
    case ChangeSource::kStore: return "store";
    case ChangeSource::kPeer: return "peer";
    case ChangeSource::kChangefeed: return "changefeed";
  }
  return "?";
}

bool ChangeSeam::subscribe(ChangeSubscriber* s) {
  if (subscribers_.size() >= kSubscribersMax) return false;
  if (std::find(subscribers_.begin(), subscribers_.end(), s) == subscribers_.end()) {
    subscribers_.push_back(s);
  }
  return true;
}

void ChangeSeam::unsubscribe(ChangeSubscriber* s) { std::erase(subscribers_, s); }

ChangeSeam* thread_seam() { return t_seam; }
void set_thread_seam(ChangeSeam* seam) { t_seam = seam; }

}  // namespace strata::proxy
