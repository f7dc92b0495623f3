// Incremental RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline commands.
// Pure: no I/O, no clocks, no globals. Limits are constructor arguments.
// Behaves as Redis 7.0's processMultibulkBuffer / processInlineBuffer, including its error texts.
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
  // Redis 7.0 accepts multibulk counts up to INT_MAX (6.x capped at 1024*1024); memory stays
  // bounded because argument slots grow with the bytes actually received.
  size_t multibulk_count_max = 2147483647;
  size_t inline_bytes_max = 64 * 1024;  // Redis PROTO_INLINE_MAX_SIZE (also caps count lines)
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
// After kDone / kEmpty the next feed() starts a new command. After kError every feed() returns
// kError until reset().
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
  // True when the command being parsed is inline (meaningful after the first byte was fed).
  bool is_inline() const { return mode_ == Mode::kInline; }

  void reset();

 private:
  enum class Mode : uint8_t { kUnknown, kMultibulk, kInline };
  // Where a line terminator search stands; a NUL byte ends Redis's strchr() for good.
  enum class LineScan : uint8_t { kFound, kMissing, kBlocked };
  struct InlinePiece {
    bool owned;  // true: bytes live in inline_storage_; false: a view of the input
    size_t begin;
    size_t length;
  };

  ParseStatus parse_multibulk(std::string_view input);
  bool parse_whole_multibulk(std::string_view input);
  ParseStatus find_count_line(std::string_view input, std::string_view too_big, size_t* cr);
  ParseStatus parse_inline(std::string_view input);
  bool split_inline(std::string_view input, size_t line_length);
  size_t split_quoted(std::string_view line, size_t p);
  LineScan find_byte(std::string_view input, char wanted, size_t* at);
  ParseStatus finish(ParseStatus status, size_t consumed);
  ParseStatus fail(std::string_view message);

  ParserLimits limits_;
  Mode mode_ = Mode::kUnknown;
  bool failed_ = false;
  // Resume state for the command being parsed (offsets from the start of the command).
  size_t pos_ = 0;   // start of the next header or argument
  size_t scan_ = 0;  // terminator search resumes here
  bool scan_blocked_ = false;
  int64_t argc_expected_ = -1;
  int64_t bulk_len_ = -1;
  std::vector<std::pair<size_t, size_t>> offsets_;  // begin, length per finished arg
  std::vector<std::string_view> args_;
  std::vector<InlinePiece> inline_pieces_;
  std::string inline_storage_;  // unquoted inline args (quotes/escapes need a copy)
  size_t consumed_ = 0;
  size_t need_hint_ = 0;
  std::string_view error_;
};

}  // namespace strata::protocol
