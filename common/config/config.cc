#include "common/config/config.h"

#include <cctype>
#include <fstream>
#include <iostream>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>

namespace concord::config {

std::string EnvName(std::string_view flag) {
  std::string out = "CONCORD_";
  for (char c : flag) {
    if (c == '-') {
      if (out.size() > 8) out.push_back('_');
    } else {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  // "--" prefix produced leading underscores only when not at the start; trim doubles.
  return out;
}

std::string Problem(std::string_view flag, std::string_view what) {
  return std::string(flag) + " (" + EnvName(flag) + "): " + std::string(what);
}

std::vector<std::pair<std::string, std::string>> KafkaConfig::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  if (!sasl_password.empty()) out.emplace_back("sasl.password", sasl_password);
  return out;
}

Parser::Parser(std::string program, std::string description) : app_(std::move(description), std::move(program)) {
  app_.get_formatter()->column_width(44);
}

CLI::Option* Parser::AddSecret(const std::string& flag, std::string* target, const std::string& help) {
  auto* opt = app_.add_option(flag, *target, help + " (secret: prefer the environment variable)");
  opt->envname(EnvName(flag));
  return opt;
}

void Parser::AddCommon(CommonConfig* cfg, const Defaults& d) {
  cfg->server.grpc_listen = d.grpc_listen;
  cfg->server.admin_listen = d.admin_listen;
  Add("--instance-id", &cfg->instance_id, "Name of this instance in logs, events and the consumer client id (default: hostname)");
  Add("--log-level", &cfg->log_level, "Minimum log level")->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  Add("--grpc-listen", &cfg->server.grpc_listen, "gRPC listen address host:port");
  Add("--admin-listen", &cfg->server.admin_listen, "Admin HTTP listen address host:port (/metrics, /healthz)");
  Add("--shutdown-grace-seconds", &cfg->server.shutdown_grace_seconds,
      "On SIGTERM: how long in-flight calls may take before they are cancelled")
      ->check(CLI::Range(1, 600));
  Add("--max-message-bytes", &cfg->server.max_message_bytes, "Largest gRPC message accepted or sent")
      ->check(CLI::Range(1024, 64 * 1024 * 1024));
  Add("--grpc-tls-cert", &cfg->server.tls_cert,
      "PEM certificate chain of the gRPC port; set = TLS (with --grpc-tls-key). Re-read when it changes");
  Add("--grpc-tls-key", &cfg->server.tls_key, "PEM private key of --grpc-tls-cert");
  Add("--grpc-tls-client-ca", &cfg->server.tls_client_ca,
      "PEM CA bundle; set = mutual TLS: clients must present a certificate it signed");
  Add("--grpc-tls-reload-seconds", &cfg->server.tls_reload_seconds,
      "How often the TLS files are checked for a new version")
      ->check(CLI::Range(1, 86400));
  Add("--auth-tokens-file", &cfg->server.auth_tokens_file,
      "YAML of principals (team, roles, SHA-256 of their bearer tokens); unset = access control off");
  Add("--auth-reload-seconds", &cfg->server.auth_reload_seconds, "How often the tokens file is checked for changes")
      ->check(CLI::Range(1, 86400));
  Add("--kafka-brokers", &cfg->kafka.brokers, "Kafka bootstrap servers, comma separated");
  Add("--kafka-property", &cfg->kafka.properties,
      "librdkafka property key=value, repeatable (e.g. security.protocol=SASL_SSL); env: comma separated")
      ->delimiter(',');
  AddSecret("--kafka-sasl-password", &cfg->kafka.sasl_password, "SASL password for Kafka");
  Add("--redis-host", &cfg->redis.host, "Redis host");
  Add("--redis-port", &cfg->redis.port, "Redis port")->check(CLI::Range(1, 65535));
  AddSecret("--redis-password", &cfg->redis.password, "Redis password (AUTH)");
  Add("--redis-db", &cfg->redis.db, "Redis database number")->check(CLI::Range(0, 15));
  Add("--redis-connect-timeout-ms", &cfg->redis.connect_timeout_ms, "Redis connect timeout")->check(CLI::Range(10, 60000));
  Add("--redis-command-timeout-ms", &cfg->redis.command_timeout_ms, "Redis command timeout")->check(CLI::Range(10, 60000));
  Add("--redis-pool-size", &cfg->redis.pool_size, "Redis connections in the pool")->check(CLI::Range(1, 256));
}

std::optional<int> Parser::Parse(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app_.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << app_.get_name() << ": invalid configuration: " << e.what() << "\n"
              << "Run with --help to see every setting.\n";
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  return std::nullopt;
}

absl::Status CheckListenAddress(const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not host:port"));
  int port = 0;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", value, "' has no valid port (0..65535)"));
  }
  return absl::OkStatus();
}

std::vector<std::string> Validate(const CommonConfig& cfg) {
  std::vector<std::string> problems;
  if (auto s = CheckListenAddress(cfg.server.grpc_listen); !s.ok()) problems.push_back(Problem("--grpc-listen", std::string(s.message())));
  if (auto s = CheckListenAddress(cfg.server.admin_listen); !s.ok()) problems.push_back(Problem("--admin-listen", std::string(s.message())));
  bool ephemeral = cfg.server.grpc_listen.ends_with(":0");  // port 0: each gets a free port
  if (cfg.server.grpc_listen == cfg.server.admin_listen && !ephemeral) {
    problems.push_back(Problem("--admin-listen", "must differ from --grpc-listen"));
  }
  const auto& sv = cfg.server;
  if (!sv.tls_cert.empty() && sv.tls_key.empty()) problems.push_back(Problem("--grpc-tls-key", "is required with --grpc-tls-cert"));
  if (sv.tls_cert.empty() && !sv.tls_key.empty()) problems.push_back(Problem("--grpc-tls-cert", "is required with --grpc-tls-key"));
  if (sv.tls_cert.empty() && !sv.tls_client_ca.empty()) {
    problems.push_back(Problem("--grpc-tls-client-ca", "needs --grpc-tls-cert and --grpc-tls-key (mutual TLS is TLS first)"));
  }
  for (auto [flag, path] : {std::pair<const char*, const std::string*>{"--grpc-tls-cert", &sv.tls_cert},
                            {"--grpc-tls-key", &sv.tls_key},
                            {"--grpc-tls-client-ca", &sv.tls_client_ca},
                            {"--auth-tokens-file", &sv.auth_tokens_file}}) {
    if (!path->empty() && !std::ifstream(*path).good()) {
      problems.push_back(Problem(flag, absl::StrCat("'", *path, "' is missing or not readable")));
    }
  }
  if (cfg.kafka.brokers.empty()) problems.push_back(Problem("--kafka-brokers", "must not be empty"));
  for (const auto& p : cfg.kafka.properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems.push_back(Problem("--kafka-property", absl::StrCat("'", p, "' is not key=value")));
    } else if (p.substr(0, eq) == "sasl.password") {
      problems.push_back(Problem("--kafka-property", "pass sasl.password with --kafka-sasl-password so it is never printed"));
    }
  }
  if (cfg.redis.host.empty()) problems.push_back(Problem("--redis-host", "must not be empty"));
  return problems;
}

namespace {
bool IsSecretKey(const std::string& key) {
  for (const char* word : {"password", "secret", "key", "token"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

nlohmann::json ToJson(const CommonConfig& cfg) {
  nlohmann::json props = nlohmann::json::object();
  for (const auto& [k, v] : cfg.kafka.Properties()) props[k] = IsSecretKey(k) ? "<redacted>" : v;
  return {
      {"service", cfg.service},
      {"instance_id", cfg.instance_id},
      {"log_level", cfg.log_level},
      {"grpc_listen", cfg.server.grpc_listen},
      {"admin_listen", cfg.server.admin_listen},
      {"shutdown_grace_seconds", cfg.server.shutdown_grace_seconds},
      {"max_message_bytes", cfg.server.max_message_bytes},
      {"grpc_tls", {{"cert", cfg.server.tls_cert}, {"key", cfg.server.tls_key}, {"client_ca", cfg.server.tls_client_ca},
                    {"reload_seconds", cfg.server.tls_reload_seconds}}},
      {"auth_tokens_file", cfg.server.auth_tokens_file},
      {"kafka_brokers", cfg.kafka.brokers},
      {"kafka_properties", props},
      {"redis", {{"host", cfg.redis.host}, {"port", cfg.redis.port}, {"db", cfg.redis.db},
                 {"password", cfg.redis.password.empty() ? "" : "<redacted>"},
                 {"pool_size", cfg.redis.pool_size}}},
  };
}

}  // namespace concord::config
