// The process-wide registry of client connections: which worker owns an id, each worker's
// clients in id order, and the mailbox another worker posts to (dropped once the worker owns no
// client: its loop may be gone).
#include "proxy/resp/client_registry.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/proxy/test_loop.h"

namespace strata::proxy {
namespace {

// The registry never dereferences a client: any distinct pointers do.
ClientConn* fake(uintptr_t n) { return reinterpret_cast<ClientConn*>(n * 16); }

TEST(ClientRegistryTest, OwnersClientsAndMailbox) {
  testing::TestLoop t(/*epoll=*/true);
  ASSERT_TRUE(t.ok()) << t.error();
  ClientRegistry& reg = ClientRegistry::instance();
  constexpr uint64_t kA = 9'000'002, kB = 9'000'001;
  reg.add(kA, t.loop(), fake(2));
  reg.add(kB, t.loop(), fake(1));
  uint32_t w = 99;
  ASSERT_TRUE(reg.owner_of(kA, &w));
  EXPECT_EQ(w, 0u);
  EXPECT_FALSE(reg.owner_of(9'000'003, &w));
  EXPECT_EQ(reg.workers(), std::vector<uint32_t>{0});
  const std::vector<ClientConn*> mine = reg.clients_of(0);
  ASSERT_GE(mine.size(), 2u);
  auto pos = [&](ClientConn* c) { return std::find(mine.begin(), mine.end(), c) - mine.begin(); };
  EXPECT_LT(pos(fake(1)), pos(fake(2)));  // id order

  // Posted from another thread, run on the owner's (here: by hand, as Worker::on_wake does).
  int ran = 0;
  std::thread other([&] { EXPECT_TRUE(reg.post(0, [&] { ++ran; })); });
  other.join();
  EXPECT_EQ(ran, 0);
  reg.run_posted(0);
  EXPECT_EQ(ran, 1);
  reg.run_posted(0);
  EXPECT_EQ(ran, 1);

  EXPECT_FALSE(reg.post(7, [&] { ++ran; }));  // no such worker
  reg.remove(kA);
  reg.remove(kB);
  reg.remove(kB);  // twice: harmless
  EXPECT_FALSE(reg.owner_of(kB, &w));
  if (reg.clients_of(0).empty()) {
    EXPECT_FALSE(reg.post(0, [&] { ++ran; }));  // a worker without clients takes no posts
  }
}

}  // namespace
}  // namespace strata::proxy
