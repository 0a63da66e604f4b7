#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "common/auth/access.h"
#include "common/auth/authorizer.h"
#include "concord/alignment/v1/alignment.pb.h"
#include "concord/marketing/v1/marketing.pb.h"
#include "concord/sales/v1/sales.pb.h"

namespace concord::auth {
namespace {

using ::testing::HasSubstr;

std::string H(std::string_view token) { return Hex(HashToken(token)); }

std::string File() {
  return "principals:\n"
         "  - name: mkt-bot\n"
         "    team: marketing\n"
         "    roles: [writer]\n"
         "    sha256: " + H("mkt-secret") + "\n"
         "  - name: rep-li\n"
         "    team: sales\n"
         "    roles: [writer, reader]\n"
         "    sha256:\n"
         "      - " + H("sales-old") + "\n"
         "      - " + H("sales-new") + "\n"
         "  - name: dashboard\n"
         "    team: customer-success\n"
         "    roles: [reader]\n"
         "    sha256: " + H("reader-secret") + "\n"
         "  - name: ops\n"
         "    team: platform\n"
         "    roles: [admin]\n"
         "    sha256: " + H("admin-secret") + "\n"
         "    client_cert: ops.concord.internal\n";
}

TEST(TokenSet, ParsesPrincipalsAndFindsThemByToken) {
  auto set = TokenSet::Parse(File());
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->principals().size(), 4u);
  const Principal* p = set->FindByToken("mkt-secret");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "mkt-bot");
  EXPECT_EQ(p->team, "marketing");
  EXPECT_TRUE(p->HasRole(Role::kWriter));
  EXPECT_FALSE(p->HasRole(Role::kReader));
  // Both hashes of a rotating principal work.
  EXPECT_EQ(set->FindByToken("sales-old")->name, "rep-li");
  EXPECT_EQ(set->FindByToken("sales-new")->name, "rep-li");
  EXPECT_EQ(set->FindByToken("sales-new")->RoleNames(), "reader,writer");
  EXPECT_EQ(set->FindByToken("mkt-secret "), nullptr);
  EXPECT_EQ(set->FindByToken(""), nullptr);
  EXPECT_EQ(set->FindByToken(H("mkt-secret")), nullptr);  // the hash itself is not a token
  EXPECT_EQ(set->FindByCertName("ops.concord.internal")->name, "ops");
  EXPECT_EQ(set->FindByCertName("other"), nullptr);
}

TEST(TokenSet, HashIsSha256Hex) {
  // printf %s test | sha256sum
  EXPECT_EQ(H("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  // Upper-case hex in the file is accepted.
  std::string upper = H("x");
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  auto set = TokenSet::Parse("principals:\n  - {name: a, team: t, roles: [reader], sha256: " + upper + "}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_NE(set->FindByToken("x"), nullptr);
}

struct BadCase {
  std::string yaml;
  std::string message;
};

TEST(TokenSet, RejectsBadFilesWithTheLineAndWhy) {
  const std::string h = H("t1");
  const std::vector<BadCase> cases = {
      {"principals: [", "not valid YAML"},
      {"- a\n- b\n", "expected a map with a 'principals' list"},
      {"principals: {}\n", "'principals' must be a list"},
      {"principals: []\nextra: 1\n", "line 2: unknown key 'extra'"},
      {"principals:\n  - team: t\n    roles: [reader]\n    sha256: " + h + "\n", "line 2: 'name' is missing"},
      {"principals:\n  - name: a b\n    team: t\n    roles: [reader]\n    sha256: " + h + "\n", "name must be"},
      {"principals:\n  - name: a\n    roles: [reader]\n    sha256: " + h + "\n", "principal 'a': 'team' is missing"},
      {"principals:\n  - name: a\n    team: t\n    sha256: " + h + "\n", "'roles' must be a non-empty list"},
      {"principals:\n  - name: a\n    team: t\n    roles: []\n    sha256: " + h + "\n", "'roles' must be a non-empty list"},
      {"principals:\n  - name: a\n    team: t\n    roles: [reader, writter]\n    sha256: " + h + "\n",
       "line 4: principal 'a': unknown role 'writter' (reader, writer, admin)"},
      {"principals:\n  - name: a\n    team: t\n    roles: [reader]\n", "'sha256'"},
      {"principals:\n  - name: a\n    team: t\n    roles: [reader]\n    sha256: abc\n",
       "line 5: principal 'a': sha256 must be 64 hex digits"},
      {"principals:\n  - name: a\n    team: t\n    roles: [reader]\n    token: hunter2\n",
       "line 5: principal 'a': a plain 'token' is not accepted"},
      {"principals:\n  - name: a\n    team: t\n    role: [reader]\n    sha256: " + h + "\n", "unknown key 'role'"},
      {"principals:\n  - {name: a, team: t, roles: [reader], sha256: " + h + "}\n  - {name: a, team: u, roles: [reader], sha256: " +
           H("t2") + "}\n",
       "line 3: principal 'a': defined twice"},
      {"principals:\n  - {name: a, team: t, roles: [reader], sha256: " + h + "}\n  - {name: b, team: u, roles: [reader], sha256: " +
           h + "}\n",
       "principal 'b': this token hash is already used"},
  };
  for (const auto& c : cases) {
    auto set = TokenSet::Parse(c.yaml);
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(set.status().message()), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(Permissions, TeamsWriteOnlyTheirOwnDataAndReadersReadFindings) {
  auto set = TokenSet::Parse(File());
  ASSERT_TRUE(set.ok());
  const Principal& mkt = *set->FindByToken("mkt-secret");
  const Principal& sales = *set->FindByToken("sales-new");
  const Principal& reader = *set->FindByToken("reader-secret");
  const Principal& admin = *set->FindByToken("admin-secret");

  EXPECT_TRUE(Grants(mkt, Permission::kMarketingWrite));
  EXPECT_TRUE(Grants(mkt, Permission::kMarketingRead));
  EXPECT_FALSE(Grants(mkt, Permission::kSalesWrite));
  EXPECT_FALSE(Grants(mkt, Permission::kSalesRead));
  EXPECT_FALSE(Grants(mkt, Permission::kAlignmentRead));  // a writer is not a reader of findings
  EXPECT_TRUE(Grants(mkt, Permission::kFindingsTriage));
  EXPECT_FALSE(Grants(mkt, Permission::kPlaybookAdmin));

  EXPECT_TRUE(Grants(sales, Permission::kSalesWrite));
  EXPECT_FALSE(Grants(sales, Permission::kMarketingWrite));
  EXPECT_TRUE(Grants(sales, Permission::kMarketingRead));  // through its reader role
  EXPECT_TRUE(Grants(sales, Permission::kAlignmentRead));

  EXPECT_TRUE(Grants(reader, Permission::kAlignmentRead));
  EXPECT_TRUE(Grants(reader, Permission::kSalesRead));
  EXPECT_FALSE(Grants(reader, Permission::kSalesWrite));
  EXPECT_FALSE(Grants(reader, Permission::kFindingsTriage));
  EXPECT_FALSE(Grants(reader, Permission::kPlaybookAdmin));

  EXPECT_TRUE(Grants(admin, Permission::kPlaybookAdmin));
  EXPECT_TRUE(Grants(admin, Permission::kFindingsTriage));
  EXPECT_FALSE(Grants(admin, Permission::kMarketingWrite));
  EXPECT_FALSE(Grants(admin, Permission::kAlignmentRead));

  // A team named like a service but without the writer role cannot write.
  auto ro = TokenSet::Parse("principals:\n  - {name: m, team: marketing, roles: [reader], sha256: " + H("m") + "}\n");
  ASSERT_TRUE(ro.ok());
  EXPECT_FALSE(Grants(ro->principals()[0], Permission::kMarketingWrite));
}

// The table lists exactly the methods of the three services (plus health and reflection): a new
// RPC without a rule fails this test, not open in production.
TEST(MethodTable, CoversEveryRpcOfTheServicesExactlyOnce) {
  // Touch the generated files so their descriptors are linked in and registered.
  (void)marketing::v1::CreateCampaignRequest::descriptor();
  (void)sales::v1::CreateAccountRequest::descriptor();
  (void)alignment::v1::ListFindingsRequest::descriptor();
  std::set<std::string> from_protos;
  for (const char* svc : {"concord.marketing.v1.MarketingService", "concord.sales.v1.SalesService",
                          "concord.alignment.v1.AlignmentService"}) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(svc);
    ASSERT_NE(d, nullptr) << svc;
    for (int i = 0; i < d->method_count(); ++i) from_protos.insert("/" + d->full_name() + "/" + d->method(i)->name());
  }
  std::set<std::string> in_table;
  for (const auto& rule : MethodTable()) {
    EXPECT_TRUE(in_table.insert(std::string(rule.method)).second) << "listed twice: " << rule.method;
    if (rule.permission == Permission::kOpen) {
      EXPECT_TRUE(rule.method.starts_with("/grpc.")) << "only gRPC's own services are open: " << rule.method;
      in_table.erase(std::string(rule.method));
    }
  }
  EXPECT_EQ(in_table, from_protos);
  EXPECT_EQ(in_table.size(), 56u);
}

TEST(MethodTable, WritesNeedTheirTeamReadsAndAdminAsDocumented) {
  EXPECT_EQ(RequiredPermission("/concord.marketing.v1.MarketingService/SendMessage"), Permission::kMarketingWrite);
  EXPECT_EQ(RequiredPermission("/concord.marketing.v1.MarketingService/ListLeads"), Permission::kMarketingRead);
  EXPECT_EQ(RequiredPermission("/concord.sales.v1.SalesService/SendMessage"), Permission::kSalesWrite);
  EXPECT_EQ(RequiredPermission("/concord.sales.v1.SalesService/GetQuote"), Permission::kSalesRead);
  EXPECT_EQ(RequiredPermission("/concord.alignment.v1.AlignmentService/WatchFindings"), Permission::kAlignmentRead);
  EXPECT_EQ(RequiredPermission("/concord.alignment.v1.AlignmentService/DismissFinding"), Permission::kFindingsTriage);
  EXPECT_EQ(RequiredPermission("/concord.alignment.v1.AlignmentService/UpdatePlaybook"), Permission::kPlaybookAdmin);
  EXPECT_EQ(RequiredPermission("/grpc.health.v1.Health/Check"), Permission::kOpen);
  EXPECT_EQ(RequiredPermission("/concord.sales.v1.SalesService/DropEverything"), std::nullopt);
  // Every write method (by the naming rule Get*/List* = read) needs a write permission.
  for (const auto& rule : MethodTable()) {
    std::string_view m = rule.method.substr(rule.method.rfind('/') + 1);
    bool read = m.starts_with("Get") || m.starts_with("List") || m.starts_with("Watch") || m == "Check" ||
                m == "ServerReflectionInfo" || m == "ValidatePlaybook";
    bool read_perm = rule.permission == Permission::kOpen || rule.permission == Permission::kMarketingRead ||
                     rule.permission == Permission::kSalesRead || rule.permission == Permission::kAlignmentRead ||
                     m == "ValidatePlaybook";
    EXPECT_EQ(read, read_perm) << rule.method;
  }
}

TEST(Decide, RefusesWithTheRightCodeAndReason) {
  auto set = TokenSet::Parse(File());
  ASSERT_TRUE(set.ok());
  const std::string create_account = "/concord.sales.v1.SalesService/CreateAccount";
  auto decide = [&](std::optional<std::string_view> authz, std::string_view method, std::vector<std::string> certs = {}) {
    return Decide(&*set, CallInfo{.method = method, .authorization = authz, .cert_names = std::move(certs)});
  };

  auto d = decide(std::nullopt, create_account);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.reason, "missing_credentials");
  EXPECT_THAT(d.status.error_message(), HasSubstr("authorization: Bearer"));

  d = decide("Basic dXNlcjpwdw==", create_account);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.reason, "malformed_token");
  d = decide("Bearer   ", create_account);
  EXPECT_EQ(d.reason, "malformed_token");

  d = decide("Bearer wrong", create_account);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.reason, "unknown_token");
  EXPECT_THAT(d.status.error_message(), ::testing::Not(HasSubstr("wrong")));

  d = decide("Bearer mkt-secret", create_account);  // the wrong team
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(d.reason, "permission_denied");
  ASSERT_NE(d.principal, nullptr);
  EXPECT_EQ(d.principal->name, "mkt-bot");
  EXPECT_EQ(d.status.error_message(),
            "principal 'mkt-bot' (team marketing, roles writer) lacks the permission sales:write that " + create_account +
                " needs");
  EXPECT_THAT(d.status.error_message(), ::testing::Not(HasSubstr("mkt-secret")));

  d = decide("bearer sales-new", create_account);  // the scheme is case-insensitive
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal->name, "rep-li");

  d = decide("Bearer sales-new", "/concord.marketing.v1.MarketingService/CaptureLead");
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  d = decide(std::nullopt, "/grpc.health.v1.Health/Check");
  EXPECT_TRUE(d.status.ok());

  d = decide("Bearer admin-secret", "/concord.sales.v1.SalesService/Unknown");
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(d.reason, "unknown_method");

  // mTLS identity: a mapped certificate name is the principal; an unmapped one is not enough.
  d = decide(std::nullopt, "/concord.alignment.v1.AlignmentService/UpdatePlaybook", {"x", "ops.concord.internal"});
  EXPECT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal->name, "ops");
  d = decide(std::nullopt, "/concord.alignment.v1.AlignmentService/UpdatePlaybook", {"stranger"});
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(d.status.error_message(), HasSubstr("not mapped"));

  // Access control off: everything the table knows is allowed, unknown methods still are not.
  EXPECT_TRUE(Decide(nullptr, CallInfo{.method = create_account}).status.ok());
  EXPECT_EQ(Decide(nullptr, CallInfo{.method = "/x.Y/Z"}).status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

class TempFile {
 public:
  TempFile() : path_(std::filesystem::temp_directory_path() / ("concord-tokens-" + std::to_string(::getpid()) + ".yaml")) {}
  ~TempFile() { std::filesystem::remove(path_); }
  void Write(const std::string& s) { std::ofstream(path_, std::ios::trunc) << s; }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(Authorizer, LoadsTheFileAndReloadsOnlyAGoodNewVersion) {
  metrics::Registry registry;
  EXPECT_FALSE(Authorizer::Create({.service = "s", .tokens_file = "/nonexistent/tokens.yaml"}, registry).ok());

  TempFile f;
  f.Write("principals: [\n");
  auto bad = Authorizer::Create({.service = "s", .tokens_file = f.path()}, registry);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(f.path() + ": line"));

  f.Write(File());
  auto a = Authorizer::Create({.service = "s", .tokens_file = f.path(), .reload_interval = std::chrono::seconds(1)}, registry);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE((*a)->enabled());
  auto& authz = **a;
  EXPECT_NE(authz.tokens()->FindByToken("mkt-secret"), nullptr);

  // A new good version replaces the old one...
  f.Write("principals:\n  - {name: new, team: sales, roles: [writer], sha256: " + H("new-secret") + "}\n");
  authz.Reload();
  EXPECT_EQ(authz.tokens()->FindByToken("mkt-secret"), nullptr);
  EXPECT_EQ(authz.tokens()->FindByToken("new-secret")->name, "new");
  // ...a broken one is refused and the tokens in force stay.
  f.Write("principals:\n  - {name: broken, team: sales, roles: [boss], sha256: " + H("b") + "}\n");
  authz.Reload();
  EXPECT_EQ(authz.tokens()->FindByToken("new-secret")->name, "new");
  EXPECT_EQ(authz.tokens()->FindByToken("b"), nullptr);
  // The reload thread picks a change up by itself.
  f.Write(File());
  authz.Start();
  for (int i = 0; i < 100 && !authz.tokens()->FindByToken("mkt-secret"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(authz.tokens()->FindByToken("mkt-secret"), nullptr);
  authz.Stop();

  auto off = Authorizer::Create({.service = "s"}, registry);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE((*off)->enabled());
}

}  // namespace
}  // namespace concord::auth
