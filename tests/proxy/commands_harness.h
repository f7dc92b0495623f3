// Drives native command handlers directly: a Store on an injected clock, one client's state
// and a ReplyWriter into a string, so tests can assert the exact reply bytes.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "cache/clock.h"
#include "cache/store.h"
#include "protocol/reply_writer.h"
#include "proxy/commands/command.h"

namespace strata::proxy::testing {

class CommandHarness {
 public:
  explicit CommandHarness(const cache::Clock* clock, cache::StoreConfig config = {})
      : store_(config, clock) {
    client_.id = 7;
    client_.addr = "127.0.0.1:50000";
    client_.laddr = "127.0.0.1:6380";
  }

  // Runs one command line as the dispatcher would for a native command and returns the reply.
  std::string run(const std::vector<std::string>& line) {
    std::vector<std::string_view> args(line.begin(), line.end());
    buffer_.clear();
    protocol::ReplyWriter out(&buffer_, client_.resp_version);
    CommandContext ctx{&store_, &out, &client_, &server_};
    const CommandSpec* spec = find_command(args[0]);
    if (spec == nullptr || spec->native == nullptr) {
      reply_unknown_command(out, args);
    } else {
      run_native(*spec, ctx, args);
    }
    return buffer_;
  }
  std::string run(std::initializer_list<std::string> line) {
    return run(std::vector<std::string>(line));
  }

  cache::Store& store() { return store_; }
  ClientState& client() { return client_; }
  ServerView& server() { return server_; }

 private:
  cache::Store store_;
  ClientState client_;
  ServerView server_;
  std::string buffer_;
};

}  // namespace strata::proxy::testing
