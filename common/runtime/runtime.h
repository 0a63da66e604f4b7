#pragma once
// What every Concord binary does around its own logic: parse and check the configuration,
// set up logging, metrics, the Redis pool, the Kafka producer and the gRPC server, report
// SERVING once Kafka and Redis answer, and on SIGTERM/SIGINT shut down in order:
// health NOT_SERVING -> gRPC drain -> stop hooks (consumers, relays) -> producer flush.
// A service's main() only declares its options and wires its parts in `setup`.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/auth/authorizer.h"
#include "common/config/config.h"
#include "common/grpc/server.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/redis/redis.h"

namespace concord::runtime {

class Runtime {
 public:
  const config::CommonConfig& config() const { return cfg_; }
  redis::Pool& redis() { return *redis_; }
  kafka::Producer& producer() { return *producer_; }
  grpcserver::Server& server() { return *server_; }
  // The access check every handler runs (allows everything when no --auth-tokens-file).
  auth::Authorizer& authorizer() { return *authorizer_; }
  metrics::Registry& metrics() { return metrics::Default(); }
  // Source for CloudEvents and the producer field: "/concord/<service>/<instance>".
  std::string source() const { return "/concord/" + cfg_.service + "/" + cfg_.instance_id; }

  // Runs at shutdown after the gRPC server has drained, in reverse order of registration.
  void OnShutdown(std::function<void()> hook) { shutdown_hooks_.push_back(std::move(hook)); }
  // Runs at shutdown once health is NOT_SERVING, before in-flight calls are waited for (e.g.
  // to end server streams that would otherwise hold the drain for its whole grace).
  void OnDrainStart(std::function<void()> hook) { drain_hooks_.push_back(std::move(hook)); }
  // Asks the process to shut down as if it got SIGTERM (e.g. a worker hit a fatal error).
  void RequestShutdown();

 private:
  friend class Main;
  config::CommonConfig cfg_;
  std::unique_ptr<redis::Pool> redis_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<grpcserver::Server> server_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::vector<std::function<void()>> drain_hooks_;
};

class Main {
 public:
  Main(std::string service, std::string description, config::Defaults defaults);

  // For service-specific options, declared before Run().
  config::Parser& parser() { return parser_; }
  // Service-specific checks, run with the common ones; each problem as config::Problem().
  void AddValidator(std::function<std::vector<std::string>()> v) { validators_.push_back(std::move(v)); }

  // Returns the process exit code.
  int Run(int argc, char** argv, const std::function<absl::Status(Runtime&)>& setup);

 private:
  std::string service_;
  config::Parser parser_;
  int linger_ms_;
  Runtime rt_;
  std::vector<std::function<std::vector<std::string>()>> validators_;
};

}  // namespace concord::runtime
