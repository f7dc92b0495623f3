// Incremental RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline commands.
// Pure: no I/O, no clocks, no globals. Limits are constructor arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::protocol {

struct ParserLimits {
  size_t bulk_bytes_max = 512ull * 1024 * 1024;  // Redis proto-max-bulk-len
  size_t multibulk_count_max = 1024 * 1024;      // Redis caps at 1024*1024 args
  size_t inline_bytes_max = 64 * 1024;           // Redis PROTO_INLINE_MAX_SIZE
};

enum class ParseStatus : uint8_t {
  kDone,      // one whole command parsed; args() is valid, consumed() bytes used
  kNeedMore,  // input ends inside a command; call again with the same prefix plus more bytes
  kEmpty,     // input held only a bare "\r\n" or an empty inline line; consumed() bytes skipped
  kError,     // protocol error; error() says what, in Redis's words; the connection must close
};

// Usage: the caller keeps the unconsumed bytes of the current command contiguous and always
// passes them from the start of that command. The parser remembers how far it scanned, so
// feeding one byte at a time costs O(total bytes), not O(n^2).
class RespParser {
 public:
  explicit RespParser(ParserLimits limits = {});

  ParseStatus feed(std::string_view input);

  // Valid after kDone until the input buffer is changed or feed() is called again.
  std::span<const std::string_view> args() const { return args_; }
  size_t consumed() const { return consumed_; }
  // After kError: the text after "-ERR ", e.g. "Protocol error: invalid bulk length".
  std::string_view error() const { return error_; }
  // Bytes the parser expects the current command to need at least (for carry-buffer sizing).
  size_t bytes_needed_hint() const { return need_hint_; }

  void reset();

 private:
  ParseStatus parse_multibulk(std::string_view input);
  ParseStatus parse_inline(std::string_view input);
  ParseStatus fail(std::string_view message);

  ParserLimits limits_;
  // Resume state for the command being parsed (offsets from the start of the command).
  size_t pos_ = 0;
  int64_t argc_expected_ = -1;
  int64_t bulk_len_ = -1;
  std::vector<std::pair<uint32_t, uint32_t>> offsets_;  // begin, length per finished arg
  std::vector<std::string_view> args_;
  std::vector<std::string_view> inline_scratch_;
  std::string inline_storage_;  // unquoted inline args (quotes/escapes need a copy)
  size_t consumed_ = 0;
  size_t need_hint_ = 0;
  std::string_view error_;
};

}  // namespace strata::protocol
