#pragma once
// Configuration: command-line flags and CONCORD_* environment variables parsed into one
// typed struct per service, validated before anything starts. Every flag --foo-bar has the
// environment variable CONCORD_FOO_BAR; a flag on the command line wins over the variable.

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <absl/status/status.h>
#include <nlohmann/json.hpp>

namespace concord::config {

struct KafkaConfig {
  std::string brokers = "127.0.0.1:9092";
  // Connection security: what platform teams set, each its own checked flag. Empty means
  // unset (librdkafka's default: plaintext, no SASL, the system CA store).
  std::string security_protocol;  // plaintext, ssl, sasl_plaintext, sasl_ssl (any case)
  std::string sasl_mechanism;     // SCRAM-SHA-256, SCRAM-SHA-512, PLAIN (any case)
  std::string sasl_username;
  std::string sasl_password;      // secret: never printed
  std::string ssl_ca;             // PEM file with the CA(s) that signed the broker certificates
  std::string ssl_cert;           // PEM file with this client's certificate (mutual TLS)
  std::string ssl_key;            // PEM file with that certificate's private key
  std::string ssl_key_password;   // secret: the passphrase of an encrypted ssl_key
  // Any other librdkafka property as key=value (tuning, OAUTHBEARER, keystores, ...).
  std::vector<std::string> properties;

  // What librdkafka gets: the security settings (normalized), then the pass-through
  // properties (Validate() has checked their syntax), secrets included.
  std::vector<std::pair<std::string, std::string>> Properties() const;
};

// The flag that owns a librdkafka property ("ssl.ca.location" -> "--kafka-ssl-ca"), or ""
// for properties that only --kafka-property sets.
std::string KafkaFlagFor(std::string_view property);

struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
  int connect_timeout_ms = 500;
  int command_timeout_ms = 1000;
  int pool_size = 8;
};

struct ServerConfig {
  std::string grpc_listen;
  std::string admin_listen;
  int shutdown_grace_seconds = 20;
  int max_message_bytes = 4 * 1024 * 1024;
  // TLS on the gRPC port (the admin port stays plain HTTP): PEM files, re-read when they change.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // set: clients must present a certificate this CA signed (mTLS)
  int tls_reload_seconds = 60;
  // Bearer tokens per principal (common/auth); empty: access control off.
  std::string auth_tokens_file;
  int auth_reload_seconds = 10;

  bool tls() const { return !tls_cert.empty(); }
};

struct CommonConfig {
  std::string service;  // "marketing", "sales", "alignment"
  std::string instance_id;
  std::string log_level = "info";
  ServerConfig server;
  KafkaConfig kafka;
  RedisConfig redis;
};

// The defaults that differ between services.
struct Defaults {
  std::string grpc_listen;
  std::string admin_listen;
  // The producer's linger: records wait this long to share a request with others (fewer
  // requests for the broker, later delivery). --kafka-property linger.ms=N overrides it.
  int producer_linger_ms = 5;
};

// Environment variable for a flag: "--redis-port" -> "CONCORD_REDIS_PORT".
std::string EnvName(std::string_view flag);

// Thin layer over CLI11 that gives every option its environment variable and shows the
// variable and the default in --help.
class Parser {
 public:
  Parser(std::string program, std::string description);

  CLI::App& app() { return app_; }

  template <typename T>
  CLI::Option* Add(const std::string& flag, T* target, const std::string& help) {
    auto* opt = app_.add_option(flag, *target, help);
    opt->envname(EnvName(flag));
    opt->capture_default_str();
    return opt;
  }
  CLI::Option* AddSecret(const std::string& flag, std::string* target, const std::string& help);

  // Adds the options every service has.
  void AddCommon(CommonConfig* cfg, const Defaults& defaults);

  // Parses argv and the environment. Returns an exit code when the program should stop
  // now (0 after --help, 2 after an error, with the message already printed to stderr).
  std::optional<int> Parse(int argc, const char* const* argv);

 private:
  CLI::App app_;
};

// Semantic checks beyond types and ranges. Each message names the flag, its variable and
// what is wrong, e.g. "--redis-port (CONCORD_REDIS_PORT): must be in 1..65535, got 0".
std::vector<std::string> Validate(const CommonConfig& cfg);

// Checks "host:port" (host may be empty, "[::]" or a name; port 0..65535).
absl::Status CheckListenAddress(const std::string& value);

// For the start-up log line: every setting, secrets redacted.
nlohmann::json ToJson(const CommonConfig& cfg);

// Helper for service-specific checks: formats a message the same way Validate() does.
std::string Problem(std::string_view flag, std::string_view what);

}  // namespace concord::config
