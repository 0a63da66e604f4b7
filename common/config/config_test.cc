#include "common/config/config.h"

#include <cstdlib>
#include <fstream>

#include <functional>

#include <gtest/gtest.h>

namespace concord::config {
namespace {

std::optional<int> ParseArgs(Parser& p, std::vector<const char*> args) {
  args.insert(args.begin(), "concord-test");
  return p.Parse(static_cast<int>(args.size()), args.data());
}

TEST(ConfigTest, EnvNameFromFlag) {
  EXPECT_EQ(EnvName("--redis-port"), "CONCORD_REDIS_PORT");
  EXPECT_EQ(EnvName("--kafka-brokers"), "CONCORD_KAFKA_BROKERS");
}

TEST(ConfigTest, DefaultsFlagsAndEnvironment) {
  ::setenv("CONCORD_REDIS_HOST", "redis.internal", 1);
  ::setenv("CONCORD_REDIS_PORT", "7000", 1);
  CommonConfig cfg;
  Parser p("concord-test", "test");
  p.AddCommon(&cfg, {"0.0.0.0:50051", "0.0.0.0:9101"});
  auto rc = ParseArgs(p, {"--redis-port", "7001", "--kafka-property", "linger.ms=1"});
  ::unsetenv("CONCORD_REDIS_HOST");
  ::unsetenv("CONCORD_REDIS_PORT");
  ASSERT_FALSE(rc.has_value());
  EXPECT_EQ(cfg.redis.host, "redis.internal");  // from the environment
  EXPECT_EQ(cfg.redis.port, 7001);              // the flag wins over the environment
  EXPECT_EQ(cfg.server.grpc_listen, "0.0.0.0:50051");
  ASSERT_EQ(cfg.kafka.Properties().size(), 1u);
  EXPECT_EQ(cfg.kafka.Properties()[0].first, "linger.ms");
  EXPECT_TRUE(Validate(cfg).empty());
}

TEST(ConfigTest, OutOfRangeIsRefusedWithExitCode2) {
  CommonConfig cfg;
  Parser p("concord-test", "test");
  p.AddCommon(&cfg, {"0.0.0.0:50051", "0.0.0.0:9101"});
  testing::internal::CaptureStderr();
  auto rc = ParseArgs(p, {"--redis-port", "0"});
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(err.find("--redis-port"), std::string::npos) << err;
}

TEST(ConfigTest, HelpListsEveryFlagWithItsVariableAndDefault) {
  CommonConfig cfg;
  Parser p("concord-test", "test");
  p.AddCommon(&cfg, {"0.0.0.0:50051", "0.0.0.0:9101"});
  testing::internal::CaptureStdout();
  auto rc = ParseArgs(p, {"--help"});
  std::string out = testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, std::optional<int>(0));
  EXPECT_NE(out.find("CONCORD_REDIS_PORT"), std::string::npos) << out;
  EXPECT_NE(out.find("6379"), std::string::npos) << out;
  EXPECT_NE(out.find("CONCORD_KAFKA_BROKERS"), std::string::npos);
}

TEST(ConfigTest, ValidateNamesTheSettingAndTheProblem) {
  CommonConfig cfg;
  cfg.server.grpc_listen = "nonsense";
  cfg.server.admin_listen = "0.0.0.0:9101";
  cfg.kafka.properties = {"novalue", "sasl.password=hunter2"};
  auto problems = Validate(cfg);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "--grpc-listen (CONCORD_GRPC_LISTEN): 'nonsense' is not host:port");
  EXPECT_NE(problems[1].find("'novalue' is not key=value"), std::string::npos);
  EXPECT_NE(problems[2].find("--kafka-sasl-password"), std::string::npos);
}

TEST(ConfigTest, TlsAndTokenFilesAreCheckedAtStartUp) {
  CommonConfig cfg;
  cfg.server.grpc_listen = "0.0.0.0:50051";
  cfg.server.admin_listen = "0.0.0.0:9101";
  cfg.server.tls_client_ca = "/etc/hosts";  // readable, but mTLS without TLS
  cfg.server.tls_key = "/nonexistent/server.key";
  cfg.server.auth_tokens_file = "/nonexistent/tokens.yaml";
  auto problems = Validate(cfg);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0], "--grpc-tls-cert (CONCORD_GRPC_TLS_CERT): is required with --grpc-tls-key");
  EXPECT_NE(problems[1].find("--grpc-tls-client-ca (CONCORD_GRPC_TLS_CLIENT_CA): needs --grpc-tls-cert"), std::string::npos);
  EXPECT_EQ(problems[2], "--grpc-tls-key (CONCORD_GRPC_TLS_KEY): '/nonexistent/server.key' is missing or not readable");
  EXPECT_EQ(problems[3], "--auth-tokens-file (CONCORD_AUTH_TOKENS_FILE): '/nonexistent/tokens.yaml' is missing or not readable");

  cfg.server.tls_cert = "/etc/hosts";
  cfg.server.tls_key = "";
  problems = Validate(cfg);
  ASSERT_GE(problems.size(), 1u);
  EXPECT_EQ(problems[0], "--grpc-tls-key (CONCORD_GRPC_TLS_KEY): is required with --grpc-tls-cert");
}

TEST(ConfigTest, SecretsAreRedactedInTheStartupDump) {
  CommonConfig cfg;
  cfg.kafka.sasl_password = "hunter2";
  cfg.kafka.properties = {"ssl.key.password=abc", "security.protocol=SASL_SSL"};
  cfg.redis.password = "pw";
  std::string dump = ToJson(cfg).dump();
  EXPECT_EQ(dump.find("hunter2"), std::string::npos);
  EXPECT_EQ(dump.find("abc"), std::string::npos);
  EXPECT_EQ(dump.find("\"pw\""), std::string::npos);
  EXPECT_NE(dump.find("SASL_SSL"), std::string::npos);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/concord-config-test-" + name;
  std::ofstream(path) << text;
  return path;
}
const char* kPemCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const char* kPemKey = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

TEST(ConfigTest, KafkaSecurityFlagsBecomeLibrdkafkaProperties) {
  std::string ca = WriteFile("ca.pem", kPemCert);
  ::setenv("CONCORD_KAFKA_SASL_PASSWORD", "from-the-secret", 1);
  CommonConfig cfg;
  Parser p("concord-test", "test");
  p.AddCommon(&cfg, {"0.0.0.0:50051", "0.0.0.0:9101"});
  auto rc = ParseArgs(p, {"--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-mechanism", "scram-sha-512",
                          "--kafka-sasl-username", "concord", "--kafka-ssl-ca", ca.c_str(), "--kafka-property",
                          "linger.ms=1"});
  ::unsetenv("CONCORD_KAFKA_SASL_PASSWORD");
  ASSERT_FALSE(rc.has_value());
  EXPECT_TRUE(Validate(cfg).empty()) << Validate(cfg)[0];
  using Props = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(cfg.kafka.Properties(), (Props{{"security.protocol", "sasl_ssl"},
                                           {"sasl.mechanisms", "SCRAM-SHA-512"},
                                           {"sasl.username", "concord"},
                                           {"sasl.password", "from-the-secret"},
                                           {"ssl.ca.location", ca},
                                           {"linger.ms", "1"}}));
  EXPECT_EQ(KafkaFlagFor("ssl.ca.location"), "--kafka-ssl-ca");
  EXPECT_EQ(KafkaFlagFor("sasl.mechanism"), "--kafka-sasl-mechanism");
  EXPECT_EQ(KafkaFlagFor("linger.ms"), "");
}

// One misconfiguration per case, and the one problem it must produce.
TEST(ConfigTest, KafkaSecurityProblemsNameTheFlag) {
  std::string ca = WriteFile("ca2.pem", kPemCert);
  std::string key = WriteFile("key.pem", kPemKey);
  std::string encrypted = WriteFile("enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n");
  std::string garbage = WriteFile("garbage.pem", "not a certificate\n");
  struct Case {
    std::function<void(KafkaConfig&)> set;
    std::string problem;
  };
  auto sasl_ssl = [](KafkaConfig& k) {
    k.security_protocol = "sasl_ssl";
    k.sasl_mechanism = "SCRAM-SHA-512";
    k.sasl_username = "concord";
    k.sasl_password = "pw";
  };
  std::vector<Case> cases = {
      {[](KafkaConfig& k) { k.security_protocol = "tls"; },
       "--kafka-security-protocol (CONCORD_KAFKA_SECURITY_PROTOCOL): 'tls' is not one of plaintext, ssl, "
       "sasl_plaintext, sasl_ssl"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.sasl_mechanism = "GSSAPI"; },
       "--kafka-sasl-mechanism (CONCORD_KAFKA_SASL_MECHANISM): 'GSSAPI' is not one of SCRAM-SHA-256, SCRAM-SHA-512, PLAIN"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.sasl_mechanism = ""; },
       "--kafka-sasl-mechanism (CONCORD_KAFKA_SASL_MECHANISM): required with --kafka-security-protocol sasl_ssl "
       "(SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN)"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.sasl_username = ""; },
       "--kafka-sasl-username (CONCORD_KAFKA_SASL_USERNAME): required with --kafka-security-protocol sasl_ssl"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.sasl_password = ""; },
       "--kafka-sasl-password (CONCORD_KAFKA_SASL_PASSWORD): required with --kafka-security-protocol sasl_ssl"},
      {[](KafkaConfig& k) { k.sasl_username = "concord"; },
       "--kafka-sasl-username (CONCORD_KAFKA_SASL_USERNAME): set, but --kafka-security-protocol is plaintext (the "
       "default): SASL needs sasl_ssl or sasl_plaintext"},
      {[&](KafkaConfig& k) { k.security_protocol = "sasl_plaintext"; k.sasl_mechanism = "PLAIN"; k.sasl_username = "u";
                             k.sasl_password = "p"; k.ssl_ca = ca; },
       "--kafka-ssl-ca (CONCORD_KAFKA_SSL_CA): set, but --kafka-security-protocol is sasl_plaintext: TLS needs ssl or "
       "sasl_ssl"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.ssl_ca = "/nonexistent/ca.pem"; },
       "--kafka-ssl-ca (CONCORD_KAFKA_SSL_CA): /nonexistent/ca.pem: no such file"},
      {[&](KafkaConfig& k) { sasl_ssl(k); k.ssl_ca = garbage; },
       "--kafka-ssl-ca (CONCORD_KAFKA_SSL_CA): " + garbage + " holds no PEM certificate"},
      {[&](KafkaConfig& k) { k.security_protocol = "ssl"; k.ssl_cert = ca; },
       "--kafka-ssl-key (CONCORD_KAFKA_SSL_KEY): required with --kafka-ssl-cert (the certificate's private key)"},
      {[&](KafkaConfig& k) { k.security_protocol = "ssl"; k.ssl_cert = ca; k.ssl_key = ca; },
       "--kafka-ssl-key (CONCORD_KAFKA_SSL_KEY): " + ca + " holds no PEM private key"},
      {[&](KafkaConfig& k) { k.security_protocol = "ssl"; k.ssl_cert = ca; k.ssl_key = encrypted; },
       "--kafka-ssl-key-password (CONCORD_KAFKA_SSL_KEY_PASSWORD): required: " + encrypted + " is encrypted"},
      {[&](KafkaConfig& k) { k.security_protocol = "ssl"; k.ssl_key_password = "x"; },
       "--kafka-ssl-key-password (CONCORD_KAFKA_SSL_KEY_PASSWORD): set, but there is no --kafka-ssl-key"},
      {[](KafkaConfig& k) { k.properties = {"security.protocol=SASL_SSL"}; },
       "--kafka-property (CONCORD_KAFKA_PROPERTY): security.protocol has its own setting: use "
       "--kafka-security-protocol (CONCORD_KAFKA_SECURITY_PROTOCOL)"},
      {[](KafkaConfig& k) { k.properties = {"sasl.mechanism=PLAIN"}; },
       "--kafka-property (CONCORD_KAFKA_PROPERTY): sasl.mechanism has its own setting: use --kafka-sasl-mechanism "
       "(CONCORD_KAFKA_SASL_MECHANISM)"},
      {[](KafkaConfig& k) { k.properties = {"ssl.key.password=abc"}; },
       "--kafka-property (CONCORD_KAFKA_PROPERTY): ssl.key.password has its own setting: use "
       "--kafka-ssl-key-password (CONCORD_KAFKA_SSL_KEY_PASSWORD), a secret that is never printed"},
      {[](KafkaConfig& k) { k.properties = {"ssl.keystore.password=ab", "cd"}; },
       "--kafka-property (CONCORD_KAFKA_PROPERTY): the entry after ssl.keystore.password is not key=value (a comma in "
       "a secret's value splits it: pass that property as its own flag)"},
  };
  for (const auto& c : cases) {
    CommonConfig cfg;
    cfg.server.grpc_listen = "0.0.0.0:50051";
    cfg.server.admin_listen = "0.0.0.0:9101";
    c.set(cfg.kafka);
    auto problems = Validate(cfg);
    ASSERT_EQ(problems.size(), 1u) << c.problem << "\n got: " << (problems.empty() ? "nothing" : problems[0]);
    EXPECT_EQ(problems[0], c.problem);
  }
  // And the complete settings for mutual TLS pass.
  CommonConfig cfg;
  cfg.server.grpc_listen = "0.0.0.0:50051";
  cfg.server.admin_listen = "0.0.0.0:9101";
  sasl_ssl(cfg.kafka);
  cfg.kafka.ssl_ca = ca;
  cfg.kafka.ssl_cert = ca;
  cfg.kafka.ssl_key = key;
  EXPECT_TRUE(Validate(cfg).empty()) << Validate(cfg)[0];
}

TEST(ConfigTest, EveryKafkaSecretIsRedactedInTheStartupDump) {
  CommonConfig cfg;
  cfg.kafka.security_protocol = "SASL_SSL";
  cfg.kafka.sasl_username = "concord";
  cfg.kafka.sasl_password = "secret-1";
  cfg.kafka.ssl_ca = "/etc/concord/kafka-tls/ca.crt";
  cfg.kafka.ssl_key_password = "secret-2";
  cfg.kafka.properties = {"ssl.keystore.password=secret-3", "sasl.oauthbearer.client.secret=secret-4",
                          "ssl.key.pem=secret-5", "sasl.oauthbearer.config=secret-6", "linger.ms=7"};
  auto j = ToJson(cfg);
  std::string dump = j.dump();
  EXPECT_EQ(dump.find("secret-"), std::string::npos) << dump;
  EXPECT_EQ(j["kafka_security"]["protocol"], "sasl_ssl");
  EXPECT_EQ(j["kafka_security"]["sasl_username"], "concord");
  EXPECT_EQ(j["kafka_security"]["sasl_password"], "<redacted>");
  EXPECT_EQ(j["kafka_security"]["ssl_key_password"], "<redacted>");
  EXPECT_EQ(j["kafka_security"]["ssl_ca"], "/etc/concord/kafka-tls/ca.crt");
  EXPECT_EQ(j["kafka_properties"]["ssl.keystore.password"], "<redacted>");
  EXPECT_EQ(j["kafka_properties"]["linger.ms"], "7");
}

}  // namespace
}  // namespace concord::config
