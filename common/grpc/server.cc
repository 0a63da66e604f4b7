#include "common/grpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <absl/synchronization/mutex.h>

#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::grpcserver {

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

void Server::AddService(grpc::Service* service, std::string name) { services_.emplace_back(service, std::move(name)); }
void Server::AddReadinessCheck(ReadinessCheck check) { checks_.push_back(std::move(check)); }
void Server::OnReadinessChange(std::function<void(bool, const absl::Status&)> cb) { on_change_ = std::move(cb); }

absl::Status Server::Start() {
  // Debian builds Abseil without NDEBUG, so absl::Mutex (every lock inside gRPC) keeps a
  // process-wide lock-order graph to detect deadlocks: bookkeeping under a global lock on each
  // acquisition and on each mutex destroyed (gRPC makes several per call). A debugging aid
  // that costs every call; off for the whole process.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(options_.listen, creds, &port_);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  // Keepalive: notice dead clients of long streams (WatchFindings) and let clients ping.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Two instances on one port would silently split the traffic: refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (auto& [s, name] : services_) builder.RegisterService(s);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError("grpc: cannot listen on " + options_.listen);
  }
  server_->GetHealthCheckService()->SetServingStatus(false);
  for (auto& [s, name] : services_) server_->GetHealthCheckService()->SetServingStatus(name, false);
  log::Info("grpc server listening", {{"address", options_.listen}, {"port", port_}});
  CheckReadiness();
  readiness_thread_ = std::thread([this] {
    thread::SetName("grpc-readiness");
    std::unique_lock lock(mu_);
    while (!shutting_down_.load()) {
      cv_.wait_for(lock, options_.readiness_interval);
      if (shutting_down_.load()) break;
      lock.unlock();
      CheckReadiness();
      lock.lock();
    }
  });
  return absl::OkStatus();
}

bool Server::CheckReadiness() {
  absl::Status why = absl::OkStatus();
  for (const auto& c : checks_) {
    auto s = c.check();
    if (!s.ok()) {
      why = absl::Status(s.code(), c.name + ": " + std::string(s.message()));
      break;
    }
  }
  SetServing(why.ok() && !shutting_down_.load(), why);
  return serving_.load();
}

void Server::SetServing(bool serving, const absl::Status& why) {
  if (!server_) return;
  bool was = serving_.exchange(serving);
  if (was == serving) return;
  server_->GetHealthCheckService()->SetServingStatus(serving);  // "" and every named service
  if (serving) {
    log::Info("health SERVING");
  } else {
    log::Warn("health NOT_SERVING", {{"reason", shutting_down_.load() ? "shutting down" : why.ToString()}});
  }
  if (on_change_) on_change_(serving, why);
}

void Server::EnterShutdown() {
  if (!server_) return;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_.exchange(true)) return;
  }
  cv_.notify_all();
  if (readiness_thread_.joinable()) readiness_thread_.join();
  // Health first, so load balancers stop sending new calls while in-flight ones finish.
  serving_ = true;  // force the transition to be logged and applied
  SetServing(false, absl::CancelledError("shutting down"));
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (!server_ || stopped_) return;
  stopped_ = true;
  EnterShutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  log::Info("grpc server stopped");
}

}  // namespace concord::grpcserver
