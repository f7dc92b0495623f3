// The change seam: counts, fan-out to subscribers, and its cost on the GET/SET hot path -- a
// real client connection on a real loop (socketpair), standalone, counting every allocation
// the process makes while it serves pipelined SET and GET: none per request once warm, and the
// seam sees every SET.
#include "proxy/sync/change_seam.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "cache/clock.h"
#include "cache/store.h"
#include "proxy/loop/server_stats.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/front_context.h"
#include "tests/proxy/test_loop.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

// Every allocation of this test binary is counted (gtest's too: the tests measure a window).
// Only operator new is replaced: libstdc++'s operator delete frees with std::free, which
// matches the malloc here.
// Sanitizer builds keep their own operator new (theirs checks that delete matches it): the
// count is a release-build check.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;
[[gnu::noinline]] void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
#endif

namespace strata::proxy {
namespace {

struct Recorder final : ChangeSubscriber {
  void on_change(const ChangeEvent& e) override {
    ++events;
    last_key.assign(e.key);
    last_op = e.op;
  }
  int events = 0;
  std::string last_key;
  ChangeOp last_op = ChangeOp::kInvalidate;
};

TEST(ChangeSeam, CountsAndFansOut) {
  ChangeSeam seam;
  std::atomic<uint64_t> prefix{0};
  ChangeEvent e;
  e.key = "user:1";
  e.op = ChangeOp::kSet;
  e.source = ChangeSource::kStrategy;
  e.prefix_changes = &prefix;
  seam.publish(e);
  EXPECT_EQ(seam.counts().by_op[static_cast<size_t>(ChangeOp::kSet)].load(), 1u);
  EXPECT_EQ(seam.counts().by_source[static_cast<size_t>(ChangeSource::kStrategy)].load(), 1u);
  EXPECT_EQ(prefix.load(), 1u);
  Recorder r;
  ASSERT_TRUE(seam.subscribe(&r));
  seam.publish("k", ChangeOp::kDelete, ChangeSource::kNative);
  EXPECT_EQ(r.events, 1);
  EXPECT_EQ(r.last_key, "k");
  EXPECT_EQ(r.last_op, ChangeOp::kDelete);
  seam.unsubscribe(&r);
  seam.publish("k", ChangeOp::kDelete, ChangeSource::kNative);
  EXPECT_EQ(r.events, 1);
}

TEST(ChangeSeam, SubscribersAreBounded) {
  ChangeSeam seam;
  Recorder rs[ChangeSeam::kSubscribersMax + 1];
  for (size_t i = 0; i < ChangeSeam::kSubscribersMax; ++i) EXPECT_TRUE(seam.subscribe(&rs[i]));
  EXPECT_FALSE(seam.subscribe(&rs[ChangeSeam::kSubscribersMax]));
}

TEST(ChangeSeam, PublishWithoutSubscribersAllocatesNothing) {
  if (!kCountsAllocations) GTEST_SKIP() << "allocations are counted in the release build";
  ChangeSeam seam;
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 100000; ++i) seam.publish("user:1", ChangeOp::kInvalidate, ChangeSource::kNative);
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

class NoHost final : public FrontHost {
 public:
  const ServerView& server_view(bool, bool) override { return view_; }

 private:
  ServerView view_;
};

// A standalone client connection on a real loop, fed pipelined SET/GET through a socketpair.
class HotPath : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    tl_ = std::make_unique<testing::TestLoop>(GetParam());
    if (!tl_->ok()) GTEST_SKIP() << tl_->error();
    ctx_.loop = tl_->loop();
    ctx_.store = &store_;
    ctx_.stats = &stats_;
    ctx_.seam = &seam_;
    ctx_.host = &host_;
    ctx_.commands = &commands_;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    peer_ = sv[1];
    Token t = tl_->loop()->adopt(std::make_unique<ClientConn>(&ctx_, sv[0], 1));
    tl_->loop()->driver().start_recv(t, sv[0]);
    set_thread_seam(&seam_);
  }
  void TearDown() override {
    set_thread_seam(nullptr);
    if (peer_ >= 0) ::close(peer_);
  }

  // Sends `rounds` pipelines of SET+GET (kDepth each) and reads every reply.
  void run(int rounds) {
    for (int r = 0; r < rounds; ++r) {
      ASSERT_EQ(::write(peer_, pipeline_.data(), pipeline_.size()),
                static_cast<ssize_t>(pipeline_.size()));
      size_t got = 0;
      const bool done = tl_->run_until(
          [&] {
            char buf[65536];
            for (;;) {
              const ssize_t n = ::read(peer_, buf, sizeof buf);
              if (n <= 0) break;
              got += static_cast<size_t>(n);
            }
            return got >= replies_bytes_;
          },
          5000);
      ASSERT_TRUE(done) << "replies: " << got << " of " << replies_bytes_;
    }
  }

  static constexpr int kDepth = 16;
  cache::SystemClock clock_;
  cache::Store store_{cache::StoreConfig{}, &clock_};
  ServerStats stats_;
  ChangeSeam seam_;
  NoHost host_;
  std::atomic<uint64_t> commands_{0};
  FrontContext ctx_;
  std::unique_ptr<testing::TestLoop> tl_;
  int peer_ = -1;
  std::string pipeline_ = [] {
    std::string s;
    for (int i = 0; i < kDepth; ++i) {
      s += "*3\r\n$3\r\nSET\r\n$6\r\nkey:01\r\n$5\r\nvalue\r\n";
      s += "*2\r\n$3\r\nGET\r\n$6\r\nkey:01\r\n";
    }
    return s;
  }();
  size_t replies_bytes_ = kDepth * (sizeof("+OK\r\n") - 1 + sizeof("$5\r\nvalue\r\n") - 1);
};

TEST_P(HotPath, SetAndGetAllocateNothingPerRequestWithoutSubscribers) {
  if (!kCountsAllocations) GTEST_SKIP() << "allocations are counted in the release build";
  run(200);  // warm: buffers, the parser, the store's table grow once
  const uint64_t sets_before =
      seam_.counts().by_source[static_cast<size_t>(ChangeSource::kNative)].load();
  const uint64_t before = g_allocations.load();
  constexpr int kRounds = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  run(kRounds);
  const auto t1 = std::chrono::steady_clock::now();
  const uint64_t allocations = g_allocations.load() - before;
  const uint64_t requests = static_cast<uint64_t>(kRounds) * kDepth * 2;
  std::printf("hot path (%s): %llu requests, %llu allocations, %.0f ns/request (incl. the test's "
              "own socket reads)\n",
              GetParam() ? "epoll" : "io_uring", static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(allocations),
              std::chrono::duration<double, std::nano>(t1 - t0).count() /
                  static_cast<double>(requests));
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(seam_.counts().by_source[static_cast<size_t>(ChangeSource::kNative)].load() -
                sets_before,
            static_cast<uint64_t>(kRounds) * kDepth);
}

INSTANTIATE_TEST_SUITE_P(Drivers, HotPath, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "epoll" : "io_uring"; });

}  // namespace
}  // namespace strata::proxy
