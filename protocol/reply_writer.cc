#include "protocol/reply_writer.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "protocol/resp_numbers.h"

namespace strata::protocol {
namespace {

// prefix + sign + 20 digits + "\r\n" fits with room to spare.
constexpr size_t kLineBufferBytes = 32;
// "%.17g" of any double is at most 24 characters ("-1.2345678901234567e-308").
constexpr size_t kDoubleBufferBytes = 64;

size_t decimal_digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// "<prefix>[-]<digits>\r\n" in one append, without snprintf.
void append_number_line(std::string* out, char prefix, uint64_t magnitude, bool negative) {
  char buf[kLineBufferBytes];
  char* end = buf + sizeof(buf);
  end[-2] = '\r';
  end[-1] = '\n';
  char* start = detail::format_u64(magnitude, end - 2);
  if (negative) *--start = '-';
  *--start = prefix;
  out->append(start, static_cast<size_t>(end - start));
}

}  // namespace

void ReplyWriter::line(char prefix, int64_t v) {
  if (v >= 0) {
    append_number_line(out_, prefix, static_cast<uint64_t>(v), false);
  } else {
    append_number_line(out_, prefix, 0 - static_cast<uint64_t>(v), true);
  }
}

void ReplyWriter::count_line(char prefix, size_t n) { append_number_line(out_, prefix, n, false); }

// A stray CR or LF inside a status or error line would desynchronise the client, so they
// become spaces (what Redis's addReplyErrorFormat does).
void ReplyWriter::text_line(char prefix, std::string_view s) {
  const size_t at = out_->size();
  out_->push_back(prefix);
  out_->append(s);
  char* p = out_->data() + at + 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (p[i] == '\r' || p[i] == '\n') p[i] = ' ';
  }
  out_->append("\r\n", 2);
}

void ReplyWriter::simple(std::string_view s) { text_line('+', s); }

void ReplyWriter::error(std::string_view msg) { text_line('-', msg); }

void ReplyWriter::integer(int64_t v) { line(':', v); }

void ReplyWriter::bulk_header(size_t length) { count_line('$', length); }

void ReplyWriter::crlf() { out_->append("\r\n", 2); }

size_t ReplyWriter::bulk_size(size_t length) { return 1 + decimal_digits(length) + 2 + length + 2; }

void ReplyWriter::bulk(std::string_view s) {
  bulk_header(s.size());
  out_->append(s);
  crlf();
}

void ReplyWriter::null_bulk() {
  if (resp_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyWriter::null_array() {
  if (resp_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyWriter::array_header(size_t n) { count_line('*', n); }

void ReplyWriter::map_header(size_t pairs) {
  if (resp_ >= 3) {
    count_line('%', pairs);
  } else {
    count_line('*', pairs * 2);
  }
}

void ReplyWriter::set_header(size_t n) { count_line(resp_ >= 3 ? '~' : '*', n); }

void ReplyWriter::push_header(size_t n) { count_line(resp_ >= 3 ? '>' : '*', n); }

// Redis asserts on attributes for RESP2 clients; writing nothing keeps the stream valid.
void ReplyWriter::attribute_header(size_t pairs) {
  if (resp_ >= 3) count_line('|', pairs);
}

// Redis 7.0 addReplyDouble: infinities spelled out explicitly, everything else "%.17g".
void ReplyWriter::dbl(double v) {
  if (std::isinf(v)) {
    if (resp_ >= 3) {
      out_->append(v > 0 ? ",inf\r\n" : ",-inf\r\n");
    } else {
      bulk(v > 0 ? "inf" : "-inf");
    }
    return;
  }
  char buf[kDoubleBufferBytes];
  const int n = std::snprintf(buf, sizeof(buf), "%.17g", v);
  const std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (resp_ >= 3) {
    out_->push_back(',');
    out_->append(text);
    crlf();
  } else {
    bulk(text);
  }
}

void ReplyWriter::boolean(bool v) {
  if (resp_ >= 3) {
    out_->append(v ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(v ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::big_number(std::string_view digits) {
  if (resp_ >= 3) {
    out_->push_back('(');
    out_->append(digits);
    crlf();
  } else {
    bulk(digits);
  }
}

// Redis 7.0 addReplyVerbatim: "=<len+4>\r\nfmt:text\r\n"; the format is padded with spaces or
// cut to three characters.
void ReplyWriter::verbatim(std::string_view fmt3, std::string_view text) {
  if (resp_ < 3) {
    bulk(text);
    return;
  }
  count_line('=', text.size() + 4);
  char fmt[4] = {' ', ' ', ' ', ':'};
  std::memcpy(fmt, fmt3.data(), fmt3.size() < 3 ? fmt3.size() : 3);
  out_->append(fmt, 4);
  out_->append(text);
  crlf();
}

}  // namespace strata::protocol
