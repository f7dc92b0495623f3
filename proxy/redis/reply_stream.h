// Splits the byte stream of an upstream connection into whole RESP replies; a partial reply
// waits in a carry buffer until the rest arrives.
#pragma once

#include <string>
#include <string_view>

#include "protocol/reply_scanner.h"

namespace strata::proxy {

class ReplyStream {
 public:
  // Calls on_reply(raw, scanner) for each whole reply, in order, while it returns true.
  // Returns false on a protocol error (the connection must close).
  template <class Fn>
  bool feed(std::string_view data, Fn&& on_reply) {
    std::string_view input = data;
    if (!carry_.empty()) {
      carry_.append(data);
      input = carry_;
    }
    size_t used = 0;
    while (used < input.size()) {
      const protocol::ScanStatus st = scanner_.feed(input.substr(used));
      if (st == protocol::ScanStatus::kNeedMore) break;
      if (st == protocol::ScanStatus::kError) return false;
      const std::string_view raw = input.substr(used, scanner_.consumed());
      used += raw.size();
      const bool go_on = on_reply(raw, scanner_);
      scanner_.reset();
      if (!go_on) return true;
    }
    if (input.data() == carry_.data()) {
      carry_.erase(0, used);
    } else {
      carry_.assign(input.substr(used));
    }
    return true;
  }

 private:
  std::string carry_;
  protocol::ReplyScanner scanner_;
};

}  // namespace strata::proxy
