// strata: a Redis-compatible cache proxy. See README.md.
#include <cstdio>

#include "proxy/loop/log.h"
#include "proxy/server/options.h"
#include "proxy/server/server.h"

int main(int argc, char** argv) {
  using namespace strata::proxy;
  Options options;
  std::string message;
  switch (parse_options(argc, argv, &options, &message)) {
    case ParseOutcome::kExit:
      std::fputs(message.c_str(), stdout);
      return 0;
    case ParseOutcome::kError:
      std::fprintf(stderr, "strata: %s\n", message.c_str());
      return 1;  // as redis-server on a bad flag or config file
    case ParseOutcome::kRun:
      break;
  }
  Server server(options);
  std::string err;
  if (!server.start(&err)) {
    std::fprintf(stderr, "strata: %s\n", err.c_str());
    return 1;
  }
  server.wait_for_signal();
  server.stop();
  STRATA_LOG_INFO("bye");
  return 0;
}
