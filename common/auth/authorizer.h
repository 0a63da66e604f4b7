#pragma once
// The access check on a live gRPC call: bearer token (metadata "authorization: Bearer <t>") or
// mTLS client certificate -> principal -> the permission the method table asks for.
//
// Why a check at the top of each handler and not another gRPC mechanism (gRPC 1.51):
//   * grpc::AuthMetadataProcessor only runs on secure credentials (InsecureServerCredentials
//     asserts when given one), so tokens would be unenforceable on a plaintext port (a port
//     behind a mesh that terminates TLS, or the tests), and it does not see the method name.
//   * Server interceptors see the method but cannot end a call with a status of their own
//     (only cancel it, which the client sees as CANCELLED, not UNAUTHENTICATED).
// The three services already route every RPC through one wrapper each (Handle/Serve/Unary and
// WatchFindings), so one call there, driven by the method table, covers every method, works
// with and without TLS, and fails closed for a method the table does not know.
//
// Every refusal is a JSON log line (method, peer, principal when known, reason; never the
// token) and concord_auth_refusals_total{service,reason}. The tokens file is re-read when it
// changes; a broken new version is refused (logged) and the previous one stays in force.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include "common/auth/access.h"
#include "common/metrics/metrics.h"

namespace concord::auth {

// What the check needs to know about a call (taken from the ServerContext; a plain struct so
// the decision is unit-testable without a server).
struct CallInfo {
  std::string_view method;                       // full name, "/pkg.Service/Method"
  std::optional<std::string_view> authorization;  // the "authorization" metadata, if sent
  std::vector<std::string> cert_names;           // verified client certificate SANs / CN (mTLS)
};

struct Decision {
  grpc::Status status;           // OK, UNAUTHENTICATED or PERMISSION_DENIED
  std::string reason;            // "" when allowed; else missing_credentials, malformed_token,
                                 // unknown_token, permission_denied, unknown_method
  const Principal* principal = nullptr;
};

// The pure decision. `tokens` null = access control off (everything allowed).
Decision Decide(const TokenSet* tokens, const CallInfo& call);

struct AuthorizerOptions {
  std::string service;      // label of concord_auth_refusals_total
  std::string tokens_file;  // empty: access control off
  std::chrono::seconds reload_interval{10};
};

class Authorizer {
 public:
  // Reads and checks the tokens file (error naming the line when it is bad). With no file,
  // an Authorizer that allows everything.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(AuthorizerOptions options, metrics::Registry& registry);
  ~Authorizer();

  bool enabled() const { return !options_.tokens_file.empty(); }

  // OK, or the status to finish the call with (already logged and counted).
  // `service` is the full service name, `method` the short one ("CreateAccount").
  grpc::Status Check(const grpc::ServerContextBase& ctx, std::string_view service, std::string_view method);

  // Re-reads the file when its content changed (also done every reload_interval by Start()).
  void Reload();
  void Start();
  void Stop();

  // The tokens in force (null when off).
  std::shared_ptr<const TokenSet> tokens() const;

 private:
  Authorizer(AuthorizerOptions options, metrics::Registry& registry, std::shared_ptr<const TokenSet> tokens,
             std::string content);

  AuthorizerOptions options_;
  metrics::Family<metrics::Counter>& refusals_;
  mutable std::mutex mu_;
  std::shared_ptr<const TokenSet> tokens_;
  std::string content_;  // the file as last loaded, to notice a change
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread reloader_;
};

// Reads a whole file (error naming the path when it cannot be read).
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace concord::auth
