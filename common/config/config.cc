#include "common/config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "common/kafka/security.h"

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

namespace {

// The Kafka settings with a flag of their own, and the librdkafka property each one sets.
struct KafkaSetting {
  const char* flag;
  const char* property;
  std::string KafkaConfig::*field;
};
const KafkaSetting kKafkaSettings[] = {
    {"--kafka-security-protocol", "security.protocol", &KafkaConfig::security_protocol},
    {"--kafka-sasl-mechanism", "sasl.mechanisms", &KafkaConfig::sasl_mechanism},
    {"--kafka-sasl-username", "sasl.username", &KafkaConfig::sasl_username},
    {"--kafka-sasl-password", "sasl.password", &KafkaConfig::sasl_password},
    {"--kafka-ssl-ca", "ssl.ca.location", &KafkaConfig::ssl_ca},
    {"--kafka-ssl-cert", "ssl.certificate.location", &KafkaConfig::ssl_cert},
    {"--kafka-ssl-key", "ssl.key.location", &KafkaConfig::ssl_key},
    {"--kafka-ssl-key-password", "ssl.key.password", &KafkaConfig::ssl_key_password},
};
const char* const kProtocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
const char* const kMechanisms[] = {"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}
template <typename List>
bool OneOf(const std::string& v, const List& list) {
  return std::any_of(std::begin(list), std::end(list), [&](const char* x) { return v == x; });
}

std::string Normalized(const KafkaSetting& s, const std::string& value) {
  if (s.field == &KafkaConfig::security_protocol) return Lower(value);
  if (s.field == &KafkaConfig::sasl_mechanism) return Upper(value);
  return value;
}

// Checks a PEM file a TLS flag names: readable, and holding what it should. The error says
// what is wrong with the file; librdkafka's own message at start-up would name the property.
void CheckPemFile(const char* flag, const std::string& path, bool key, std::vector<std::string>* problems) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    problems->push_back(Problem(flag, absl::StrCat(path, ": ", std::filesystem::exists(path, ec) ? "not a regular file"
                                                                                           : "no such file")));
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems->push_back(Problem(flag, absl::StrCat(path, ": cannot be read (", std::strerror(errno), ")")));
    return;
  }
  std::string text(1 << 20, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (key ? text.find("PRIVATE KEY-----") == std::string::npos
          : text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    problems->push_back(Problem(flag, absl::StrCat(path, key ? " holds no PEM private key" : " holds no PEM certificate")));
  }
}

bool PemKeyIsEncrypted(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find("BEGIN ENCRYPTED PRIVATE KEY") != std::string::npos ||
         text.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
}

void ValidateKafka(const KafkaConfig& k, std::vector<std::string>* problems) {
  std::string protocol = Lower(k.security_protocol);
  std::string mechanism = Upper(k.sasl_mechanism);
  if (!protocol.empty() && !OneOf(protocol, kProtocols)) {
    problems->push_back(Problem("--kafka-security-protocol",
                                absl::StrCat("'", k.security_protocol, "' is not one of ", absl::StrJoin(kProtocols, ", "))));
    return;  // the checks below depend on it
  }
  if (!mechanism.empty() && !OneOf(mechanism, kMechanisms)) {
    problems->push_back(Problem("--kafka-sasl-mechanism",
                                absl::StrCat("'", k.sasl_mechanism, "' is not one of ", absl::StrJoin(kMechanisms, ", "))));
  }
  bool sasl = protocol == "sasl_plaintext" || protocol == "sasl_ssl";
  bool tls = protocol == "ssl" || protocol == "sasl_ssl";
  std::string shown = protocol.empty() ? "plaintext (the default)" : protocol;
  if (sasl) {
    std::string with = absl::StrCat("required with --kafka-security-protocol ", protocol);
    if (mechanism.empty()) problems->push_back(Problem("--kafka-sasl-mechanism", with + " (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN)"));
    if (k.sasl_username.empty()) problems->push_back(Problem("--kafka-sasl-username", with));
    if (k.sasl_password.empty()) problems->push_back(Problem("--kafka-sasl-password", with));
  } else {
    for (auto [flag, value] : {std::pair{"--kafka-sasl-mechanism", &k.sasl_mechanism},
                               std::pair{"--kafka-sasl-username", &k.sasl_username},
                               std::pair{"--kafka-sasl-password", &k.sasl_password}}) {
      if (!value->empty()) {
        problems->push_back(Problem(flag, absl::StrCat("set, but --kafka-security-protocol is ", shown,
                                                       ": SASL needs sasl_ssl or sasl_plaintext")));
      }
    }
  }
  if (!tls) {
    for (auto [flag, value] : {std::pair{"--kafka-ssl-ca", &k.ssl_ca}, std::pair{"--kafka-ssl-cert", &k.ssl_cert},
                               std::pair{"--kafka-ssl-key", &k.ssl_key},
                               std::pair{"--kafka-ssl-key-password", &k.ssl_key_password}}) {
      if (!value->empty()) {
        problems->push_back(Problem(flag, absl::StrCat("set, but --kafka-security-protocol is ", shown,
                                                       ": TLS needs ssl or sasl_ssl")));
      }
    }
  } else {
    if (!k.ssl_ca.empty()) CheckPemFile("--kafka-ssl-ca", k.ssl_ca, false, problems);
    if (!k.ssl_cert.empty()) CheckPemFile("--kafka-ssl-cert", k.ssl_cert, false, problems);
    if (!k.ssl_key.empty()) CheckPemFile("--kafka-ssl-key", k.ssl_key, true, problems);
    if (!k.ssl_cert.empty() && k.ssl_key.empty()) {
      problems->push_back(Problem("--kafka-ssl-key", "required with --kafka-ssl-cert (the certificate's private key)"));
    }
    if (!k.ssl_key.empty() && k.ssl_cert.empty()) {
      problems->push_back(Problem("--kafka-ssl-cert", "required with --kafka-ssl-key (the key's certificate)"));
    }
    if (!k.ssl_key_password.empty() && k.ssl_key.empty()) {
      problems->push_back(Problem("--kafka-ssl-key-password", "set, but there is no --kafka-ssl-key"));
    }
    if (!k.ssl_key.empty() && k.ssl_key_password.empty() && PemKeyIsEncrypted(k.ssl_key)) {
      problems->push_back(Problem("--kafka-ssl-key-password", absl::StrCat("required: ", k.ssl_key, " is encrypted")));
    }
  }
  std::string previous_key;
  for (const auto& p : k.properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      // In the variable a comma splits entries: after a secret, this may be part of its value.
      problems->push_back(Problem(
          "--kafka-property", kafka::IsSensitiveProperty(previous_key)
                                  ? absl::StrCat("the entry after ", previous_key, " is not key=value (a comma in a ",
                                                 "secret's value splits it: pass that property as its own flag)")
                                  : absl::StrCat("'", p, "' is not key=value")));
      continue;
    }
    std::string key = p.substr(0, eq);
    previous_key = key;
    if (auto flag = KafkaFlagFor(key); !flag.empty()) {
      problems->push_back(Problem("--kafka-property", absl::StrCat(key, " has its own setting: use ", flag, " (", EnvName(flag), ")",
                                                                   kafka::IsSensitiveProperty(key) ? ", a secret that is never printed" : "")));
    }
  }
}

}  // namespace

std::string KafkaFlagFor(std::string_view property) {
  std::string p = Lower(std::string(property));
  if (p == "sasl.mechanism") return "--kafka-sasl-mechanism";  // librdkafka's alias
  for (const auto& s : kKafkaSettings) {
    if (p == s.property) return s.flag;
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> KafkaConfig::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : kKafkaSettings) {
    if (!(this->*s.field).empty()) out.emplace_back(s.property, Normalized(s, this->*s.field));
  }
  for (const auto& p : properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
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
  Add("--kafka-security-protocol", &cfg->kafka.security_protocol,
      "Kafka security: plaintext, ssl, sasl_plaintext or sasl_ssl (unset: plaintext)");
  Add("--kafka-sasl-mechanism", &cfg->kafka.sasl_mechanism, "SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN");
  Add("--kafka-sasl-username", &cfg->kafka.sasl_username, "SASL user name");
  AddSecret("--kafka-sasl-password", &cfg->kafka.sasl_password, "SASL password for Kafka");
  Add("--kafka-ssl-ca", &cfg->kafka.ssl_ca, "PEM file with the CA(s) of the broker certificates (unset: the system CAs)");
  Add("--kafka-ssl-cert", &cfg->kafka.ssl_cert, "PEM file with the client certificate, for mutual TLS");
  Add("--kafka-ssl-key", &cfg->kafka.ssl_key, "PEM file with the client certificate's private key");
  AddSecret("--kafka-ssl-key-password", &cfg->kafka.ssl_key_password, "Passphrase of an encrypted --kafka-ssl-key");
  Add("--kafka-property", &cfg->kafka.properties,
      "Any other librdkafka property key=value, repeatable (e.g. ssl.endpoint.identification.algorithm=none); "
      "env: comma separated")
      ->delimiter(',');
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
  ValidateKafka(cfg.kafka, &problems);
  if (cfg.redis.host.empty()) problems.push_back(Problem("--redis-host", "must not be empty"));
  return problems;
}

nlohmann::json ToJson(const CommonConfig& cfg) {
  // Secrets show only whether they are set; so do the pass-through properties that are secrets.
  auto secret = [](const std::string& v) { return v.empty() ? "" : "<redacted>"; };
  nlohmann::json props = nlohmann::json::object();
  for (const auto& p : cfg.kafka.properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos) continue;
    std::string k = p.substr(0, eq), v = p.substr(eq + 1);
    props[k] = kafka::IsSensitiveProperty(k) ? secret(v) : v;
  }
  const auto& k = cfg.kafka;
  nlohmann::json security = {
      {"protocol", k.security_protocol.empty() ? "plaintext" : Lower(k.security_protocol)},
      {"sasl_mechanism", Upper(k.sasl_mechanism)},
      {"sasl_username", k.sasl_username},
      {"sasl_password", secret(k.sasl_password)},
      {"ssl_ca", k.ssl_ca},
      {"ssl_cert", k.ssl_cert},
      {"ssl_key", k.ssl_key},
      {"ssl_key_password", secret(k.ssl_key_password)},
  };
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
      {"kafka_security", security},
      {"kafka_properties", props},
      {"redis", {{"host", cfg.redis.host}, {"port", cfg.redis.port}, {"db", cfg.redis.db},
                 {"password", cfg.redis.password.empty() ? "" : "<redacted>"},
                 {"pool_size", cfg.redis.pool_size}}},
  };
}

}  // namespace concord::config
