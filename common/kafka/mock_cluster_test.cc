// Fault injection against librdkafka's in-process mock cluster: how failures surface as
// typed delivery results. The real broker is exercised in kafka_integration_test.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <gtest/gtest.h>

#include "common/kafka/producer.h"

namespace concord::kafka {
namespace {

constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of Produce

class MockClusterTest : public testing::Test {
 protected:
  void SetUp() override {
    auto conf = MakeConf({{"test.mock.num.brokers", "1"}});
    ASSERT_TRUE(conf.ok());
    char err[256];
    host_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
    ASSERT_TRUE(host_) << err;
    cluster_ = rd_kafka_handle_mock_cluster(host_.get());
    ASSERT_NE(cluster_, nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "t", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    brokers_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }

  std::unique_ptr<Producer> MakeProducer(int delivery_timeout_ms, Properties extra = {}) {
    ProducerOptions opts;
    opts.brokers = brokers_;
    opts.delivery_timeout_ms = delivery_timeout_ms;
    opts.properties = std::move(extra);
    auto p = Producer::Create(opts);
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(*p);
  }

  KafkaPtr host_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string brokers_;
};

TEST_F(MockClusterTest, DeliveredRecordReportsPartitionAndOffset) {
  auto p = MakeProducer(5000);
  auto r = p->ProduceSync("t", "k", "v", {{"h", "1"}}, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_EQ(r.topic, "t");
  EXPECT_EQ(r.partition, 0);
  EXPECT_GE(r.offset, 0);
}

TEST_F(MockClusterTest, BrokerDownGivesARetryableTimeout) {
  auto p = MakeProducer(1500);
  ASSERT_TRUE(p->ProduceSync("t", "k", "warm-up", {}, std::chrono::seconds(10)).ok());
  rd_kafka_mock_broker_set_down(cluster_, 1);
  auto r = p->ProduceSync("t", "k", "v", {}, std::chrono::seconds(10));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) << rd_kafka_err2name(r.error);
  EXPECT_TRUE(r.retryable);
  EXPECT_TRUE(absl::IsUnavailable(r.status()));
  rd_kafka_mock_broker_set_up(cluster_, 1);
  // "Retryable" means exactly this: producing the same record again succeeds once the
  // broker is back (reconnect backoff may eat the first attempts).
  DeliveryResult again;
  again.error = RD_KAFKA_RESP_ERR__FAIL;
  for (int i = 0; i < 10 && !again.ok(); ++i) {
    again = p->ProduceSync("t", "k", "v", {}, std::chrono::seconds(10));
    if (!again.ok()) {
      ASSERT_TRUE(again.retryable) << again.error_text;
    }
  }
  EXPECT_TRUE(again.ok()) << again.error_text;
}

TEST_F(MockClusterTest, TransientBrokerErrorsAreRetriedByTheIdempotentProducer) {
  auto p = MakeProducer(10000);
  ASSERT_TRUE(p->ProduceSync("t", "k", "warm-up", {}, std::chrono::seconds(10)).ok());
  rd_kafka_mock_push_request_errors(cluster_, kProduceApiKey, 2, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  auto r = p->ProduceSync("t", "k", "v", {}, std::chrono::seconds(15));
  EXPECT_TRUE(r.ok()) << r.error_text;
}

TEST_F(MockClusterTest, OversizedRecordIsRefusedAsNotRetryable) {
  auto p = MakeProducer(5000, {{"message.max.bytes", "2000"}});
  auto r = p->ProduceSync("t", "k", std::string(5000, 'x'), {}, std::chrono::seconds(5));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.retryable);
}

TEST_F(MockClusterTest, InvalidPropertyIsNamed) {
  ProducerOptions opts;
  opts.brokers = brokers_;
  opts.properties = {{"no.such.property", "1"}};
  auto p = Producer::Create(opts);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("no.such.property"), std::string::npos);
}

}  // namespace
}  // namespace concord::kafka
