// The outbox against the real Redis and Kafka: atomic commits with idempotency and versions,
// and the relay delivering every committed record to Kafka once, in order.
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/outbox/relay.h"
#include "common/outbox/store.h"

namespace concord::outbox {
namespace {

using concord::testenv::Brokers;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;

using namespace std::chrono_literals;


class OutboxTest : public testing::Test {
 protected:
  OutboxTest() : pool_(RedisOptions(), 4), store_(pool_, Unique("concord:test:outbox")) {}

  CommitRequest Write(const std::string& request_id, const std::string& id, uint64_t expected, const std::string& data,
                      const std::string& topic = "t") {
    CommitRequest r;
    r.request_id = request_id;
    r.fingerprint = Fingerprint(id + data);
    r.response = "response:" + data;
    r.entities.push_back({store_.EntityKey("lead", id), expected, data});
    r.events.push_back({topic, "domain:acme.com", "event:" + data, {{"ce_id", "ev-" + data}}, "ev-" + data});
    r.index.push_back({store_.IndexKey("leads"), 1000.0 + expected, id});
    return r;
  }

  redis::Pool pool_;
  Store store_;
};

TEST_F(OutboxTest, CommitWritesEntityEventAndIndexTogether) {
  auto r = store_.Commit(Write("req-1", "L1", 0, "v1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, CommitResult::Outcome::kCommitted);
  auto got = store_.Get(store_.EntityKey("lead", "L1"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->version, 1u);
  EXPECT_EQ((*got)->data, "v1");
  EXPECT_EQ(*store_.OutboxLength(), 1);
}

// The pipelining counters: calls and writes at each scrape; a scrape after the Store is gone
// reads nothing (the registry outlives it).
TEST_F(OutboxTest, ExportedMetricsCountCallsAndWritesAndOutliveTheStore) {
  metrics::Registry registry;
  {
    Store store(pool_, Unique("concord:test:outbox-metrics"));
    store.ExportMetrics(registry);
    ASSERT_TRUE(store.Commit(Write("req-m", "M1", 0, "v1")).ok());
    ASSERT_TRUE(store.Get(store.EntityKey("lead", "M1")).ok());
    const std::string text = registry.Render();
    // SCRIPT LOAD, EVALSHA, then the read: one at a time, so each its own write.
    EXPECT_NE(text.find("concord_store_redis_calls_total 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("concord_store_redis_writes_total 3\n"), std::string::npos) << text;
  }
  EXPECT_NE(registry.Render().find("concord_store_redis_calls_total 3\n"), std::string::npos);
}

TEST_F(OutboxTest, RetryWithTheSameRequestIdReplaysTheAnswerAndWritesNothing) {
  ASSERT_EQ(store_.Commit(Write("req-1", "L1", 0, "v1"))->outcome, CommitResult::Outcome::kCommitted);
  auto again = store_.Commit(Write("req-1", "L1", 0, "v1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, CommitResult::Outcome::kReplayed);
  EXPECT_EQ(again->response, "response:v1");
  EXPECT_EQ(*store_.OutboxLength(), 1) << "a replay publishes nothing";
  auto looked = store_.LookupRequest("req-1", Fingerprint("L1v1"));
  ASSERT_TRUE(looked.ok() && looked->has_value());
  EXPECT_EQ((*looked)->outcome, CommitResult::Outcome::kReplayed);

  auto reused = store_.Commit(Write("req-1", "L1", 1, "other"));
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->outcome, CommitResult::Outcome::kRequestIdReused);
  EXPECT_EQ((*store_.LookupRequest("req-1", "different"))->outcome, CommitResult::Outcome::kRequestIdReused);
}

TEST_F(OutboxTest, AsyncCommitsOfManyCallsShareThePipelineAndBlockingOnItsThreadIsRefused) {
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, committed = 0, refused = 0;
  constexpr int kCalls = 100;
  for (int i = 0; i < kCalls; ++i) {
    std::string id = "A" + std::to_string(i);
    store_.CommitAsync(Write("req-" + id, id, 0, "v" + id), [&, id](absl::StatusOr<CommitResult> r) {
      // The next step of a call runs here, on the I/O thread: a blocking call would wait for
      // itself, so it fails and is recorded for the async write to notice.
      Store::ResetBlockingRefusals();
      bool blocked = !store_.Get(store_.EntityKey("lead", id)).ok() && Store::BlockingRefused();
      std::lock_guard lock(mu);
      if (r.ok() && r->outcome == CommitResult::Outcome::kCommitted) ++committed;
      if (blocked) ++refused;
      ++answered;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return answered == kCalls; }));
  EXPECT_EQ(committed, kCalls);
  EXPECT_EQ(refused, kCalls);
  lock.unlock();
  EXPECT_EQ(*store_.OutboxLength(), kCalls);
  Store::ResetBlockingRefusals();
  EXPECT_TRUE(store_.Get(store_.EntityKey("lead", "A7")).ok()) << "off the I/O thread it blocks as usual";
  EXPECT_FALSE(Store::BlockingRefused());
}

TEST_F(OutboxTest, AnOutboxRecordIsOneFieldThatDecodesToTheEvent) {
  auto w = Write("req-rec", "LR", 0, "v1");
  w.events[0].headers.push_back({"ce_type", std::string("binary\0\xff", 8)});
  ASSERT_TRUE(store_.Commit(w).ok());
  redis::Connection conn(RedisOptions());
  auto r = conn.CommandOk({"XRANGE", store_.OutboxKey(), "-", "+"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->elements.size(), 1u);
  const auto& fields = r->elements[0].elements[1].elements;
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].str, "r");
  OutboxEvent got;
  ASSERT_TRUE(DecodeRecord(fields, &got));
  const auto& want = w.events[0];
  EXPECT_EQ(got.topic, want.topic);
  EXPECT_EQ(got.key, want.key);
  EXPECT_EQ(got.value, want.value);
  EXPECT_EQ(got.event_id, want.event_id);
  EXPECT_EQ(got.headers, want.headers);

  // Truncated or unknown bytes are refused, not misread.
  auto bytes = fields[1];
  bytes.str.resize(bytes.str.size() - 3);
  EXPECT_FALSE(DecodeRecord({fields[0], bytes}, &got));
  bytes.str = "\x07junk";
  EXPECT_FALSE(DecodeRecord({fields[0], bytes}, &got));
}

TEST_F(OutboxTest, StaleVersionIsAConflictAndChangesNothing) {
  ASSERT_EQ(store_.Commit(Write("a", "L1", 0, "v1"))->outcome, CommitResult::Outcome::kCommitted);
  ASSERT_EQ(store_.Commit(Write("b", "L1", 1, "v2"))->outcome, CommitResult::Outcome::kCommitted);
  auto stale = store_.Commit(Write("c", "L1", 1, "v3"));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->outcome, CommitResult::Outcome::kConflict);
  EXPECT_EQ(stale->current_version, 2u);
  auto create_again = store_.Commit(Write("d", "L1", 0, "v4"));
  EXPECT_EQ(create_again->outcome, CommitResult::Outcome::kConflict) << "version 0 means: must not exist";
  EXPECT_EQ((*store_.Get(store_.EntityKey("lead", "L1")))->data, "v2");
  EXPECT_EQ(*store_.OutboxLength(), 2);
  EXPECT_FALSE((*store_.LookupRequest("c", "x")).has_value()) << "a refused write records no answer";
}

TEST_F(OutboxTest, CommitsRunTheScriptByShaAndSurviveRedisForgettingIt) {
  ASSERT_EQ(store_.Commit(Write("req-1", "L1", 0, "v1"))->outcome, CommitResult::Outcome::kCommitted);
  // A restarted Redis has no scripts: the next commit falls back to EVAL, exactly once.
  {
    auto lease = pool_.Acquire(1s);
    ASSERT_TRUE(lease.ok());
    ASSERT_TRUE((*lease)->CommandOk({"SCRIPT", "FLUSH"}).ok());
  }
  auto r = store_.Commit(Write("req-2", "L1", 1, "v2"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, CommitResult::Outcome::kCommitted);
  EXPECT_EQ((*store_.Get(store_.EntityKey("lead", "L1")))->version, 2u);
  EXPECT_EQ(*store_.OutboxLength(), 2);
  // ...and the one after uses the sha again (the script is cached once more).
  EXPECT_EQ(store_.Commit(Write("req-2", "L1", 1, "v2"))->outcome, CommitResult::Outcome::kReplayed);
  EXPECT_EQ(store_.Commit(Write("req-3", "L1", 2, "v3"))->outcome, CommitResult::Outcome::kCommitted);
  EXPECT_EQ(*store_.OutboxLength(), 3);
}

TEST_F(OutboxTest, LookupRequestAndGetReadsTheRequestRecordAndTheEntityAtOnce) {
  const auto key = store_.EntityKey("lead", "L1");
  auto none = store_.LookupRequestAndGet("req-1", Fingerprint("L1v1"), key);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->request.has_value());
  EXPECT_FALSE(none->entity.has_value());

  ASSERT_EQ(store_.Commit(Write("req-1", "L1", 0, "v1"))->outcome, CommitResult::Outcome::kCommitted);
  auto both = store_.LookupRequestAndGet("req-1", Fingerprint("L1v1"), key);
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_TRUE(both->request.has_value());
  EXPECT_EQ(both->request->outcome, CommitResult::Outcome::kReplayed);
  EXPECT_EQ(both->request->response, "response:v1");
  ASSERT_TRUE(both->entity.has_value());
  EXPECT_EQ(both->entity->version, 1u);
  EXPECT_EQ(both->entity->data, "v1");

  auto reused = store_.LookupRequestAndGet("req-1", Fingerprint("other"), key);
  ASSERT_TRUE(reused.ok() && reused->request.has_value());
  EXPECT_EQ(reused->request->outcome, CommitResult::Outcome::kRequestIdReused);

  auto no_id = store_.LookupRequestAndGet("", "", key);  // not idempotent: the entity only
  ASSERT_TRUE(no_id.ok());
  EXPECT_FALSE(no_id->request.has_value());
  ASSERT_TRUE(no_id->entity.has_value());
  EXPECT_EQ(no_id->entity->data, "v1");
}

TEST_F(OutboxTest, ListPagesNewestFirstWithoutGapsOrRepeats) {
  for (int i = 0; i < 7; ++i) {
    CommitRequest r = Write("r" + std::to_string(i), "L" + std::to_string(i), 0, "v" + std::to_string(i));
    r.index[0].score = 1000 + (i / 2);  // pairs share a score: the token must still be exact
    ASSERT_EQ(store_.Commit(r)->outcome, CommitResult::Outcome::kCommitted);
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_.List(store_.IndexKey("leads"), token, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    seen.insert(seen.end(), page->ids.begin(), page->ids.end());
    token = page->next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 7u);
  EXPECT_EQ(seen.back(), "L0");
  EXPECT_FALSE(store_.List(store_.IndexKey("leads"), "garbage", 3).ok());
}

class RelayTest : public OutboxTest {
 protected:
  void SetUp() override {
    auto a = kafka::Admin::Create(Brokers());
    ASSERT_TRUE(a.ok());
    admin_ = std::move(*a);
    topic_ = Unique("concord.test.outbox");
  }
  void TearDown() override { (void)admin_->DeleteTopic(topic_); }

  std::unique_ptr<kafka::Producer> MakeProducer(kafka::Properties extra = {}) {
    auto p = kafka::Producer::Create({.brokers = Brokers(), .properties = std::move(extra), .delivery_timeout_ms = 3000});
    EXPECT_TRUE(p.ok());
    return std::move(*p);
  }
  RelayOptions Options(const std::string& instance) {
    return {.prefix = store_.prefix(), .instance = instance, .lease = 1000ms};
  }
  std::vector<std::string> ConsumeAll(size_t expected, std::chrono::seconds wait = 20s) {
    kafka::ConsumerOptions o{.brokers = Brokers(), .group_id = Unique("g"), .topics = {topic_}};
    auto c = kafka::Consumer::Create(o);
    EXPECT_TRUE(c.ok());
    std::vector<std::string> values;
    auto deadline = std::chrono::steady_clock::now() + wait;
    auto quiet_until = std::chrono::steady_clock::time_point::max();
    while (std::chrono::steady_clock::now() < std::min(deadline, quiet_until)) {
      auto m = (*c)->Poll(100ms);
      if (m && !m->error()) values.emplace_back(m->value());
      // Once the expected count is reached, keep reading 2 s more to catch duplicates.
      if (values.size() >= expected && quiet_until == std::chrono::steady_clock::time_point::max()) {
        quiet_until = std::chrono::steady_clock::now() + 2s;
      }
    }
    return values;
  }
  bool WaitOutboxEmpty(std::chrono::seconds wait = 20s) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (*store_.OutboxLength() == 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::unique_ptr<kafka::Admin> admin_;
  std::string topic_;
};

TEST_F(RelayTest, EveryCommittedRecordReachesKafkaOnceInOrder) {
  ASSERT_TRUE(admin_->CreateTopic(topic_, 3).ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store_.Commit(Write("r" + std::to_string(i), "L" + std::to_string(i), 0, std::to_string(i), topic_)).ok());
  }
  auto producer = MakeProducer();
  Relay relay(RedisOptions(), *producer, Options("relay-a"));
  relay.Start();
  ASSERT_TRUE(WaitOutboxEmpty());
  relay.Stop(5s);
  auto values = ConsumeAll(50);
  ASSERT_EQ(values.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(values[i], "event:" + std::to_string(i)) << "one key: commit order kept";
}

TEST_F(RelayTest, RecordsInTheFormatOfOlderVersionsAreRelayedToo) {
  // Written before an upgrade: five fields, JSON headers.
  ASSERT_TRUE(admin_->CreateTopic(topic_, 1).ok());
  redis::Connection conn(RedisOptions());
  ASSERT_TRUE(conn.CommandOk({"XADD", store_.OutboxKey(), "*", "t", topic_, "k", "domain:acme.com", "v", "event:old",
                              "h", R"([["ce_id","ev-old"]])", "id", "ev-old"})
                  .ok());
  ASSERT_TRUE(store_.Commit(Write("r-new", "Lnew", 0, "new", topic_)).ok());
  auto producer = MakeProducer();
  Relay relay(RedisOptions(), *producer, Options("relay-a"));
  relay.Start();
  ASSERT_TRUE(WaitOutboxEmpty());
  relay.Stop(5s);
  EXPECT_EQ(ConsumeAll(2), (std::vector<std::string>{"event:old", "event:new"}));
}

TEST_F(RelayTest, RecordsWaitOutAnOutageAndAreDeliveredOnceAfterIt) {
  // The topic does not exist yet: every delivery fails, the records stay in the outbox.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_.Commit(Write("r" + std::to_string(i), "L" + std::to_string(i), 0, std::to_string(i), topic_)).ok());
  }
  auto producer = MakeProducer({{"topic.metadata.propagation.max.ms", "500"}});
  Relay relay(RedisOptions(), *producer, Options("relay-a"));
  relay.Start();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(*store_.OutboxLength(), 20) << "nothing is lost while Kafka refuses the records";
  ASSERT_TRUE(admin_->CreateTopic(topic_, 3).ok());
  ASSERT_TRUE(WaitOutboxEmpty(30s));
  relay.Stop(5s);
  auto values = ConsumeAll(20);
  EXPECT_EQ(values.size(), 20u);
  EXPECT_EQ(std::set<std::string>(values.begin(), values.end()).size(), 20u);
}

TEST_F(RelayTest, OneActiveRelayAndAStandbyThatTakesOver) {
  ASSERT_TRUE(admin_->CreateTopic(topic_, 3).ok());
  auto p1 = MakeProducer();
  auto p2 = MakeProducer();
  auto first = std::make_unique<Relay>(RedisOptions(), *p1, Options("relay-a"));
  Relay second(RedisOptions(), *p2, Options("relay-b"));
  first->Start();
  std::this_thread::sleep_for(300ms);
  second.Start();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_.Commit(Write("a" + std::to_string(i), "A" + std::to_string(i), 0, "a" + std::to_string(i), topic_)).ok());
  }
  ASSERT_TRUE(WaitOutboxEmpty());
  EXPECT_TRUE(first->leader());
  EXPECT_FALSE(second.leader());
  first->Stop(5s);  // releases the lease
  first.reset();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_.Commit(Write("b" + std::to_string(i), "B" + std::to_string(i), 0, "b" + std::to_string(i), topic_)).ok());
  }
  ASSERT_TRUE(WaitOutboxEmpty());
  EXPECT_TRUE(second.leader());
  second.Stop(5s);
  auto values = ConsumeAll(20);
  EXPECT_EQ(values.size(), 20u);
  EXPECT_EQ(std::set<std::string>(values.begin(), values.end()).size(), 20u);
}

}  // namespace
}  // namespace concord::outbox
