#include "bench/load_reply_counter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::bench {
namespace {

std::vector<ReplyClass> scan(const std::string& bytes, size_t chunk) {
  ReplyCounter counter;
  std::vector<ReplyClass> out;
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    const bool ok = counter.feed(std::string_view(bytes).substr(i, chunk),
                                 [&](ReplyClass c) { out.push_back(c); });
    EXPECT_TRUE(ok);
  }
  EXPECT_TRUE(counter.idle());
  return out;
}

TEST(ReplyCounter, ClassifiesRepliesInAnySplit) {
  const std::string bytes =
      "+OK\r\n$5\r\nhello\r\n$-1\r\n-ERR nope\r\n:42\r\n*2\r\n$1\r\na\r\n*-1\r\n"
      "_\r\n%1\r\n+k\r\n$0\r\n\r\n*0\r\n!3\r\nbad\r\n|1\r\n+meta\r\n+m\r\n$2\r\nok\r\n";
  const std::vector<ReplyClass> expected = {
      ReplyClass::kValue, ReplyClass::kValue, ReplyClass::kNull,  ReplyClass::kError,
      ReplyClass::kValue, ReplyClass::kValue, ReplyClass::kNull,  ReplyClass::kValue,
      ReplyClass::kValue, ReplyClass::kError, ReplyClass::kValue,
  };
  for (size_t chunk : {1ul, 2ul, 3ul, 7ul, 1000ul}) {
    EXPECT_EQ(scan(bytes, chunk), expected) << "chunk " << chunk;
  }
}

TEST(ReplyCounter, BulkPayloadMayContainCrlf) {
  EXPECT_EQ(scan("$4\r\n\r\n\r\n\r\n+OK\r\n", 1),
            (std::vector<ReplyClass>{ReplyClass::kValue, ReplyClass::kValue}));
}

TEST(ReplyCounter, RejectsGarbage) {
  ReplyCounter counter;
  EXPECT_FALSE(counter.feed("?what\r\n", [](ReplyClass) {}));
  ReplyCounter deep;
  std::string nested;
  for (int i = 0; i <= ReplyCounter::kDepthMax; ++i) nested += "*1\r\n";
  EXPECT_FALSE(deep.feed(nested, [](ReplyClass) {}));
}

}  // namespace
}  // namespace strata::bench
