// PgPool against a real PostgreSQL 15 (started here, in a temp dir, on a free loopback port),
// on both drivers: connect + setup, prepared statements with binary bytea, a pipelined burst,
// error classification, PostgreSQL stopped and restarted, query timeout, unavailable reason.
#include "proxy/postgres/pg_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/proxy/pg_test_server.h"
#include "tests/proxy/test_loop.h"

namespace strata::proxy {
namespace {

using testing::PgTestServer;
using testing::TestLoop;

constexpr const char* kSetup =
    "CREATE TABLE IF NOT EXISTS t_kv(key text primary key, value bytea, version bigint)";
constexpr const char* kUpsert =
    "INSERT INTO t_kv(key, value, version) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE "
    "SET value = EXCLUDED.value, version = EXCLUDED.version WHERE t_kv.version < "
    "EXCLUDED.version";
constexpr const char* kSelect = "SELECT value, version FROM t_kv WHERE key = $1";

class PgPoolTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    if (!PgTestServer::installed()) return;
    server_ = new PgTestServer();
    std::string err = server_->init();
    if (!err.empty()) {
      init_error_ = new std::string(err);
      delete server_;
      server_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (!PgTestServer::installed()) GTEST_SKIP() << "PostgreSQL 15 is not installed";
    ASSERT_NE(server_, nullptr) << (init_error_ ? *init_error_ : "");
    tw_ = std::make_unique<TestLoop>(GetParam());
    ASSERT_TRUE(tw_->ok()) << tw_->error();
  }
  void TearDown() override {
    pool_.reset();
    tw_.reset();
  }

  policies::PostgresConfig config(uint32_t pool_size = 2) const {
    policies::PostgresConfig c;
    c.conninfo = server_->conninfo();
    c.pool_size = pool_size;
    c.connect_timeout_ms = 2000;
    c.query_timeout_ms = 5000;
    c.backoff_max_ms = 200;
    return c;
  }

  void make_pool(const policies::PostgresConfig& c, std::string setup = kSetup) {
    pool_ = std::make_unique<PgPool>(tw_->loop(), c, std::move(setup));
    pool_->start();
  }

  bool run_until(const std::function<bool()>& done, int64_t timeout_ms = 5000) {
    return tw_->run_until(done, timeout_ms, [&] { pool_->on_tick(tw_->loop()->now_ms()); });
  }

  // Runs one statement and waits for its result.
  PgResult exec(std::string_view sql, std::vector<PgParam> params, bool binary = false) {
    std::optional<PgResult> out;
    pool_->exec(sql, params, binary, [&](PgResult&& r) { out = std::move(r); });
    EXPECT_TRUE(run_until([&] { return out.has_value(); }, 10000)) << sql;
    return out ? std::move(*out) : PgResult{PgResult::kTransient, "", "no result", 0, {}};
  }

  static PgTestServer* server_;
  static std::string* init_error_;
  std::unique_ptr<TestLoop> tw_;
  std::unique_ptr<PgPool> pool_;
};

PgTestServer* PgPoolTest::server_ = nullptr;
std::string* PgPoolTest::init_error_ = nullptr;

TEST_P(PgPoolTest, ConnectsRunsSetupAndQueuesWhileConnecting) {
  make_pool(config());
  EXPECT_FALSE(pool_->available());
  // Sent before any connection is ready: waits for one.
  PgResult r = exec("SELECT count(*) FROM t_kv WHERE key = $1", {PgParam{"nope"}});
  ASSERT_EQ(r.status, PgResult::kOk) << r.error;
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], "0");
  EXPECT_TRUE(pool_->available());
  EXPECT_EQ(pool_->in_flight(), 0u);
}

TEST_P(PgPoolTest, PreparedExecWithBinaryBytea) {
  make_pool(config());
  const std::string key = std::string("bin:") + (GetParam() ? "epoll" : "uring");
  const std::string value("\0\xff\x01zero\0bytes\r\n", 16);
  const std::string version = "42";
  PgResult w = exec(kUpsert, {PgParam{key}, PgParam{value, false, true}, PgParam{version}});
  ASSERT_EQ(w.status, PgResult::kOk) << w.error;
  EXPECT_EQ(w.affected, 1u);
  // An older version does not replace it.
  PgResult old = exec(kUpsert, {PgParam{key}, PgParam{"old", false, true}, PgParam{"41"}});
  ASSERT_EQ(old.status, PgResult::kOk) << old.error;
  EXPECT_EQ(old.affected, 0u);
  PgResult r = exec(kSelect, {PgParam{key}}, /*binary=*/true);
  ASSERT_EQ(r.status, PgResult::kOk) << r.error;
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], value);
  ASSERT_TRUE(r.rows[0][1].has_value());
  ASSERT_EQ(r.rows[0][1]->size(), 8u);  // int8, binary, big-endian
  EXPECT_EQ(static_cast<unsigned char>((*r.rows[0][1])[7]), 42);
  // NULL parameters and NULL fields; empty values.
  PgResult n = exec("SELECT $1::text IS NULL, NULL::text, ''::bytea", {PgParam{"", true}});
  ASSERT_EQ(n.status, PgResult::kOk) << n.error;
  EXPECT_EQ(n.rows[0][0], "t");
  EXPECT_FALSE(n.rows[0][1].has_value());
  EXPECT_EQ(n.rows[0][2], "\\x");
}

TEST_P(PgPoolTest, PipelinedBurstCompletesInOrder) {
  make_pool(config(1));
  ASSERT_TRUE(run_until([&] { return pool_->available(); }));
  constexpr int kBurst = 1000;
  std::vector<int> order;
  std::vector<std::string> keys(kBurst), versions(kBurst);
  const std::string prefix = std::string("burst:") + (GetParam() ? "e:" : "u:");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kBurst; ++i) {
    keys[i] = prefix + std::to_string(i);
    versions[i] = std::to_string(i + 1);
    PgParam params[] = {PgParam{keys[i]}, PgParam{keys[i], false, true}, PgParam{versions[i]}};
    pool_->exec(kUpsert, params, false, [&order, i](PgResult&& r) {
      EXPECT_EQ(r.status, PgResult::kOk) << r.error;
      order.push_back(i);
    });
  }
  EXPECT_EQ(pool_->in_flight(), static_cast<size_t>(kBurst));
  ASSERT_TRUE(run_until([&] { return order.size() == kBurst; }, 20000));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (int i = 0; i < kBurst; ++i) ASSERT_EQ(order[i], i);
  std::printf("[ burst    ] %d pipelined upserts on one connection in %.1f ms (%.0f/s)\n", kBurst,
              ms, kBurst * 1000.0 / ms);
  EXPECT_EQ(server_->psql("SELECT count(*) FROM t_kv WHERE key LIKE '" + prefix + "%'"), "1000");
}

TEST_P(PgPoolTest, PermanentErrorsAreClassifiedAndTheConnectionSurvives) {
  make_pool(config(1));
  const std::string key = std::string("dup:") + (GetParam() ? "e" : "u");
  const char* insert = "INSERT INTO t_kv(key, value, version) VALUES ($1, $2, 1)";
  ASSERT_EQ(exec(insert, {PgParam{key}, PgParam{"v", false, true}}).status, PgResult::kOk);
  PgResult dup = exec(insert, {PgParam{key}, PgParam{"v", false, true}});
  EXPECT_EQ(dup.status, PgResult::kPermanent);
  EXPECT_EQ(dup.sqlstate, "23505");
  EXPECT_NE(dup.error.find("duplicate key"), std::string::npos) << dup.error;

  PgResult bad_int = exec("SELECT $1::int", {PgParam{"abc"}});
  EXPECT_EQ(bad_int.status, PgResult::kPermanent);
  EXPECT_EQ(bad_int.sqlstate, "22P02");

  // A statement that fails to prepare: the error comes from the prepare, every time.
  PgResult syntax = exec("SELEC 1", {});
  EXPECT_EQ(syntax.status, PgResult::kPermanent);
  EXPECT_EQ(syntax.sqlstate, "42601");
  EXPECT_EQ(exec("SELEC 1", {}).sqlstate, "42601");
  PgResult undefined = exec("SELECT * FROM no_such_table", {});
  EXPECT_EQ(undefined.sqlstate, "42P01");
  EXPECT_EQ(undefined.status, PgResult::kPermanent);

  PgResult ok = exec("SELECT 1", {});
  EXPECT_EQ(ok.status, PgResult::kOk) << ok.error;
  EXPECT_TRUE(pool_->available());
}

TEST_P(PgPoolTest, StoppedServerGivesTransientThenReconnects) {
  make_pool(config());
  ASSERT_EQ(exec("SELECT 1", {}).status, PgResult::kOk);
  // A query in flight when the server dies.
  std::optional<PgResult> slow;
  pool_->exec("SELECT pg_sleep(3)", {}, false, [&](PgResult&& r) { slow = std::move(r); });
  tw_->loop()->driver().run_once();
  ASSERT_TRUE(server_->stop("immediate"));
  ASSERT_TRUE(run_until([&] { return slow.has_value(); }));
  EXPECT_EQ(slow->status, PgResult::kTransient) << slow->error;
  ASSERT_TRUE(run_until([&] {
    return !pool_->available() &&
           pool_->unavailable_reason().find("connection refused") != std::string::npos;
  })) << pool_->unavailable_reason();
  EXPECT_EQ(pool_->unavailable_reason(),
            "PostgreSQL host=127.0.0.1 port=" + std::to_string(server_->port()) +
                " unavailable (connection refused)");
  PgResult down = exec("SELECT 1", {});
  EXPECT_EQ(down.status, PgResult::kTransient);
  EXPECT_NE(down.error.find("unavailable"), std::string::npos) << down.error;

  ASSERT_TRUE(server_->start());
  ASSERT_TRUE(run_until([&] { return pool_->available(); }, 5000)) << pool_->unavailable_reason();
  EXPECT_EQ(exec("SELECT 1", {}).status, PgResult::kOk);

  // A clean shutdown (57P01 to every session) is transient too.
  ASSERT_TRUE(server_->stop("fast"));
  PgResult after = exec("SELECT 1", {});
  EXPECT_EQ(after.status, PgResult::kTransient) << after.error;
  ASSERT_TRUE(server_->start());
  ASSERT_TRUE(run_until([&] { return pool_->available(); }, 5000));
}

TEST_P(PgPoolTest, QueryTimeoutFailsTransientAndDropsTheConnection) {
  policies::PostgresConfig c = config(1);
  c.query_timeout_ms = 200;
  make_pool(c);
  ASSERT_TRUE(run_until([&] { return pool_->available(); }));
  const auto t0 = std::chrono::steady_clock::now();
  PgResult r = exec("SELECT pg_sleep(3)", {});
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, PgResult::kTransient);
  EXPECT_NE(r.error.find("timed out after 200 ms"), std::string::npos) << r.error;
  EXPECT_LT(waited, std::chrono::milliseconds(1500));
  ASSERT_TRUE(run_until([&] { return pool_->available(); }));
  EXPECT_EQ(exec("SELECT 1", {}).status, PgResult::kOk);
}

TEST_P(PgPoolTest, UnavailableReasonNamesTheTargetNeverThePassword) {
  policies::PostgresConfig c = config();
  c.conninfo = "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=postgres";
  make_pool(c);
  ASSERT_TRUE(run_until([&] {
    return pool_->unavailable_reason().find("connection refused") != std::string::npos;
  })) << pool_->unavailable_reason();
  EXPECT_EQ(pool_->unavailable_reason(),
            "PostgreSQL host=127.0.0.1 port=1 unavailable (connection refused)");
  PgResult r = exec("SELECT 1", {});
  EXPECT_EQ(r.status, PgResult::kTransient);
  EXPECT_EQ(r.error.find("s3cret"), std::string::npos);
}

// libpq tries the first host, is refused, and moves on to the second on a new socket: the
// connection's watch follows the socket.
TEST_P(PgPoolTest, FollowsLibpqToANewSocket) {
  policies::PostgresConfig c = config(1);
  c.conninfo = "host=127.0.0.1,127.0.0.1 port=1," + std::to_string(server_->port()) +
               " dbname=postgres user=postgres";
  make_pool(c);
  PgResult r = exec("SELECT 7", {});
  ASSERT_EQ(r.status, PgResult::kOk) << r.error;
  EXPECT_EQ(r.rows[0][0], "7");
}

TEST_P(PgPoolTest, FailingSetupKeepsThePoolUnavailable) {
  make_pool(config(1), "SELECT * FROM setup_table_that_does_not_exist");
  ASSERT_TRUE(run_until([&] {
    return pool_->unavailable_reason().find("setup query failed") != std::string::npos;
  })) << pool_->unavailable_reason();
  EXPECT_FALSE(pool_->available());
}

INSTANTIATE_TEST_SUITE_P(Drivers, PgPoolTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Epoll" : "IoUring"; });

}  // namespace
}  // namespace strata::proxy
