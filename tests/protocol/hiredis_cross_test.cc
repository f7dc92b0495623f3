// Cross-checks against hiredis 0.14, an independent RESP2 reader: what our writer produces for
// a RESP2 client is read by hiredis as the same values, and our scanner finds the same reply
// boundaries as hiredis does.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "protocol/reply_scanner.h"
#include "protocol/reply_writer.h"

namespace strata::protocol {
namespace {

// hiredis 0.14 keeps a task stack of 9, i.e. at most 7 nested aggregates.
constexpr int kHiredisDepthMax = 6;

struct Value {
  enum Type {
    kSimple,
    kError,
    kInteger,
    kBulk,
    kNullBulk,
    kNullArray,
    kDouble,
    kBool,
    kBig,
    kVerbatim,
    kArray,
    kMap,
    kSet,
    kPush,
    kTypeCount,
  };
  Type type = kSimple;
  std::string text;
  int64_t integer = 0;
  double number = 0;
  std::vector<Value> children;  // maps: key, value, key, value...
};

std::string random_text(std::mt19937& rng, bool binary) {
  static const char kPlain[] = "abcXYZ019 :-_";
  static const char kBinary[] = "ab\r\n\0$*+-:";
  const char* alphabet = binary ? kBinary : kPlain;
  const size_t alphabet_size = binary ? sizeof(kBinary) - 1 : sizeof(kPlain) - 1;
  std::string s;
  for (size_t n = rng() % 24; n > 0; --n) s.push_back(alphabet[rng() % alphabet_size]);
  return s;
}

Value random_value(std::mt19937& rng, int depth) {
  Value v;
  const int types = depth < kHiredisDepthMax ? Value::kTypeCount : Value::kArray;
  v.type = static_cast<Value::Type>(rng() % types);
  switch (v.type) {
    case Value::kSimple:
    case Value::kError:
      v.text = random_text(rng, false);
      break;
    case Value::kBulk:
    case Value::kVerbatim:
      v.text = random_text(rng, true);
      break;
    case Value::kBig:
      v.text = std::to_string(rng()) + std::to_string(rng()) + std::to_string(rng());
      break;
    case Value::kInteger:
      v.integer = static_cast<int64_t>((uint64_t{rng()} << 32) | rng()) >> (rng() % 64);
      break;
    case Value::kBool:
      v.integer = rng() % 2;
      break;
    case Value::kDouble: {
      const double specials[] = {INFINITY, -INFINITY, 0.0, -0.0, 1e300, 0.1};
      v.number = rng() % 4 == 0 ? specials[rng() % 6]
                                : std::ldexp(static_cast<double>(rng()) - 2e9, rng() % 80 - 40);
      break;
    }
    case Value::kArray:
    case Value::kMap:
    case Value::kSet:
    case Value::kPush: {
      size_t n = rng() % 5;
      if (v.type == Value::kMap) n *= 2;
      for (size_t i = 0; i < n; ++i) v.children.push_back(random_value(rng, depth + 1));
      break;
    }
    default:
      break;
  }
  return v;
}

void write_value(ReplyWriter& w, const Value& v) {
  switch (v.type) {
    case Value::kSimple:
      w.simple(v.text);
      break;
    case Value::kError:
      w.error(v.text);
      break;
    case Value::kInteger:
      w.integer(v.integer);
      break;
    case Value::kBulk:
      w.bulk(v.text);
      break;
    case Value::kNullBulk:
      w.null_bulk();
      break;
    case Value::kNullArray:
      w.null_array();
      break;
    case Value::kDouble:
      w.dbl(v.number);
      break;
    case Value::kBool:
      w.boolean(v.integer != 0);
      break;
    case Value::kBig:
      w.big_number(v.text);
      break;
    case Value::kVerbatim:
      w.verbatim("txt", v.text);
      break;
    case Value::kArray:
      w.array_header(v.children.size());
      break;
    case Value::kMap:
      w.map_header(v.children.size() / 2);
      break;
    case Value::kSet:
      w.set_header(v.children.size());
      break;
    case Value::kPush:
      w.push_header(v.children.size());
      break;
    default:
      break;
  }
  for (const Value& c : v.children) write_value(w, c);
}

std::string double_text(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  return std::string(buf, std::snprintf(buf, sizeof(buf), "%.17g", d));
}

// What a RESP2 client must see for `v`, checked against hiredis's reply object.
void expect_same(const redisReply* r, const Value& v, const std::string& where) {
  ASSERT_NE(r, nullptr) << where;
  const std::string str = r->str ? std::string(r->str, r->len) : std::string();
  switch (v.type) {
    case Value::kSimple:
      EXPECT_EQ(r->type, REDIS_REPLY_STATUS) << where;
      EXPECT_EQ(str, v.text) << where;
      break;
    case Value::kError:
      EXPECT_EQ(r->type, REDIS_REPLY_ERROR) << where;
      EXPECT_EQ(str, v.text) << where;
      break;
    case Value::kInteger:
    case Value::kBool:
      EXPECT_EQ(r->type, REDIS_REPLY_INTEGER) << where;
      EXPECT_EQ(r->integer, v.integer) << where;
      break;
    case Value::kBulk:
    case Value::kBig:
    case Value::kVerbatim:
      EXPECT_EQ(r->type, REDIS_REPLY_STRING) << where;
      EXPECT_EQ(str, v.text) << where;
      break;
    case Value::kDouble:
      EXPECT_EQ(r->type, REDIS_REPLY_STRING) << where;
      EXPECT_EQ(str, double_text(v.number)) << where;
      break;
    case Value::kNullBulk:
    case Value::kNullArray:
      EXPECT_EQ(r->type, REDIS_REPLY_NIL) << where;
      break;
    default:
      ASSERT_EQ(r->type, REDIS_REPLY_ARRAY) << where;
      ASSERT_EQ(r->elements, v.children.size()) << where;
      for (size_t i = 0; i < v.children.size(); ++i) {
        expect_same(r->element[i], v.children[i], where + "/" + std::to_string(i));
      }
  }
}

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};
struct ReplyDeleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using Reader = std::unique_ptr<redisReader, ReaderDeleter>;
using Reply = std::unique_ptr<void, ReplyDeleter>;

TEST(HiredisCross, WriterResp2IsReadBackAsTheSameValues) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    const Value v = random_value(rng, 0);
    std::string bytes;
    ReplyWriter w(&bytes, 2);
    write_value(w, v);
    Reader reader(redisReaderCreate());
    ASSERT_EQ(redisReaderFeed(reader.get(), bytes.data(), bytes.size()), REDIS_OK);
    void* raw = nullptr;
    ASSERT_EQ(redisReaderGetReply(reader.get(), &raw), REDIS_OK) << reader->errstr;
    Reply reply(raw);
    expect_same(static_cast<redisReply*>(raw), v, "round " + std::to_string(round));
    void* extra = nullptr;
    ASSERT_EQ(redisReaderGetReply(reader.get(), &extra), REDIS_OK);
    EXPECT_EQ(extra, nullptr) << "trailing bytes in round " << round;
  }
}

// Reply end offsets as hiredis sees them: feed byte by byte, note where a reply pops out.
std::vector<size_t> hiredis_boundaries(const std::string& stream) {
  Reader reader(redisReaderCreate());
  std::vector<size_t> ends;
  for (size_t i = 0; i < stream.size(); ++i) {
    redisReaderFeed(reader.get(), stream.data() + i, 1);
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) break;
    if (raw != nullptr) {
      freeReplyObject(raw);
      ends.push_back(i + 1);
    }
  }
  return ends;
}

std::vector<size_t> scanner_boundaries(const std::string& stream, std::mt19937& rng) {
  ReplyScanner scanner;
  std::vector<size_t> ends;
  size_t start = 0;
  size_t have = 0;
  while (have < stream.size()) {
    have = std::min(stream.size(), have + 1 + rng() % 32);
    while (start < have) {
      const ScanStatus s = scanner.feed(std::string_view(stream).substr(start, have - start));
      if (s != ScanStatus::kDone) break;
      start += scanner.consumed();
      ends.push_back(start);
    }
  }
  return ends;
}

TEST(HiredisCross, ScannerBoundariesAgreeWithHiredis) {
  std::mt19937 rng(99);
  for (int round = 0; round < 40; ++round) {
    std::string stream;
    ReplyWriter w(&stream, 2);
    for (int i = 0; i < 50; ++i) write_value(w, random_value(rng, 0));
    const std::vector<size_t> expected = hiredis_boundaries(stream);
    ASSERT_EQ(expected.size(), 50u);
    EXPECT_EQ(scanner_boundaries(stream, rng), expected) << "round " << round;
  }
}

// RESP3 output (which hiredis 0.14 cannot read) must scan as one reply of the right kind.
TEST(HiredisCross, WriterResp3ScansAsOneReply) {
  std::mt19937 rng(5);
  for (int round = 0; round < 2000; ++round) {
    const Value v = random_value(rng, 0);
    std::string bytes;
    ReplyWriter w(&bytes, 3);
    write_value(w, v);
    ReplyScanner scanner;
    ASSERT_EQ(scanner.feed(bytes), ScanStatus::kDone) << scanner.error();
    EXPECT_EQ(scanner.consumed(), bytes.size());
  }
}

}  // namespace
}  // namespace strata::protocol
