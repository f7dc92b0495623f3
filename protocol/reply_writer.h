// Composes RESP2/RESP3 replies into a byte buffer. The same call produces the bytes Redis 7.0
// would send for the connection's protocol version (e.g. null is "$-1" in RESP2, "_" in RESP3).
// Appends only; never clears the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::protocol {

class ReplyWriter {
 public:
  explicit ReplyWriter(std::string* out, int resp_version = 2) : out_(out), resp_(resp_version) {}

  void set_resp_version(int v) { resp_ = v; }
  int resp_version() const { return resp_; }
  std::string* buffer() { return out_; }

  void simple(std::string_view s);           // +OK
  void error(std::string_view msg);          // "-" + msg; msg includes the code, e.g. "ERR ..."
  void integer(int64_t v);                   // :42
  void bulk(std::string_view s);             // $3\r\nfoo
  void null_bulk();                          // RESP2 $-1, RESP3 _
  void null_array();                         // RESP2 *-1, RESP3 _
  void array_header(size_t n);               // *n
  void map_header(size_t pairs);             // RESP3 %n, RESP2 *2n
  void set_header(size_t n);                 // RESP3 ~n, RESP2 *n
  void push_header(size_t n);                // RESP3 >n, RESP2 *n
  void attribute_header(size_t pairs);       // RESP3 |n (RESP2: nothing is written)
  void dbl(double v);                        // RESP3 ,v  RESP2 bulk in Redis's %.17g style
  void boolean(bool v);                      // RESP3 #t/#f, RESP2 :1/:0
  void big_number(std::string_view digits);  // RESP3 (n, RESP2 bulk
  void verbatim(std::string_view fmt3, std::string_view text);  // RESP3 =, RESP2 bulk
  void ok() { simple("OK"); }

  // For sending a large value without copying it: bulk_header(n), the n bytes by other
  // means, then crlf(). bulk(s) == bulk_header(s.size()) + s + crlf().
  void bulk_header(size_t length);  // $n\r\n
  void crlf();
  // Exact size of bulk(s) for s.size() == length, for reserving buffers.
  static size_t bulk_size(size_t length);

 private:
  void line(char prefix, int64_t v);
  void count_line(char prefix, size_t n);
  void text_line(char prefix, std::string_view s);

  std::string* out_;
  int resp_;
};

}  // namespace strata::protocol
