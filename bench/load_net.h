// Blocking TCP connect for the load generator's data and INFO connections.
#pragma once

#include <string>

#include "bench/load_options.h"

namespace strata::bench {

// Returns a connected socket with TCP_NODELAY (and send/receive timeouts when io_timeout_s > 0),
// or -1 with `error` set. Tries every address the host resolves to (e.g. ::1 then 127.0.0.1).
int connect_tcp(const Target& target, int io_timeout_s, std::string& error);

// Sends HELLO 3 on a connected blocking socket and waits for its reply: true once the server
// answered with anything but an error (false with `error` set).
bool hello3(int fd, std::string& error);
// Sends one command (RESP bytes) on a fresh connection and waits for its reply; false with
// *error (naming `what`) when it fails or is refused.
bool setup_command(int fd, std::string_view request, std::string_view what, std::string& error);

}  // namespace strata::bench
