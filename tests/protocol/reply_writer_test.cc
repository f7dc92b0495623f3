#include "protocol/reply_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace strata::protocol {
namespace {

template <typename F>
std::string write(int resp, F&& f) {
  std::string out;
  ReplyWriter w(&out, resp);
  f(w);
  return out;
}

// Each case: the same call, what Redis 7.0 sends to a RESP2 client and to a RESP3 client.
template <typename F>
void expect_bytes(F&& f, std::string_view resp2, std::string_view resp3) {
  EXPECT_EQ(write(2, f), resp2);
  EXPECT_EQ(write(3, f), resp3);
}

TEST(ReplyWriter, Scalars) {
  expect_bytes([](ReplyWriter& w) { w.ok(); }, "+OK\r\n", "+OK\r\n");
  expect_bytes([](ReplyWriter& w) { w.simple("PONG"); }, "+PONG\r\n", "+PONG\r\n");
  expect_bytes([](ReplyWriter& w) { w.error("ERR wrong"); }, "-ERR wrong\r\n", "-ERR wrong\r\n");
  expect_bytes([](ReplyWriter& w) { w.bulk("foo"); }, "$3\r\nfoo\r\n", "$3\r\nfoo\r\n");
  expect_bytes([](ReplyWriter& w) { w.bulk(""); }, "$0\r\n\r\n", "$0\r\n\r\n");
  expect_bytes([](ReplyWriter& w) { w.null_bulk(); }, "$-1\r\n", "_\r\n");
  expect_bytes([](ReplyWriter& w) { w.null_array(); }, "*-1\r\n", "_\r\n");
  expect_bytes([](ReplyWriter& w) { w.boolean(true); }, ":1\r\n", "#t\r\n");
  expect_bytes([](ReplyWriter& w) { w.boolean(false); }, ":0\r\n", "#f\r\n");
  expect_bytes([](ReplyWriter& w) { w.big_number("1234567890123456789012"); },
               "$22\r\n1234567890123456789012\r\n", "(1234567890123456789012\r\n");
  expect_bytes([](ReplyWriter& w) { w.verbatim("txt", "Some string"); }, "$11\r\nSome string\r\n",
               "=15\r\ntxt:Some string\r\n");
  expect_bytes([](ReplyWriter& w) { w.verbatim("m", "x"); }, "$1\r\nx\r\n", "=5\r\nm  :x\r\n");
}

TEST(ReplyWriter, Integers) {
  const int64_t cases[] = {0, 1, -1, 9, 10, 99, 100, 12345, -987654321, INT64_MAX, INT64_MIN};
  for (int64_t v : cases) {
    EXPECT_EQ(write(2, [v](ReplyWriter& w) { w.integer(v); }), ":" + std::to_string(v) + "\r\n");
  }
  for (uint64_t v = 1; v < (uint64_t{1} << 62); v = v * 7 + 3) {
    const int64_t s = static_cast<int64_t>(v);
    EXPECT_EQ(write(3, [s](ReplyWriter& w) { w.integer(s); }), ":" + std::to_string(s) + "\r\n");
    EXPECT_EQ(write(3, [s](ReplyWriter& w) { w.integer(-s); }), ":" + std::to_string(-s) + "\r\n");
  }
}

TEST(ReplyWriter, Aggregates) {
  expect_bytes([](ReplyWriter& w) { w.array_header(3); }, "*3\r\n", "*3\r\n");
  expect_bytes([](ReplyWriter& w) { w.array_header(0); }, "*0\r\n", "*0\r\n");
  expect_bytes([](ReplyWriter& w) { w.map_header(2); }, "*4\r\n", "%2\r\n");
  expect_bytes([](ReplyWriter& w) { w.set_header(5); }, "*5\r\n", "~5\r\n");
  expect_bytes([](ReplyWriter& w) { w.push_header(3); }, "*3\r\n", ">3\r\n");
  expect_bytes([](ReplyWriter& w) { w.attribute_header(1); }, "", "|1\r\n");
}

// Bytes captured from redis-server 7.0.15 (ZSCORE, INCRBYFLOAT) in both protocols.
TEST(ReplyWriter, Doubles) {
  expect_bytes([](ReplyWriter& w) { w.dbl(1.1); }, "$18\r\n1.1000000000000001\r\n",
               ",1.1000000000000001\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(1e300); }, "$23\r\n1.0000000000000001e+300\r\n",
               ",1.0000000000000001e+300\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(3); }, "$1\r\n3\r\n", ",3\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(0); }, "$1\r\n0\r\n", ",0\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(-0.0); }, "$2\r\n-0\r\n", ",-0\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(INFINITY); }, "$3\r\ninf\r\n", ",inf\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(-INFINITY); }, "$4\r\n-inf\r\n", ",-inf\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(std::numeric_limits<double>::quiet_NaN()); },
               "$3\r\nnan\r\n", ",nan\r\n");
  expect_bytes([](ReplyWriter& w) { w.dbl(-1.5e-308); }, "$24\r\n-1.4999999999999999e-308\r\n",
               ",-1.4999999999999999e-308\r\n");
}

TEST(ReplyWriter, LineTextCannotBreakFraming) {
  expect_bytes([](ReplyWriter& w) { w.error("ERR bad\r\nthing"); }, "-ERR bad  thing\r\n",
               "-ERR bad  thing\r\n");
  expect_bytes([](ReplyWriter& w) { w.simple("a\nb"); }, "+a b\r\n", "+a b\r\n");
}

TEST(ReplyWriter, AppendsAndSwitchesVersion) {
  std::string out = "prefix";
  ReplyWriter w(&out);
  EXPECT_EQ(w.resp_version(), 2);
  w.null_bulk();
  w.set_resp_version(3);
  w.null_bulk();
  EXPECT_EQ(out, "prefix$-1\r\n_\r\n");
  EXPECT_EQ(w.buffer(), &out);
}

TEST(ReplyWriter, BulkPiecesAndSize) {
  for (size_t n : {0, 1, 9, 10, 99, 100, 12345}) {
    const std::string value(n, 'x');
    std::string whole;
    ReplyWriter(&whole).bulk(value);
    std::string pieces;
    ReplyWriter w(&pieces);
    w.bulk_header(n);
    pieces += value;
    w.crlf();
    EXPECT_EQ(whole, pieces);
    EXPECT_EQ(ReplyWriter::bulk_size(n), whole.size());
  }
}

}  // namespace
}  // namespace strata::protocol
