#include "common/config/config.h"

#include <cstdlib>

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

}  // namespace
}  // namespace concord::config
