// Minimal logging: one line to stderr with a level and a timestamp. Start-up and rare events
// only; never per request.
#pragma once

#include <cstdio>

namespace strata::proxy {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
void log_line(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define STRATA_LOG_INFO(...) \
  ::strata::proxy::log_line(::strata::proxy::LogLevel::kInfo, __VA_ARGS__)
#define STRATA_LOG_WARN(...) \
  ::strata::proxy::log_line(::strata::proxy::LogLevel::kWarn, __VA_ARGS__)
#define STRATA_LOG_ERROR(...) \
  ::strata::proxy::log_line(::strata::proxy::LogLevel::kError, __VA_ARGS__)

// Always-on cheap assert for programmer errors (never for bytes from the network).
#define STRATA_ASSERT(cond)                                                 \
  do {                                                                      \
    if (!(cond)) ::strata::proxy::assert_failed(#cond, __FILE__, __LINE__); \
  } while (0)
[[noreturn]] void assert_failed(const char* expr, const char* file, int line);

}  // namespace strata::proxy
