#include "common/metrics/admin_server.h"
#include "common/thread/thread_name.h"

#include <httplib.h>

namespace concord::metrics {

AdminServer::AdminServer(Registry& registry, std::function<bool()> serving)
    : registry_(registry), serving_(std::move(serving)), server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    bool ok = serving_();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "SERVING\n" : "NOT_SERVING\n", "text/plain");
  });
  server_->Get("/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("OK\n", "text/plain"); });
}

AdminServer::~AdminServer() { Stop(); }

bool AdminServer::Start(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = std::stoi(listen.substr(colon + 1));
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0) return false;
  } else {
    if (!server_->bind_to_port(host, port)) return false;
    port_ = port;
  }
  thread_ = std::thread([this] {
    thread::SetName("admin-http");
    server_->listen_after_bind();
  });
  return true;
}

void AdminServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace concord::metrics
