#include "common/auth/access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <set>
#include <unordered_map>

#include <absl/strings/str_cat.h>
#include <yaml-cpp/yaml.h>

namespace concord::auth {

std::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kOpen: return "open";
    case Permission::kMarketingRead: return "marketing:read";
    case Permission::kMarketingWrite: return "marketing:write";
    case Permission::kSalesRead: return "sales:read";
    case Permission::kSalesWrite: return "sales:write";
    case Permission::kAlignmentRead: return "alignment:read";
    case Permission::kFindingsTriage: return "findings:triage";
    case Permission::kPlaybookAdmin: return "playbook:admin";
  }
  return "unknown";
}

std::string Principal::RoleNames() const {
  std::string out;
  for (auto [role, name] : {std::pair{Role::kReader, "reader"}, {Role::kWriter, "writer"}, {Role::kAdmin, "admin"}}) {
    if (HasRole(role)) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out;
}

bool Grants(const Principal& p, Permission perm) {
  switch (perm) {
    case Permission::kOpen: return true;
    case Permission::kMarketingRead: return p.team == "marketing" || p.HasRole(Role::kReader);
    case Permission::kMarketingWrite: return p.team == "marketing" && p.HasRole(Role::kWriter);
    case Permission::kSalesRead: return p.team == "sales" || p.HasRole(Role::kReader);
    case Permission::kSalesWrite: return p.team == "sales" && p.HasRole(Role::kWriter);
    case Permission::kAlignmentRead: return p.HasRole(Role::kReader);
    case Permission::kFindingsTriage: return p.HasRole(Role::kWriter) || p.HasRole(Role::kAdmin);
    case Permission::kPlaybookAdmin: return p.HasRole(Role::kAdmin);
  }
  return false;
}

Sha256 HashToken(std::string_view token) {
  Sha256 out;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), out.data());
  return out;
}

std::string Hex(const Sha256& h) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t c : h) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

namespace {

absl::Status Err(const YAML::Node& at, std::string_view who, std::string_view what) {
  std::string where = at.IsDefined() ? "line " + std::to_string(at.Mark().line + 1) + ": " : "";
  if (!who.empty()) where += "principal '" + std::string(who) + "': ";
  return absl::InvalidArgumentError(where + std::string(what));
}

bool ParseHex(std::string s, Sha256* out) {
  if (s.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool IsName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '@';
  });
}

absl::StatusOr<std::string> Scalar(const YAML::Node& map, const char* key, std::string_view who) {
  auto n = map[key];
  if (!n) return Err(map, who, absl::StrCat("'", key, "' is missing"));
  if (!n.IsScalar()) return Err(n, who, absl::StrCat("'", key, "' must be a string"));
  return n.Scalar();
}

}  // namespace

absl::StatusOr<TokenSet> TokenSet::Parse(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  if (!root.IsMap() || !root["principals"]) {
    return absl::InvalidArgumentError("expected a map with a 'principals' list");
  }
  for (const auto& kv : root) {
    if (kv.first.Scalar() != "principals") {
      return Err(kv.first, "", absl::StrCat("unknown key '", kv.first.Scalar(), "' (only 'principals')"));
    }
  }
  const YAML::Node list = root["principals"];
  if (!list.IsSequence()) return Err(list, "", "'principals' must be a list");

  TokenSet set;
  std::set<std::string> names, cert_names;
  std::set<Sha256> hashes;
  for (const auto& item : list) {
    if (!item.IsMap()) return Err(item, "", "each principal must be a map (name, team, roles, sha256)");
    auto name = Scalar(item, "name", "");
    if (!name.ok()) return name.status();
    const std::string& who = *name;
    if (!IsName(who)) return Err(item["name"], who, "name must be 1-128 of [A-Za-z0-9._@-]");
    if (!names.insert(who).second) return Err(item["name"], who, "defined twice");
    for (const auto& kv : item) {
      const std::string& key = kv.first.Scalar();
      if (key == "name" || key == "team" || key == "roles" || key == "sha256" || key == "client_cert") continue;
      if (key == "token") {
        return Err(kv.first, who, "a plain 'token' is not accepted: store its SHA-256 as 'sha256' "
                                  "(printf %s \"$TOKEN\" | sha256sum)");
      }
      return Err(kv.first, who, absl::StrCat("unknown key '", key, "' (name, team, roles, sha256, client_cert)"));
    }
    Principal p;
    p.name = who;
    auto team = Scalar(item, "team", who);
    if (!team.ok()) return team.status();
    if (!IsName(*team)) return Err(item["team"], who, "team must be 1-128 of [A-Za-z0-9._@-]");
    p.team = *team;

    auto roles = item["roles"];
    if (!roles || !roles.IsSequence() || roles.size() == 0) {
      return Err(roles ? roles : YAML::Node(item), who, "'roles' must be a non-empty list of reader, writer, admin");
    }
    for (const auto& r : roles) {
      const std::string role = r.IsScalar() ? r.Scalar() : "";
      if (role == "reader") p.roles |= static_cast<uint8_t>(Role::kReader);
      else if (role == "writer") p.roles |= static_cast<uint8_t>(Role::kWriter);
      else if (role == "admin") p.roles |= static_cast<uint8_t>(Role::kAdmin);
      else return Err(r, who, absl::StrCat("unknown role '", role, "' (reader, writer, admin)"));
    }

    auto hs = item["sha256"];
    std::vector<YAML::Node> hash_nodes;
    if (hs && hs.IsScalar()) hash_nodes.push_back(hs);
    if (hs && hs.IsSequence()) for (const auto& h : hs) hash_nodes.push_back(h);
    if (auto c = item["client_cert"]) {
      if (!c.IsScalar() || c.Scalar().empty()) return Err(c, who, "'client_cert' must be a certificate name (SAN or CN)");
      p.client_cert_name = c.Scalar();
      if (!cert_names.insert(p.client_cert_name).second) {
        return Err(c, who, absl::StrCat("client_cert '", p.client_cert_name, "' belongs to another principal"));
      }
    }
    if (hash_nodes.empty() && p.client_cert_name.empty()) {
      return Err(hs ? hs : YAML::Node(item), who, "'sha256' (the hex SHA-256 of the token, or a list of them) is missing");
    }
    for (const auto& h : hash_nodes) {
      Sha256 digest;
      if (!h.IsScalar() || !ParseHex(h.Scalar(), &digest)) {
        return Err(h, who, "sha256 must be 64 hex digits (printf %s \"$TOKEN\" | sha256sum)");
      }
      if (!hashes.insert(digest).second) return Err(h, who, "this token hash is already used by another principal");
      p.token_hashes.push_back(digest);
    }
    set.principals_.push_back(std::move(p));
  }
  return set;
}

const Principal* TokenSet::FindByToken(std::string_view token) const {
  const Sha256 h = HashToken(token);
  const Principal* found = nullptr;
  for (const auto& p : principals_) {
    for (const auto& stored : p.token_hashes) {
      // CRYPTO_memcmp takes the same time whatever the bytes; no early exit either.
      if (CRYPTO_memcmp(stored.data(), h.data(), h.size()) == 0) found = &p;
    }
  }
  return found;
}

const Principal* TokenSet::FindByCertName(std::string_view name) const {
  if (name.empty()) return nullptr;
  for (const auto& p : principals_) {
    if (p.client_cert_name == name) return &p;
  }
  return nullptr;
}

// ---- the method table ------------------------------------------------------------------------
// Every RPC of the three services and the permission it needs, in one place. A method missing
// here is refused (PERMISSION_DENIED), and access_test checks that this table and the .proto
// services list exactly the same methods.

namespace {
#define MKT(m) "/concord.marketing.v1.MarketingService/" #m
#define SLS(m) "/concord.sales.v1.SalesService/" #m
#define ALN(m) "/concord.alignment.v1.AlignmentService/" #m
const std::vector<MethodRule> kTable = {
    // marketing: writes by the marketing team, reads by marketing or any reader
    {MKT(CreateCampaign), Permission::kMarketingWrite},
    {MKT(UpdateCampaign), Permission::kMarketingWrite},
    {MKT(LaunchCampaign), Permission::kMarketingWrite},
    {MKT(EndCampaign), Permission::kMarketingWrite},
    {MKT(GetCampaign), Permission::kMarketingRead},
    {MKT(ListCampaigns), Permission::kMarketingRead},
    {MKT(CaptureLead), Permission::kMarketingWrite},
    {MKT(UpdateLead), Permission::kMarketingWrite},
    {MKT(ScoreLead), Permission::kMarketingWrite},
    {MKT(QualifyLead), Permission::kMarketingWrite},
    {MKT(HandOffLead), Permission::kMarketingWrite},
    {MKT(RecycleLead), Permission::kMarketingWrite},
    {MKT(GetLead), Permission::kMarketingRead},
    {MKT(ListLeads), Permission::kMarketingRead},
    {MKT(SendMessage), Permission::kMarketingWrite},
    {MKT(GetMessage), Permission::kMarketingRead},
    {MKT(ListMessages), Permission::kMarketingRead},
    // sales: writes by the sales team, reads by sales or any reader
    {SLS(CreateAccount), Permission::kSalesWrite},
    {SLS(UpdateAccount), Permission::kSalesWrite},
    {SLS(MergeAccounts), Permission::kSalesWrite},
    {SLS(GetAccount), Permission::kSalesRead},
    {SLS(ListAccounts), Permission::kSalesRead},
    {SLS(CreateContact), Permission::kSalesWrite},
    {SLS(UpdateContact), Permission::kSalesWrite},
    {SLS(MergeContacts), Permission::kSalesWrite},
    {SLS(GetContact), Permission::kSalesRead},
    {SLS(ListContacts), Permission::kSalesRead},
    {SLS(AcceptHandoff), Permission::kSalesWrite},
    {SLS(RejectHandoff), Permission::kSalesWrite},
    {SLS(AssignOwner), Permission::kSalesWrite},
    {SLS(LogActivity), Permission::kSalesWrite},
    {SLS(ListActivities), Permission::kSalesRead},
    {SLS(IssueQuote), Permission::kSalesWrite},
    {SLS(ReviseQuote), Permission::kSalesWrite},
    {SLS(WithdrawQuote), Permission::kSalesWrite},
    {SLS(GetQuote), Permission::kSalesRead},
    {SLS(ListQuotes), Permission::kSalesRead},
    {SLS(MakeCommitment), Permission::kSalesWrite},
    {SLS(ListCommitments), Permission::kSalesRead},
    {SLS(CreateOpportunity), Permission::kSalesWrite},
    {SLS(UpdateOpportunityStage), Permission::kSalesWrite},
    {SLS(GetOpportunity), Permission::kSalesRead},
    {SLS(ListOpportunities), Permission::kSalesRead},
    {SLS(SendMessage), Permission::kSalesWrite},
    {SLS(ListMessages), Permission::kSalesRead},
    // alignment: findings and feeds need a reader; status changes a writer; the playbook an admin
    {ALN(ListFindings), Permission::kAlignmentRead},
    {ALN(GetFinding), Permission::kAlignmentRead},
    {ALN(WatchFindings), Permission::kAlignmentRead},
    {ALN(AcknowledgeFinding), Permission::kFindingsTriage},
    {ALN(ResolveFinding), Permission::kFindingsTriage},
    {ALN(DismissFinding), Permission::kFindingsTriage},
    {ALN(GetCustomerView), Permission::kAlignmentRead},
    {ALN(GetScorecard), Permission::kAlignmentRead},
    {ALN(GetPlaybook), Permission::kAlignmentRead},
    {ALN(UpdatePlaybook), Permission::kPlaybookAdmin},
    {ALN(ValidatePlaybook), Permission::kPlaybookAdmin},
    // open: probes and tooling (served by gRPC itself, never behind a token)
    {"/grpc.health.v1.Health/Check", Permission::kOpen},
    {"/grpc.health.v1.Health/Watch", Permission::kOpen},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Permission::kOpen},
};
#undef MKT
#undef SLS
#undef ALN
}  // namespace

const std::vector<MethodRule>& MethodTable() { return kTable; }

std::optional<Permission> RequiredPermission(std::string_view full_method) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, Permission>();
    for (const auto& r : kTable) m->emplace(r.method, r.permission);
    return m;
  }();
  auto it = index->find(full_method);
  if (it == index->end()) return std::nullopt;
  return it->second;
}

}  // namespace concord::auth
