#pragma once
// Who may call what: principals from the tokens file (team + roles, SHA-256 hashes of their
// bearer tokens), the permissions the roles grant, and the one method table that says which
// permission each RPC of the three services needs. Pure data and functions; the check on a
// live call is in authorizer.h.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace concord::auth {

enum class Role : uint8_t { kReader = 1, kWriter = 2, kAdmin = 4 };

// What an RPC needs. kOpen: anyone, no token (health, reflection).
enum class Permission {
  kOpen,
  kMarketingRead,   // marketing's Get*/List*: team marketing (any role), or role reader
  kMarketingWrite,  // marketing's writes: team marketing with role writer
  kSalesRead,       // sales' Get*/List*: team sales (any role), or role reader
  kSalesWrite,      // sales' writes: team sales with role writer
  kAlignmentRead,   // findings, the watch feed, customer views, scorecards, the playbook: role reader
  kFindingsTriage,  // acknowledge / resolve / dismiss a finding: role writer (any team) or admin
  kPlaybookAdmin,   // validate and install a playbook version: role admin
};

// "marketing:write", "alignment:read", ... (the names in messages, logs and the README).
std::string_view PermissionName(Permission p);

using Sha256 = std::array<uint8_t, 32>;

struct Principal {
  std::string name;  // e.g. "mkt-automation"; logged, never secret
  std::string team;  // "marketing", "sales" or any other team name
  uint8_t roles = 0; // bits of Role
  std::vector<Sha256> token_hashes;  // several while a token is rotated
  std::string client_cert_name;      // mTLS: a client certificate with this SAN/CN is this principal

  bool HasRole(Role r) const { return (roles & static_cast<uint8_t>(r)) != 0; }
  std::string RoleNames() const;  // "reader,writer"
};

bool Grants(const Principal& p, Permission perm);

// The tokens file, parsed and checked:
//
//   principals:
//     - name: mkt-automation
//       team: marketing
//       roles: [writer]
//       sha256: 3a7bd3e2...   # printf %s "$TOKEN" | sha256sum; a list while rotating
//       client_cert: mkt-automation.concord.internal  # optional: mTLS identity (SAN or CN)
//
// Errors name the line and the principal. A key the format does not know is an error (a typo
// like "role:" must not silently grant nothing, and a plain "token:" must never be accepted).
class TokenSet {
 public:
  static absl::StatusOr<TokenSet> Parse(std::string_view yaml);

  // The principal whose token hashes to `token`'s SHA-256, or null. Every stored hash is
  // compared in constant time and the loop never stops early, so timing says nothing about
  // how close a guess came.
  const Principal* FindByToken(std::string_view token) const;
  const Principal* FindByCertName(std::string_view name) const;
  const std::vector<Principal>& principals() const { return principals_; }

 private:
  std::vector<Principal> principals_;
};

Sha256 HashToken(std::string_view token);
std::string Hex(const Sha256& h);

// The method table: every RPC of the marketing, sales and alignment services, plus the open
// health and reflection services, with the permission it needs.
struct MethodRule {
  std::string_view method;  // full gRPC name, "/concord.sales.v1.SalesService/CreateAccount"
  Permission permission;
};
const std::vector<MethodRule>& MethodTable();
// nullopt for a method the table does not know (callers refuse it: fail closed).
std::optional<Permission> RequiredPermission(std::string_view full_method);

}  // namespace concord::auth
