// strata-bench ws: WebSocket fan-out latency and CPU per delivery, and memory per idle
// connection (ws_fanout.cc).
#pragma once

namespace strata::bench {

int run_ws(int argc, char** argv);

}  // namespace strata::bench
