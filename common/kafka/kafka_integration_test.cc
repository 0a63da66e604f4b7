// Round trips through the real local broker started by scripts/infra.
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/kafka/admin.h"
#include "common/kafka/cloudevents.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"

namespace concord::kafka {
namespace {

using concord::testenv::Brokers;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;



class KafkaIntegrationTest : public testing::Test {
 protected:
  void SetUp() override {
    auto a = Admin::Create(Brokers());
    ASSERT_TRUE(a.ok()) << a.status();
    admin_ = std::move(*a);
    topic_ = Unique("concord.test.kafka");
    ASSERT_TRUE(admin_->CreateTopic(topic_, 3).ok());
  }
  void TearDown() override { (void)admin_->DeleteTopic(topic_); }

  std::unique_ptr<Producer> MakeProducer(Properties extra = {}) {
    auto p = Producer::Create({.brokers = Brokers(), .client_id = "kafka-test", .properties = std::move(extra)});
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(*p);
  }
  std::unique_ptr<Consumer> MakeConsumer(const std::string& group, RebalanceListener* listener = nullptr) {
    ConsumerOptions o;
    o.brokers = Brokers();
    o.group_id = group;
    o.topics = {topic_};
    o.listener = listener;
    o.auto_commit = false;
    auto c = Consumer::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  // Polls until n records arrive or 30 s pass.
  std::vector<Message> PollN(Consumer& c, size_t n) {
    std::vector<Message> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto m = c.Poll(std::chrono::milliseconds(200));
      if (m && !m->error()) out.push_back(std::move(*m));
    }
    return out;
  }

  std::unique_ptr<Admin> admin_;
  std::string topic_;
};

TEST_F(KafkaIntegrationTest, RoundTripKeepsKeysHeadersAndPerKeyOrder) {
  auto producer = MakeProducer();
  CloudEvent ce{"id-1", "/concord/test", "io.concord.test.v1", Rfc3339(std::chrono::system_clock::now()), "acme.com",
                "concord.events.v1.Event"};
  for (int i = 0; i < 10; ++i) {
    auto r = producer->ProduceSync(topic_, "acme.com", "payload-" + std::to_string(i), ToHeaders(ce),
                                   std::chrono::seconds(10));
    ASSERT_TRUE(r.ok()) << r.error_text;
  }
  auto consumer = MakeConsumer(Unique("g"));
  auto msgs = PollN(*consumer, 10);
  ASSERT_EQ(msgs.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(msgs[i].key(), "acme.com");
    EXPECT_EQ(msgs[i].value(), "payload-" + std::to_string(i)) << "one key stays in one partition, in order";
    auto back = FromHeaders(msgs[i].headers());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, ce);
    EXPECT_EQ(msgs[i].header("ce_subject").value_or(""), "acme.com");
  }
}

TEST_F(KafkaIntegrationTest, RecordNotStoredBeforeTheConsumerDiesIsDeliveredAgain) {
  auto producer = MakeProducer();
  for (const char* v : {"first", "second"}) {
    ASSERT_TRUE(producer->ProduceSync(topic_, "same-key", v, {}, std::chrono::seconds(10)).ok());
  }
  std::string group = Unique("g");
  {
    auto c1 = MakeConsumer(group);
    auto msgs = PollN(*c1, 2);
    ASSERT_EQ(msgs.size(), 2u);
    // Only the first is processed; the consumer "dies" before storing the second.
    ASSERT_TRUE(c1->Store(msgs[0]).ok());
    ASSERT_TRUE(c1->Commit().ok());
    ASSERT_TRUE(c1->Close().ok());
  }
  auto c2 = MakeConsumer(group);
  auto again = PollN(*c2, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].value(), "second");
}

class RecordingListener : public RebalanceListener {
 public:
  void OnAssigned(std::vector<TopicPartition>& p) override { assigned += p.size(); }
  void OnRevoked(const std::vector<TopicPartition>& p) override { revoked += p.size(); }
  std::atomic<size_t> assigned{0}, revoked{0};
};

TEST_F(KafkaIntegrationTest, RebalanceCallbacksSeeAssignmentAndRevocation) {
  RecordingListener listener;
  auto producer = MakeProducer();
  ASSERT_TRUE(producer->ProduceSync(topic_, "k", "v", {}, std::chrono::seconds(10)).ok());
  auto c = MakeConsumer(Unique("g"), &listener);
  ASSERT_EQ(PollN(*c, 1).size(), 1u);
  EXPECT_EQ(listener.assigned.load(), 3u);
  EXPECT_EQ(c->Assignment().size(), 3u);
  ASSERT_TRUE(c->Close().ok());
  EXPECT_EQ(listener.revoked.load(), 3u);
}

TEST_F(KafkaIntegrationTest, ProducingToAMissingTopicFailsWithoutRetry) {
  // The broker does not auto-create topics; librdkafka gives up once metadata says so.
  auto producer = MakeProducer({{"topic.metadata.propagation.max.ms", "1000"}});
  auto r = producer->ProduceSync(Unique("concord.test.missing"), "k", "v", {}, std::chrono::seconds(40));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.retryable) << rd_kafka_err2name(r.error);
}

}  // namespace
}  // namespace concord::kafka
