#pragma once
// The gRPC server every Concord service runs: callback API services, grpc.health.v1 (NOT
// SERVING until every readiness check passes, and again from shutdown), server reflection,
// message size limits, and a graceful shutdown with a deadline.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/status.h>
#include <grpcpp/grpcpp.h>

namespace concord::grpcserver {

struct ServerOptions {
  std::string listen = "0.0.0.0:0";
  int max_message_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds readiness_interval{500};
  std::shared_ptr<grpc::ServerCredentials> credentials;  // insecure when null
};

// A named dependency check (e.g. "kafka", "redis"); OK when the dependency answers.
struct ReadinessCheck {
  std::string name;
  std::function<absl::Status()> check;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Not owned; must outlive the server. `name` is the full service name that health checks
  // answer for (Generated::service_full_name()).
  void AddService(grpc::Service* service, std::string name);
  void AddReadinessCheck(ReadinessCheck check);
  // Runs when readiness flips, with the failing check's status (OK when all pass).
  void OnReadinessChange(std::function<void(bool serving, const absl::Status& why)> cb);

  absl::Status Start();
  int port() const { return port_; }
  bool serving() const { return serving_.load(); }

  // Health NOT_SERVING from now on (idempotent); Shutdown() does it too.
  void EnterShutdown();
  // Health NOT_SERVING at once, then waits up to grace for in-flight calls and cancels the rest.
  void Shutdown(std::chrono::milliseconds grace);

  // Runs every readiness check now and updates health (also done periodically).
  bool CheckReadiness();

 private:
  void SetServing(bool serving, const absl::Status& why);

  ServerOptions options_;
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  std::vector<ReadinessCheck> checks_;
  std::function<void(bool, const absl::Status&)> on_change_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> serving_{false};
  std::atomic<bool> shutting_down_{false};
  bool stopped_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread readiness_thread_;
};

}  // namespace concord::grpcserver
