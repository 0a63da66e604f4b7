#include "common/auth/authorizer.h"

#include <fstream>
#include <sstream>

#include <cctype>

#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::auth {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(path + ": read error");
  return ss.str();
}

namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsBearer(std::string_view scheme) {  // "Bearer " in any case (RFC 6750: the scheme is case-insensitive)
  static constexpr std::string_view kBearer = "bearer ";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(scheme[i])) != kBearer[i]) return false;
  }
  return true;
}

Decision Refuse(grpc::StatusCode code, std::string reason, std::string message, const Principal* p = nullptr) {
  return Decision{grpc::Status(code, std::move(message)), std::move(reason), p};
}
}  // namespace

Decision Decide(const TokenSet* tokens, const CallInfo& call) {
  auto required = RequiredPermission(call.method);
  if (!required) {
    // Fail closed: a method added to a service but not to the method table is never open.
    return Refuse(grpc::StatusCode::PERMISSION_DENIED, "unknown_method",
                  "no access rule for " + std::string(call.method));
  }
  if (!tokens || *required == Permission::kOpen) return Decision{};

  const Principal* p = nullptr;
  if (call.authorization) {
    std::string_view v = Trim(*call.authorization);
    if (v.size() < 7 || !IsBearer(v.substr(0, 7))) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED, "malformed_token",
                    "the authorization metadata is not 'Bearer <token>'");
    }
    std::string_view token = Trim(v.substr(7));
    if (token.empty()) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED, "malformed_token", "the bearer token is empty");
    }
    p = tokens->FindByToken(token);
    if (!p) return Refuse(grpc::StatusCode::UNAUTHENTICATED, "unknown_token", "unknown bearer token");
  } else {
    for (const auto& name : call.cert_names) {
      if ((p = tokens->FindByCertName(name))) break;
    }
    if (!p) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED, "missing_credentials",
                    call.cert_names.empty()
                        ? "no credentials: send the metadata 'authorization: Bearer <token>'"
                        : "the client certificate is not mapped to a principal; send 'authorization: Bearer <token>'");
    }
  }
  if (!Grants(*p, *required)) {
    return Refuse(grpc::StatusCode::PERMISSION_DENIED, "permission_denied",
                  "principal '" + p->name + "' (team " + p->team + ", roles " + p->RoleNames() +
                      ") lacks the permission " + std::string(PermissionName(*required)) + " that " +
                      std::string(call.method) + " needs",
                  p);
  }
  return Decision{grpc::Status::OK, "", p};
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(AuthorizerOptions options, metrics::Registry& registry) {
  std::shared_ptr<const TokenSet> tokens;
  std::string content;
  if (!options.tokens_file.empty()) {
    auto text = ReadFile(options.tokens_file);
    if (!text.ok()) return text.status();
    auto set = TokenSet::Parse(*text);
    if (!set.ok()) return absl::InvalidArgumentError(options.tokens_file + ": " + std::string(set.status().message()));
    tokens = std::make_shared<const TokenSet>(std::move(*set));
    content = std::move(*text);
  }
  return std::unique_ptr<Authorizer>(new Authorizer(std::move(options), registry, std::move(tokens), std::move(content)));
}

Authorizer::Authorizer(AuthorizerOptions options, metrics::Registry& registry, std::shared_ptr<const TokenSet> tokens,
                       std::string content)
    : options_(std::move(options)),
      refusals_(registry.AddCounter("concord_auth_refusals_total",
                                    "gRPC calls refused by access control, by reason", {"service", "reason"})),
      tokens_(std::move(tokens)),
      content_(std::move(content)) {}

Authorizer::~Authorizer() { Stop(); }

std::shared_ptr<const TokenSet> Authorizer::tokens() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

grpc::Status Authorizer::Check(const grpc::ServerContextBase& ctx, std::string_view service, std::string_view method) {
  const std::string full = "/" + std::string(service) + "/" + std::string(method);
  auto tokens = this->tokens();
  CallInfo call{.method = full};
  const auto& md = ctx.client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    call.authorization = std::string_view(it->second.data(), it->second.size());
  }
  if (tokens) {
    if (auto ac = ctx.auth_context(); ac && ac->IsPeerAuthenticated()) {
      for (const auto& id : ac->GetPeerIdentity()) call.cert_names.emplace_back(id.data(), id.size());
    }
  }
  Decision d = Decide(tokens.get(), call);
  if (d.status.ok()) return d.status;
  refusals_.With({options_.service, d.reason}).Inc();
  // Never the token or the authorization value: the method, the peer and what was wrong.
  log::Warn("call refused by access control",
            {{"method", full},
             {"peer", ctx.peer()},
             {"principal", d.principal ? d.principal->name : ""},
             {"reason", d.reason},
             {"code", d.status.error_code() == grpc::StatusCode::UNAUTHENTICATED ? "UNAUTHENTICATED" : "PERMISSION_DENIED"},
             {"error", d.status.error_message()}});
  return d.status;
}

void Authorizer::Reload() {
  if (!enabled()) return;
  auto text = ReadFile(options_.tokens_file);
  if (!text.ok()) {
    log::Error("tokens file unreadable; the previous tokens stay in force", {{"error", text.status().ToString()}});
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (*text == content_) return;
  }
  auto set = TokenSet::Parse(*text);
  if (!set.ok()) {
    log::Error("tokens file refused; the previous tokens stay in force",
               {{"file", options_.tokens_file}, {"error", std::string(set.status().message())}});
    std::lock_guard lock(mu_);
    content_ = std::move(*text);  // logged once, not every interval
    return;
  }
  size_t n = set->principals().size();
  {
    std::lock_guard lock(mu_);
    tokens_ = std::make_shared<const TokenSet>(std::move(*set));
    content_ = std::move(*text);
  }
  log::Info("tokens file reloaded", {{"file", options_.tokens_file}, {"principals", n}});
}

void Authorizer::Start() {
  if (!enabled() || reloader_.joinable()) return;
  reloader_ = std::thread([this] {
    thread::SetName("authz-reload");
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, options_.reload_interval, [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      Reload();
      lock.lock();
    }
  });
}

void Authorizer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (reloader_.joinable()) reloader_.join();
}

}  // namespace concord::auth
