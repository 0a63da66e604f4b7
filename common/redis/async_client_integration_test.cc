// AsyncClient against the shared Redis (scripts/infra): pipelining from many threads, error
// replies in the middle of a group, a connection killed under it, Redis unreachable.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "common/redis/async_client.h"
#include "common/testing/env.h"

namespace concord::redis {
namespace {

using namespace std::chrono_literals;
using concord::testenv::RedisPort;

std::string UniqueKey(const std::string& prefix) { return concord::testenv::Unique("concord:test:" + prefix); }

TEST(AsyncClientTest, GroupRepliesInOrderWithAnErrorReplyInTheMiddle) {
  AsyncClient c({.port = RedisPort()});
  std::string key = UniqueKey("async");
  auto replies = c.Call({{"SET", key, std::string("a\0b", 3)},
                         {"LPUSH", key, "x"},  // WRONGTYPE: a reply, the group goes on
                         {"GET", key},
                         {"DEL", key}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 4u);
  EXPECT_EQ((*replies)[0].type, Reply::Type::kStatus);
  EXPECT_TRUE((*replies)[1].is_error());
  EXPECT_EQ((*replies)[2].str, std::string("a\0b", 3)) << "binary-safe";
  EXPECT_EQ((*replies)[3].integer, 1);
  EXPECT_EQ(c.connects(), 1u) << "an error reply does not break the connection";
}

TEST(AsyncClientTest, ManyThreadsShareOneConnection) {
  AsyncClient c({.port = RedisPort()});
  std::string key = UniqueKey("async-n");
  constexpr int kThreads = 8, kCalls = 500;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string mine = key + ":" + std::to_string(t);
      for (int i = 1; i <= kCalls; ++i) {
        auto r = c.Call({{"INCR", mine}, {"GET", mine}});
        // Each thread sees its own counter in order: groups are never interleaved or reordered.
        if (!r.ok() || (*r)[0].integer != i || (*r)[1].str != std::to_string(i)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(c.connects(), 1u);
  for (int t = 0; t < kThreads; ++t) (void)c.Command({"DEL", key + ":" + std::to_string(t)});
}

// Auto-pipelining: groups sent while a write is unanswered are gathered and go out together
// when its reply is in, in order. BLPOP holds the first flight open for 200 ms, so the
// gathering is certain, not a race.
TEST(AsyncClientTest, GroupsSentWhileAFlightIsOutGoInOneWrite) {
  AsyncClient c({.port = RedisPort()}, 1);
  const std::string key = UniqueKey("async-gather");
  std::mutex mu;
  std::condition_variable cv;
  std::vector<long long> seen;
  bool blpop_nil = false;
  int answered = 0;
  constexpr int kCalls = 200;
  ASSERT_TRUE(c.Command({"PING"}).ok());  // connected: groups sent before that go out together anyway
  c.Send({{"BLPOP", UniqueKey("async-gather-never"), "0.2"}}, [&](Replies r) {
    std::lock_guard lock(mu);
    blpop_nil = r.ok() && (*r)[0].is_nil();
    ++answered;
    cv.notify_one();
  });
  for (int i = 0; i < kCalls; ++i) {
    c.SendCommand({"INCR", key}, [&](Replies r) {
      std::lock_guard lock(mu);
      seen.push_back(r.ok() ? (*r)[0].integer : -1);
      ++answered;
      cv.notify_one();
    });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return answered == kCalls + 1; }));
  }
  EXPECT_TRUE(blpop_nil);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCalls));
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(seen[i], i + 1) << "in the order sent";
  EXPECT_EQ(c.groups_written(), kCalls + 2u);
  EXPECT_EQ(c.flights(), 3u) << "the PING, the BLPOP alone, then everything gathered behind it";
  (void)c.Command({"DEL", key});
}

TEST(AsyncClientTest, MoreFlightsAllowedWriteAtOnce) {
  AsyncClient c({.port = RedisPort()}, 3);
  ASSERT_TRUE(c.Command({"PING"}).ok());
  std::atomic<int> nil{0};
  // Three BLPOPs are three flights (each written at once); the fourth group waits for the first.
  for (int i = 0; i < 4; ++i) {
    c.Send({{"BLPOP", UniqueKey("async-flights-never"), "0.1"}}, [&](Replies r) {
      if (r.ok() && (*r)[0].is_nil()) ++nil;
    });
  }
  EXPECT_TRUE(c.Command({"PING"}).ok());
  EXPECT_EQ(nil.load(), 4);
  EXPECT_EQ(c.groups_written(), 6u);
  EXPECT_EQ(c.flights(), 5u) << "the first PING, three BLPOPs at once, then the fourth and the PING together";
}

// A gathered group's deadline runs from its call, not from when it is written.
TEST(AsyncClientTest, AGatheredGroupTimesOutFromItsCall) {
  AsyncClient c({.port = RedisPort(), .command_timeout = 300ms}, 1);
  c.Send({{"BLPOP", UniqueKey("async-gather-slow"), "2"}}, [](Replies) {});
  auto start = std::chrono::steady_clock::now();
  auto r = c.Command({"PING"});  // gathered behind the BLPOP, which is not answered in time
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_LT(took, 1000ms);
  EXPECT_TRUE(c.Command({"PING"}).ok()) << "reconnects for the next group";
}

TEST(AsyncClientTest, CallbacksChainWithoutBlocking) {
  AsyncClient c({.port = RedisPort()});
  std::string key = UniqueKey("async-chain");
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  constexpr int kChains = 200;
  for (int i = 0; i < kChains; ++i) {
    // Second step sent from the first step's callback, on the I/O thread, like a write's commit
    // after its lookup.
    c.Send({{"INCR", key}}, [&](Replies first) {
      ASSERT_TRUE(first.ok());
      EXPECT_TRUE(c.OnIoThread());
      EXPECT_FALSE(c.Call({{"PING"}}).ok()) << "a blocking call on the I/O thread is refused, not a deadlock";
      c.Send({{"GET", key}}, [&](Replies second) {
        EXPECT_TRUE(second.ok());
        std::lock_guard lock(mu);
        ++done;
        cv.notify_all();
      });
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done == kChains; }));
  lock.unlock();
  EXPECT_EQ(c.Command({"GET", key})->str, std::to_string(kChains));
  (void)c.Command({"DEL", key});
}

TEST(AsyncClientTest, KilledConnectionFailsWhatIsInFlightThenReconnects) {
  AsyncClient c({.port = RedisPort(), .command_timeout = 2000ms});
  auto id = c.Command({"CLIENT", "ID"});
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(id->type, Reply::Type::kInteger);
  // BLPOP keeps the group in flight while another connection kills ours.
  std::string key = UniqueKey("async-kill");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Replies> blocked;
  c.Send({{"BLPOP", key, "5"}}, [&](Replies r) {
    std::lock_guard lock(mu);
    blocked = std::move(r);
    cv.notify_all();
  });
  std::this_thread::sleep_for(100ms);
  Connection killer({.port = RedisPort()});
  auto killed = killer.Command({"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->integer, 1);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 3s, [&] { return blocked.has_value(); }));
    EXPECT_TRUE(absl::IsUnavailable(blocked->status())) << blocked->status();
  }
  auto again = c.Command({"PING"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->str, "PONG");
  EXPECT_EQ(c.connects(), 2u);
}

TEST(AsyncClientTest, NoReplyInTimeIsDeadlineExceeded) {
  AsyncClient c({.port = RedisPort(), .command_timeout = 300ms});
  auto start = std::chrono::steady_clock::now();
  auto r = c.Call({{"BLPOP", UniqueKey("async-never"), "2"}});
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_TRUE(c.Command({"PING"}).ok()) << "reconnects for the next group";
}

TEST(AsyncClientTest, AnIdleClientStillTimesOutItsNextCallOnTime) {
  // A first group in flight does not wake the idle I/O thread (only its reply does): the idle
  // wait is bounded by command_timeout, so the deadline is still seen in time.
  AsyncClient c({.port = RedisPort(), .command_timeout = 300ms});
  ASSERT_TRUE(c.Command({"PING"}).ok());
  std::this_thread::sleep_for(450ms);  // the I/O thread is half-way through an idle wait
  auto start = std::chrono::steady_clock::now();
  auto r = c.Call({{"BLPOP", UniqueKey("async-idle-never"), "2"}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 1000ms) << "not the 2 s of the BLPOP";
}

TEST(AsyncClientTest, UnreachableRedisIsUnavailableQuickly) {
  AsyncClient c({.port = 1, .connect_timeout = 200ms});
  auto start = std::chrono::steady_clock::now();
  auto r = c.Command({"PING"});
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_TRUE(absl::IsUnavailable(c.Command({"PING"}).status())) << "and again on the next call";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(AsyncClientTest, DestructorAnswersEverythingSent) {
  std::atomic<int> answered{0};
  {
    AsyncClient c({.port = RedisPort()});
    for (int i = 0; i < 1000; ++i) c.Send({{"PING"}}, [&](Replies r) { answered += r.ok() ? 1 : 0; });
  }
  EXPECT_EQ(answered.load(), 1000);
}

}  // namespace
}  // namespace concord::redis
