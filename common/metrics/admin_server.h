#pragma once
// The admin HTTP port: GET /metrics (Prometheus text), GET /healthz (200 while the service
// is serving, 503 otherwise), GET /livez (200 while the process runs). cpp-httplib does HTTP.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/metrics/metrics.h"

namespace httplib {
class Server;
}

namespace concord::metrics {

class AdminServer {
 public:
  AdminServer(Registry& registry, std::function<bool()> serving);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds host:port (port 0 picks a free one) and serves on a background thread.
  bool Start(const std::string& listen);
  int port() const { return port_; }
  void Stop();

 private:
  Registry& registry_;
  std::function<bool()> serving_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace concord::metrics
