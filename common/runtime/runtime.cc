#include "common/runtime/runtime.h"

#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "common/grpc/signals.h"
#include "common/grpc/tls.h"
#include "common/logging/log.h"
#include "common/metrics/admin_server.h"
#include "common/metrics/process_metrics.h"

namespace concord::runtime {

using namespace std::chrono_literals;

void Runtime::RequestShutdown() { ::kill(::getpid(), SIGTERM); }

Main::Main(std::string service, std::string description, config::Defaults defaults)
    : service_(std::move(service)), parser_("concord-" + service_, std::move(description)),
      linger_ms_(defaults.producer_linger_ms) {
  rt_.cfg_.service = service_;
  parser_.AddCommon(&rt_.cfg_, defaults);
}

int Main::Run(int argc, char** argv, const std::function<absl::Status(Runtime&)>& setup) {
  grpcserver::BlockTerminationSignals();
  if (auto rc = parser_.Parse(argc, argv)) return *rc;
  auto& cfg = rt_.cfg_;
  if (cfg.instance_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    cfg.instance_id = host;
  }
  auto problems = config::Validate(cfg);
  for (const auto& v : validators_) {
    auto more = v();
    problems.insert(problems.end(), more.begin(), more.end());
  }
  const grpcserver::TlsFiles tls{.cert = cfg.server.tls_cert,
                                 .key = cfg.server.tls_key,
                                 .client_ca = cfg.server.tls_client_ca,
                                 .reload_seconds = static_cast<unsigned>(cfg.server.tls_reload_seconds)};
  if (problems.empty() && cfg.server.tls()) {
    for (const auto& p : grpcserver::CheckTlsFiles(tls)) {
      using File = grpcserver::TlsProblem::File;
      const char* flag = p.file == File::kCert ? "--grpc-tls-cert" : p.file == File::kKey ? "--grpc-tls-key" : "--grpc-tls-client-ca";
      problems.push_back(config::Problem(flag, p.message));
    }
  }
  if (problems.empty()) {
    auto authz = auth::Authorizer::Create({.service = service_,
                                           .tokens_file = cfg.server.auth_tokens_file,
                                           .reload_interval = std::chrono::seconds(cfg.server.auth_reload_seconds)},
                                          metrics::Default());
    if (authz.ok()) {
      rt_.authorizer_ = std::move(*authz);
    } else {
      problems.push_back(config::Problem("--auth-tokens-file", std::string(authz.status().message())));
    }
  }
  if (!problems.empty()) {
    std::cerr << "concord-" << service_ << ": invalid configuration:\n";
    for (const auto& p : problems) std::cerr << "  " << p << "\n";
    return 2;
  }
  log::Init(service_, cfg.log_level);
  log::Info("starting", {{"config", config::ToJson(cfg)}});
  if (!rt_.authorizer_->enabled()) {
    log::Warn("access control is off: no --auth-tokens-file, so any client may call every RPC");
  } else {
    log::Info("access control on", {{"tokens_file", cfg.server.auth_tokens_file},
                                    {"principals", rt_.authorizer_->tokens()->principals().size()}});
    if (!cfg.server.tls()) log::Warn("bearer tokens are checked but the gRPC port has no TLS: tokens travel in clear text");
  }

  redis::Options ro{.host = cfg.redis.host,
                    .port = cfg.redis.port,
                    .password = cfg.redis.password,
                    .db = cfg.redis.db,
                    .connect_timeout = std::chrono::milliseconds(cfg.redis.connect_timeout_ms),
                    .command_timeout = std::chrono::milliseconds(cfg.redis.command_timeout_ms)};
  rt_.redis_ = std::make_unique<redis::Pool>(ro, cfg.redis.pool_size);

  auto producer = kafka::Producer::Create({.brokers = cfg.kafka.brokers,
                                           .client_id = "concord-" + service_ + "-" + cfg.instance_id,
                                           .properties = cfg.kafka.Properties(),
                                           .linger_ms = linger_ms_});
  if (!producer.ok()) {
    // librdkafka refused the configuration (an unknown property, a PEM file it cannot load, a
    // key that does not match its certificate): name the setting, as Validate() does.
    std::string why(producer.status().message());
    std::string flag = "--kafka-property";
    size_t first = std::string::npos;
    for (const auto& [property, value] : cfg.kafka.Properties()) {
      auto at = why.find(property);
      auto owner = config::KafkaFlagFor(property);
      if (at < first) first = at, flag = owner.empty() ? "--kafka-property" : owner;
    }
    if (flag == "--kafka-ssl-key" && !cfg.kafka.ssl_key_password.empty() &&
        (why.find("bad decrypt") != std::string::npos || why.find("PEM lib") != std::string::npos)) {
      flag = "--kafka-ssl-key-password";  // OpenSSL says only that it could not read the key
      why += " (does the passphrase decrypt --kafka-ssl-key?)";
    }
    std::cerr << "concord-" << service_ << ": invalid configuration:\n  " << config::Problem(flag, why) << "\n";
    log::Error("kafka producer configuration refused", {{"setting", flag}, {"error", why}});
    return 2;
  }
  rt_.producer_ = std::move(*producer);

  rt_.server_ = std::make_unique<grpcserver::Server>(
      grpcserver::ServerOptions{.listen = cfg.server.grpc_listen,
                                .max_message_bytes = cfg.server.max_message_bytes,
                                .credentials = cfg.server.tls() ? grpcserver::MakeTlsServerCredentials(tls) : nullptr});
  rt_.server_->AddReadinessCheck({"redis", [this] { return rt_.redis_->Ping(); }});
  rt_.server_->AddReadinessCheck({"kafka", [this] { return rt_.producer_->Ping(1s); }});
  metrics::AddProcessMetrics(metrics::Default());
  auto& ready_gauge = metrics::Default().AddGauge("concord_serving", "1 while health is SERVING").With({});
  rt_.server_->OnReadinessChange([&ready_gauge](bool serving, const absl::Status&) { ready_gauge.Set(serving ? 1 : 0); });

  if (auto s = setup(rt_); !s.ok()) {
    log::Error("setup failed", {{"error", s.ToString()}});
    return 1;
  }

  metrics::AdminServer admin(metrics::Default(), [this] { return rt_.server_->serving(); });
  if (!admin.Start(cfg.server.admin_listen)) {
    log::Error("cannot listen on the admin address", {{"address", cfg.server.admin_listen}});
    return 1;
  }
  if (auto s = rt_.server_->Start(); !s.ok()) {
    log::Error("cannot start the gRPC server", {{"error", s.ToString()}});
    return 1;
  }
  rt_.authorizer_->Start();
  log::Info("started", {{"grpc_port", rt_.server_->port()},
                        {"admin_port", admin.port()},
                        {"tls", !cfg.server.tls() ? "off" : cfg.server.tls_client_ca.empty() ? "tls" : "mtls"},
                        {"access_control", rt_.authorizer_->enabled()}});

  int sig = grpcserver::WaitForTerminationSignal();
  auto grace = std::chrono::seconds(cfg.server.shutdown_grace_seconds);
  log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"grace_seconds", grace.count()}});
  rt_.server_->EnterShutdown();
  for (auto& hook : rt_.drain_hooks_) hook();
  rt_.server_->Shutdown(grace);
  for (auto it = rt_.shutdown_hooks_.rbegin(); it != rt_.shutdown_hooks_.rend(); ++it) (*it)();
  if (auto s = rt_.producer_->Flush(10s); !s.ok()) {
    log::Error("kafka flush at shutdown incomplete", {{"error", s.ToString()}, {"in_flight", rt_.producer_->InFlight()}});
  }
  admin.Stop();
  rt_.authorizer_->Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace concord::runtime
