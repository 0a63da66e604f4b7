// TLS and SASL/SCRAM against the real local broker's secure listeners (scripts/infra): the
// right credentials produce and consume; no credentials, a wrong password, an untrusted CA,
// an expired broker certificate and a broker name the certificate does not cover each fail
// with an error that names the cause, through librdkafka's and OpenSSL's real verification;
// the wrong password never reaches the logs.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/logging/log.h"
#include "common/testing/env.h"

namespace concord::kafka {
namespace {

using namespace std::chrono_literals;
using concord::testenv::KafkaSecureDir;
using concord::testenv::KafkaSecureProperties;
using concord::testenv::Unique;

std::string Get(const Properties& props, const std::string& key) {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return "";
}

Properties With(Properties props, const std::string& key, const std::string& value) {
  std::erase_if(props, [&](const auto& kv) { return kv.first == key; });
  if (!value.empty()) props.emplace_back(key, value);
  return props;
}

// stdout and stderr captured for the scope (released even when an assertion returns early).
class CapturedOutput {
 public:
  CapturedOutput() {
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
  }
  ~CapturedOutput() { (void)Take(); }
  std::string Take() {
    if (taken_) return "";
    taken_ = true;
    return testing::internal::GetCapturedStdout() + testing::internal::GetCapturedStderr();
  }

 private:
  bool taken_ = false;
};

class KafkaSecurityTest : public testing::Test {
 protected:
  void SetUp() override {
    log::Init("kafka-security-test", "debug");  // librdkafka's lines too, to search them for secrets
    props_ = KafkaSecureProperties("client.properties");
    ASSERT_FALSE(props_.empty()) << "no " << KafkaSecureDir()
                                 << "/client.properties: the local broker's SASL_SSL listener is not set up. Run "
                                    "scripts/infra up; a broker started by an older scripts/infra needs "
                                    "scripts/infra stop-kafka && scripts/infra start-kafka";
    brokers_ = Get(props_, "bootstrap.servers");
    props_ = With(props_, "bootstrap.servers", "");
    password_ = Get(props_, "sasl.password");
    ASSERT_FALSE(password_.empty());
  }

  std::unique_ptr<Producer> MakeProducer(const std::string& brokers, const Properties& props) {
    auto p = Producer::Create({.brokers = brokers, .client_id = "security-test", .properties = props,
                               .delivery_timeout_ms = 3000});
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Pings until the status is UNAUTHENTICATED (the monitor explained the failure) or 20 s pass.
  static absl::Status WaitForExplainedFailure(const std::function<absl::Status()>& ping) {
    absl::Status s = absl::UnknownError("not pinged");
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      s = ping();
      if (absl::IsUnauthenticated(s)) break;
      EXPECT_FALSE(s.ok()) << "the broker answered a client that should be refused";
      if (s.ok()) break;
    }
    return s;
  }

  std::string brokers_;
  Properties props_;
  std::string password_;
};

TEST_F(KafkaSecurityTest, RightCredentialsProduceAndConsume) {
  auto admin = Admin::Create(brokers_, props_);
  ASSERT_TRUE(admin.ok()) << admin.status();
  std::string topic = Unique("concord.test.secure");
  ASSERT_TRUE((*admin)->CreateTopic(topic, 1).ok());

  std::string out;
  {
    CapturedOutput captured;
    auto producer = MakeProducer(brokers_, With(props_, "debug", "security,broker,conf"));
    ASSERT_TRUE(producer);
    ASSERT_TRUE(producer->Ping(10s).ok());
    for (int i = 0; i < 3; ++i) {
      auto r = producer->ProduceSync(topic, "k", "v" + std::to_string(i), {{"h", "1"}}, 15s);
      ASSERT_TRUE(r.ok()) << r.error_text;
    }
    producer.reset();
    out = captured.Take();
  }
  EXPECT_NE(out.find("\"msg\":\"librdkafka\""), std::string::npos) << "librdkafka's debug lines were not logged";
  EXPECT_EQ(out.find(password_), std::string::npos) << "the password was logged";

  ConsumerOptions o;
  o.brokers = brokers_;
  o.group_id = Unique("security-test");
  o.topics = {topic};
  o.properties = props_;
  auto consumer = Consumer::Create(o);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  std::vector<std::string> values;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (values.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto m = (*consumer)->Poll(200ms);
    if (m && !m->error()) values.emplace_back(m->value());
  }
  EXPECT_EQ(values, (std::vector<std::string>{"v0", "v1", "v2"}));
  EXPECT_TRUE((*consumer)->Close().ok());
  consumer->reset();  // before the topic goes: librdkafka 2.0.2 can hang destroying a consumer of a deleted topic
  EXPECT_TRUE((*admin)->DeleteTopic(topic).ok());
}

TEST_F(KafkaSecurityTest, WrongPasswordFailsClearlyAndIsNeverLogged) {
  const std::string wrong = "wrong-" + Unique("pw");
  auto props = With(props_, "sasl.password", wrong);
  // Every librdkafka debug context that could quote a credential, all routed into our log.
  props.emplace_back("debug", "security,broker,protocol,conf,generic,metadata");
  absl::Status producer_status, consumer_status;
  DeliveryResult delivery;
  std::string out;
  {
    CapturedOutput captured;
    auto producer = MakeProducer(brokers_, props);
    ASSERT_TRUE(producer);
    producer_status = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
    delivery = producer->ProduceSync(Unique("concord.test.secure"), "k", "v", {}, 10s);

    ConsumerOptions o;
    o.brokers = brokers_;
    o.group_id = Unique("security-test");
    o.topics = {"concord.test.never"};
    o.properties = props;
    auto consumer = Consumer::Create(o);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_status = WaitForExplainedFailure([&] {
      (void)(*consumer)->Poll(200ms);  // serves the consumer's error callbacks
      return (*consumer)->Ping(300ms);
    });
    consumer->reset();
    producer.reset();
    out = captured.Take();
  }

  EXPECT_TRUE(absl::IsUnauthenticated(producer_status)) << producer_status;
  EXPECT_NE(producer_status.message().find("kafka authentication failed"), std::string::npos) << producer_status;
  EXPECT_NE(producer_status.message().find("invalid credentials with SASL mechanism SCRAM-SHA-512"), std::string::npos)
      << producer_status;
  EXPECT_TRUE(absl::IsUnauthenticated(consumer_status)) << consumer_status;
  EXPECT_FALSE(delivery.ok());
  EXPECT_NE(delivery.error_text.find("authentication failure"), std::string::npos) << delivery.error_text;

  EXPECT_NE(out.find("\"msg\":\"kafka authentication failed\""), std::string::npos) << out.substr(0, 4000);
  EXPECT_NE(out.find("\"msg\":\"librdkafka\""), std::string::npos) << "librdkafka's debug lines were not logged";
  EXPECT_EQ(out.find(wrong), std::string::npos) << "the wrong password was logged";
}

TEST_F(KafkaSecurityTest, NoCredentialsIsAProtocolMismatch) {
  // TLS with the right CA, but no SASL login: the listener drops the connection.
  auto props = With(With(With(With(props_, "sasl.password", ""), "sasl.username", ""), "sasl.mechanisms", ""),
                    "security.protocol", "SSL");
  auto producer = MakeProducer(brokers_, props);
  ASSERT_TRUE(producer);
  auto s = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("kafka security protocol mismatch"), std::string::npos) << s;
  EXPECT_NE(s.message().find("broker might require SASL authentication"), std::string::npos) << s;
}

TEST_F(KafkaSecurityTest, PlaintextClientOnTheTlsListenerIsAProtocolMismatch) {
  auto producer = MakeProducer(brokers_, {});
  ASSERT_TRUE(producer);
  auto s = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("kafka security protocol mismatch: 127.0.0.1:"), std::string::npos) << s;
  EXPECT_NE(s.message().find("connecting to a SSL listener?"), std::string::npos) << s;
}

TEST_F(KafkaSecurityTest, UntrustedCaIsRefused) {
  auto props = With(props_, "ssl.ca.location", KafkaSecureDir() + "/untrusted-ca.pem");
  auto producer = MakeProducer(brokers_, props);
  ASSERT_TRUE(producer);
  auto s = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("kafka TLS handshake failed"), std::string::npos) << s;
  EXPECT_NE(s.message().find("certificate verify failed"), std::string::npos) << s;
  // OpenSSL's reason: the chain ends in a CA that is not the configured one.
  EXPECT_NE(s.message().find("broker certificate rejected: self-signed certificate in certificate chain "
                             "(certificate /CN=Concord local test CA"),
            std::string::npos)
      << s;
}

TEST_F(KafkaSecurityTest, ExpiredBrokerCertificateIsRefused) {
  auto expired = KafkaSecureProperties("expired.properties");
  ASSERT_FALSE(expired.empty()) << "no " << KafkaSecureDir() << "/expired.properties: run scripts/infra up";
  // The same CA, user and password as the good listener: only the certificate differs.
  auto producer = MakeProducer(Get(expired, "bootstrap.servers"), props_);
  ASSERT_TRUE(producer);
  auto s = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("kafka TLS handshake failed"), std::string::npos) << s;
  EXPECT_NE(s.message().find("broker certificate rejected: certificate has expired (certificate /CN=localhost, "
                             "the broker's own)"),
            std::string::npos)
      << s;
}

// "127.1" reaches 127.0.0.1, but the certificate names only 127.0.0.1 and localhost: the host
// name check (librdkafka's default) still applies with the certificate callback installed.
TEST_F(KafkaSecurityTest, BrokerNameNotInTheCertificateIsRefused) {
  auto producer = MakeProducer("127.1" + brokers_.substr(brokers_.rfind(':')), props_);
  ASSERT_TRUE(producer);
  auto s = WaitForExplainedFailure([&] { return producer->Ping(500ms); });
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("broker certificate rejected: hostname mismatch (certificate /CN=localhost"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace concord::kafka
