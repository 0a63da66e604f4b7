// Secrets kept out of logs, and librdkafka's connection failures classified and explained.
// The real broker's TLS and SASL listeners are exercised in kafka_security_test.
#include "common/kafka/security.h"

#include <openssl/x509_vfy.h>

#include <gtest/gtest.h>

#include "common/logging/log.h"

namespace concord::kafka {
namespace {

// Reasons as librdkafka 2.0.2 reports them against scripts/infra's broker.
constexpr const char* kWrongPassword =
    "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication "
    "due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 312ms in state AUTH_REQ, 1 identical "
    "error(s) suppressed)";
constexpr const char* kUntrusted =
    "sasl_ssl://127.0.0.1:9094/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify "
    "failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root "
    "CA certificates are installed (install ca-certificates package) (after 6ms in state SSL_HANDSHAKE)";
constexpr const char* kNoSasl =
    "ssl://127.0.0.1:9094/bootstrap: Disconnected: verify that security.protocol is correctly configured, broker "
    "might require SASL authentication (after 344ms in state UP)";

TEST(KafkaSecurityUnitTest, SensitivePropertiesAreTheSecretsOnly) {
  for (const char* k : {"sasl.password", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
                        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "SASL.PASSWORD",
                        "some.future.api.token"}) {
    EXPECT_TRUE(IsSensitiveProperty(k)) << k;
  }
  for (const char* k : {"sasl.username", "ssl.key.location", "ssl.ca.location", "ssl.certificate.location",
                        "security.protocol", "bootstrap.servers", "sasl.mechanisms"}) {
    EXPECT_FALSE(IsSensitiveProperty(k)) << k;
  }
  auto r = Redacted({{"sasl.username", "concord"}, {"sasl.password", "hunter2hunter2"}, {"ssl.key.password", ""}});
  EXPECT_EQ(r[0].second, "concord");
  EXPECT_EQ(r[1].second, "<redacted>");
  EXPECT_EQ(r[2].second, "");  // an unset secret stays visibly unset
}

TEST(KafkaSecurityUnitTest, ScrubberRemovesEverySecretValue) {
  Scrubber scrub({{"sasl.password", "s3cr3t-pw"}, {"ssl.key.password", "s3cr3t-pw-longer"}, {"sasl.username", "concord"},
                  {"ssl.keystore.password", "abc"}});
  EXPECT_EQ(scrub("user concord pw s3cr3t-pw and s3cr3t-pw-longer"), "user concord pw <redacted> and <redacted>");
  EXPECT_EQ(scrub("abc stays: too short to search for"), "abc stays: too short to search for");
}

TEST(KafkaSecurityUnitTest, ClassifiesLibrdkafkaFailures) {
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__AUTHENTICATION, kWrongPassword), FailureKind::kAuthentication);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__SSL, kUntrusted), FailureKind::kTls);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__TRANSPORT,
                          "sasl_ssl://127.0.0.1:9095/bootstrap: error:0A000086:SSL routines::certificate verify failed "
                          "(after 35ms in state SSL_HANDSHAKE)"),
            FailureKind::kTls);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__TRANSPORT, kNoSasl), FailureKind::kProtocol);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__SSL,
                          "ssl://127.0.0.1:9092/bootstrap: SSL handshake failed: Disconnected: connecting to a "
                          "PLAINTEXT broker listener? (after 1ms in state SSL_HANDSHAKE)"),
            FailureKind::kProtocol);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__TRANSPORT,
                          "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"),
            FailureKind::kOther);
  EXPECT_EQ(ClassifyError(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down"), FailureKind::kOther);
  EXPECT_EQ(StableReason(kWrongPassword),
            "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during "
            "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512");
}

// The verification callback keeps OpenSSL's verdict and only adds the reason.
TEST(KafkaSecurityUnitTest, CertificateVerdictIsOpenSslsWithItsReason) {
  char errstr[512] = "untouched";
  int err = X509_V_OK;
  EXPECT_EQ(VerifyBrokerCertificate(&err, 0, "", 0, errstr, sizeof errstr), 1);
  EXPECT_STREQ(errstr, "untouched");
  for (int code : {X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_CERT_NOT_YET_VALID}) {
    err = code;
    EXPECT_EQ(VerifyBrokerCertificate(&err, 0, "not DER", 7, errstr, sizeof errstr), 0) << code;
    EXPECT_EQ(err, code);  // the handshake fails with OpenSSL's own error
    EXPECT_NE(std::string(errstr).find(X509_verify_cert_error_string(code)), std::string::npos) << errstr;
  }
  err = X509_V_ERR_CERT_HAS_EXPIRED;
  VerifyBrokerCertificate(&err, 1, "", 0, errstr, sizeof errstr);
  EXPECT_STREQ(errstr, "certificate has expired (certificate ?, chain depth 1)");
}

class MonitorTest : public testing::Test {
 protected:
  void SetUp() override { log::Init("kafka-test", "info"); }
};

TEST_F(MonitorTest, AnAuthenticationFailureIsLoggedOnceAndExplainsTimeouts) {
  ConnectionMonitor m("producer test", {{"sasl.password", "the-wrong-password"}});
  testing::internal::CaptureStdout();
  m.OnError(nullptr, RD_KAFKA_RESP_ERR__AUTHENTICATION, kWrongPassword);
  m.OnError(nullptr, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down");
  m.OnError(nullptr, RD_KAFKA_RESP_ERR__AUTHENTICATION, kWrongPassword);  // the same cause: not again
  m.OnLog(3, "FAIL", "a line quoting the-wrong-password");
  std::string out = testing::internal::GetCapturedStdout();

  EXPECT_EQ(out.find("the-wrong-password"), std::string::npos) << out;
  size_t first = out.find("\"msg\":\"kafka authentication failed\"");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_EQ(out.find("\"msg\":\"kafka authentication failed\"", first + 1), std::string::npos) << out;
  EXPECT_NE(out.find("\"level\":\"error\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"broker\":\"sasl_ssl://127.0.0.1:9094/bootstrap\""), std::string::npos) << out;
  EXPECT_NE(out.find("invalid credentials with SASL mechanism SCRAM-SHA-512\""), std::string::npos) << out;
  EXPECT_NE(out.find("a line quoting <redacted>"), std::string::npos) << out;

  auto s = m.Explain(absl::UnavailableError("kafka metadata: _TIMED_OUT: Local: Timed out"));
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_NE(s.message().find("kafka authentication failed: sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication "
                             "error: Authentication failed during authentication due to invalid credentials"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("Timed out"), std::string::npos) << s;

  m.Succeeded();
  auto plain = absl::UnavailableError("kafka metadata: _TIMED_OUT");
  EXPECT_EQ(m.Explain(plain), plain);
}

TEST_F(MonitorTest, ACertificateProblemNamesTheReasonAndARefusedConnectionReplacesIt) {
  ConnectionMonitor m("consumer test", {});
  m.OnCertificateProblem("sasl_ssl://127.0.0.1:9095/bootstrap", "certificate has expired (certificate /CN=localhost, the broker's own)");
  testing::internal::CaptureStdout();
  m.OnError(nullptr, RD_KAFKA_RESP_ERR__SSL, kUntrusted);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("\"msg\":\"kafka TLS handshake failed\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"cause\":\"broker certificate rejected: certificate has expired (certificate /CN=localhost"),
            std::string::npos)
      << out;
  ASSERT_TRUE(m.LastFailure().has_value());
  EXPECT_EQ(m.LastFailure()->kind, FailureKind::kTls);

  m.OnError(nullptr, RD_KAFKA_RESP_ERR__TRANSPORT,
            "sasl_ssl://127.0.0.1:9094/bootstrap: Connect to ipv4#127.0.0.1:9094 failed: Connection refused");
  EXPECT_FALSE(m.LastFailure().has_value());
}

}  // namespace
}  // namespace concord::kafka
