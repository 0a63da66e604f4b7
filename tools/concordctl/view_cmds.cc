// concordctl customer show | scorecard | playbook show|validate|load
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <google/protobuf/util/time_util.h>

#include "concord/alignment/v1/alignment.grpc.pb.h"
#include "tools/concordctl/commands.h"
#include "tools/concordctl/findings_view.h"
#include "tools/concordctl/format.h"

namespace concord::ctl {
namespace av = concord::alignment::v1;
namespace ev1 = concord::events::v1;
using google::protobuf::util::TimeUtil;

namespace {

std::string StageName(int s) { return ShortEnumName(ev1::LifecycleStage_descriptor(), "LIFECYCLE_STAGE_", s); }

std::string Ratio(const av::Ratio& r) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f%% (%llu/%llu)", r.value() * 100, static_cast<unsigned long long>(r.numerator()),
                static_cast<unsigned long long>(r.denominator()));
  return buf;
}

std::string ClaimValueText(const av::ClaimValue& v) {
  if (!v.display().empty()) return v.display();
  if (v.has_money()) return FormatMoney(v.money().currency_code(), v.money().units(), v.money().nanos());
  if (v.has_quantity()) return std::to_string(v.quantity().value());
  if (v.has_flag()) return v.flag() ? "yes" : "no";
  return v.text();
}

std::string ReadFile(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LocalError("NOT_FOUND", path + ": cannot be read", kExitNotFound);
  ss << in.rdbuf();
  return ss.str();
}

void PrintProblems(std::ostream& out, const google::protobuf::RepeatedPtrField<av::PlaybookProblem>& problems) {
  if (problems.empty()) return;
  Table t({"LEVEL", "LINE", "PATH", "MESSAGE"}, {0, 0, 40, 100});
  for (const auto& p : problems) {
    std::string where = p.line() ? std::to_string(p.line()) + (p.column() ? ":" + std::to_string(p.column()) : "") : "-";
    t.AddRow({ShortEnumName(av::PlaybookProblem::Level_descriptor(), "LEVEL_", p.level()), where, p.path(), p.message()});
  }
  t.Render(out);
}

}  // namespace

void AddCustomerScorecardPlaybookCommands(CLI::App& app, Context& ctx, Action& action) {
  // customer show
  {
    struct Opts {
      std::string key, email, website, account;
      unsigned max_touches = 20;
    };
    auto o = std::make_shared<Opts>();
    auto* customer = app.add_subcommand("customer", "The shared view of one customer");
    customer->require_subcommand(1);
    auto* sub = customer->add_subcommand("show", "Identity, matched records, stage, owner, touches, live claims, open findings");
    sub->add_option("key", o->key, "Customer key (e.g. domain:acme.com); or use --email / --website / --account");
    sub->add_option("--email", o->email, "Resolve the customer from an email");
    sub->add_option("--website", o->website, "Resolve the customer from a company website or domain");
    sub->add_option("--account", o->account, "Resolve the customer from a sales account id");
    sub->add_option("--max-touches", o->max_touches, "Recent touches to show (max 200)")->capture_default_str();
    OnRun(sub, action, [&ctx, o] {
      av::GetCustomerViewRequest req;
      if (o->key.empty() && o->email.empty() && o->website.empty() && o->account.empty()) {
        throw UsageError("customer show: give a customer KEY or --email / --website / --account");
      }
      req.set_customer_key(o->key);
      if (o->key.empty()) {
        req.mutable_identity()->set_account_id(o->account);
        req.mutable_identity()->mutable_person()->set_email(o->email);
        req.mutable_identity()->mutable_person()->set_website(o->website);
      }
      req.set_max_touches(o->max_touches);
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      av::CustomerView v;
      auto c = ctx.Call();
      Context::Check(stub->GetCustomerView(c.get(), req, &v));
      if (ctx.json()) return ctx.PrintJson(v);
      auto& out = ctx.out();
      std::vector<std::pair<std::string, std::string>> kv = {{"customer", v.customer_key()}};
      if (!v.display_name().empty()) kv.push_back({"name", v.display_name()});
      if (!v.domain().empty()) kv.push_back({"domain", v.domain()});
      if (!v.account_id().empty()) kv.push_back({"account", v.account_id()});
      if (v.alias_keys_size()) {
        std::string a;
        for (const auto& k : v.alias_keys()) a += (a.empty() ? "" : ", ") + k;
        kv.push_back({"aliases", a});
      }
      if (v.lifecycle_stage()) kv.push_back({"stage", StageName(v.lifecycle_stage())});
      if (v.owning_team()) kv.push_back({"owned by", TeamName(v.owning_team()) + (v.owner().id().empty() ? "" : " (" + v.owner().id() + ")")});
      if (v.lead_score()) kv.push_back({"lead score", std::to_string(v.lead_score())});
      if (v.has_handoff() && !v.handoff().handoff_id().empty()) {
        const auto& h = v.handoff();
        kv.push_back({"hand-off", h.handoff_id() + " " + ShortEnumName(ev1::HandoffStatus_descriptor(), "HANDOFF_STATUS_", h.status()) +
                                      ", due " + FormatTime(h.sla_due_at()) + (h.sla_breached() ? " (SLA BREACHED)" : "")});
      }
      kv.push_back({"first seen", FormatTime(v.first_seen_at())});
      kv.push_back({"last touch", FormatTime(v.last_touch_at())});
      kv.push_back({"as of", FormatTime(v.as_of())});
      out << KeyValues(kv);
      if (v.record_groups_size()) {
        out << "\nrecords\n";
        Table t({"  GROUP", "TYPE", "ID", "TEAM", "NAME", "EMAIL", "MATCH"}, {0, 0, 24, 0, 30, 36, 50});
        for (const auto& g : v.record_groups()) {
          for (const auto& r : g.records()) {
            const auto& p = r.identity();
            std::string name = p.full_name().empty() ? p.first_name() + (p.last_name().empty() ? "" : " " + p.last_name()) : p.full_name();
            std::string why;
            for (const auto& m : r.match_reasons()) why += (why.empty() ? "" : "; ") + m;
            t.AddRow({"  " + g.group_id(), ShortEnumName(av::RecordType_descriptor(), "RECORD_TYPE_", r.record_type()), r.record_id(),
                      TeamName(r.team()), name, p.email(), why});
          }
        }
        t.Render(out);
      }
      if (v.open_opportunities_size()) {
        out << "\nopen opportunities\n";
        Table t({"  ID", "NAME", "STAGE", "AMOUNT", "OWNER"}, {0, 40, 0, 0, 0});
        for (const auto& op : v.open_opportunities()) {
          t.AddRow({"  " + op.opportunity_id(), op.name(), ShortEnumName(ev1::OpportunityStage_descriptor(), "OPPORTUNITY_STAGE_", op.stage()),
                    op.has_amount() ? FormatMoney(op.amount().currency_code(), op.amount().units(), op.amount().nanos()) : "-",
                    op.owner().id()});
        }
        t.Render(out);
      }
      if (v.recent_touches_size()) {
        out << "\nrecent touches\n";
        Table t({"  TIME", "ACTOR", "KIND", "SUMMARY"}, {0, 28, 0, 70});
        for (const auto& x : v.recent_touches()) {
          t.AddRow({"  " + FormatTime(x.occurred_at()), ActorName(x.actor()), ShortEnumName(av::TouchKind_descriptor(), "TOUCH_KIND_", x.kind()),
                    x.summary()});
        }
        t.Render(out);
      }
      if (v.live_claims_size()) {
        out << "\nlive claims\n";
        Table t({"  ACTOR", "PRODUCT", "ATTRIBUTE", "VALUE", "UNTIL"}, {28, 24, 0, 30, 0});
        for (const auto& cl : v.live_claims()) {
          t.AddRow({"  " + ActorName(cl.actor()), cl.product().empty() ? cl.feature() : cl.product(),
                    ShortEnumName(av::ClaimAttribute_descriptor(), "CLAIM_ATTRIBUTE_", cl.attribute()), ClaimValueText(cl.value()),
                    FormatTime(cl.valid_until())});
        }
        t.Render(out);
      }
      out << "\nopen findings\n";
      if (v.open_findings_size() == 0) {
        out << "  none\n";
      } else {
        Table t = FindingsTable(false);
        for (const auto& f : v.open_findings()) AddFindingRow(t, f, false);
        t.Render(out);
      }
    });
  }

  // scorecard
  {
    struct Opts {
      std::string team, segment_customers, segment_regions, segment_industries, since, until;
      bool overall = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = app.add_subcommand("scorecard", "Alignment metrics of a team, a segment or overall, against the previous period");
    auto* team = sub->add_option("--team", o->team, "marketing or sales");
    auto* seg = sub->add_option("--segment", o->segment_customers, "Segment as a list of customer keys, comma-separated");
    auto* reg = sub->add_option("--segment-region", o->segment_regions, "Segment by region(s), comma-separated");
    auto* ind = sub->add_option("--segment-industry", o->segment_industries, "Segment by industry(ies), comma-separated");
    auto* overall = sub->add_flag("--overall", o->overall, "Everything (the default)");
    team->excludes(seg)->excludes(reg)->excludes(ind)->excludes(overall);
    seg->excludes(reg)->excludes(ind)->excludes(overall);
    reg->excludes(overall);
    ind->excludes(overall);
    sub->add_option("--since", o->since, "Period start (default: 7 days before --until)");
    sub->add_option("--until", o->until, "Period end (default: now)");
    OnRun(sub, action, [&ctx, o] {
      av::GetScorecardRequest req;
      std::string scope = "overall";
      if (!o->team.empty()) {
        auto v = ParseEnum(ev1::Team_descriptor(), "TEAM_", o->team);
        if (!v) throw UsageError("--team: unknown team '" + o->team + "' (marketing, sales)");
        req.mutable_scope()->set_team(static_cast<ev1::Team>(*v));
        scope = "team " + TeamName(*v);
      } else if (!o->segment_customers.empty()) {
        for (const auto& k : SplitList(o->segment_customers)) req.mutable_scope()->mutable_segment()->mutable_customers()->add_customer_keys(k);
        scope = "segment of " + std::to_string(req.scope().segment().customers().customer_keys_size()) + " customers";
      } else if (!o->segment_regions.empty() || !o->segment_industries.empty()) {
        auto* cr = req.mutable_scope()->mutable_segment()->mutable_criteria();
        for (const auto& r : SplitList(o->segment_regions)) cr->add_regions(r);
        for (const auto& i : SplitList(o->segment_industries)) cr->add_industries(i);
        scope = "segment " + o->segment_regions + (o->segment_industries.empty() ? "" : " " + o->segment_industries);
      }
      if (!o->since.empty()) *req.mutable_start_time() = ParseTime("--since", o->since);
      if (!o->until.empty()) *req.mutable_end_time() = ParseTime("--until", o->until);
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      av::Scorecard s;
      auto c = ctx.Call();
      Context::Check(stub->GetScorecard(c.get(), req, &s));
      if (ctx.json()) return ctx.PrintJson(s);
      auto& out = ctx.out();
      out << KeyValues({{"scope", scope},
                        {"period", FormatTime(s.start_time()) + " .. " + FormatTime(s.end_time())},
                        {"previous", FormatTime(s.previous_start_time()) + " .. " + FormatTime(s.previous_end_time())},
                        {"playbook", "v" + std::to_string(s.playbook_version())}})
          << "\n";
      std::map<std::string, std::string> trend;
      for (const auto& t : s.trends()) trend[t.metric()] = ShortEnumName(av::TrendDirection_descriptor(), "TREND_DIRECTION_", t.direction());
      auto tr = [&](const std::string& m) { return trend.count(m) ? trend[m] : ""; };
      const auto& cur = s.current();
      const auto& prev = s.previous();
      auto dur = [](const google::protobuf::Duration& d) {
        return d.seconds() || d.nanos() ? FormatDuration(std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d))) : "-";
      };
      Table t({"METRIC", "CURRENT", "PREVIOUS", "TREND"});
      t.AddRow({"duplicate work rate", Ratio(cur.duplicate_work_rate()), Ratio(prev.duplicate_work_rate()), tr("duplicate_work_rate")});
      t.AddRow({"conflicting claim rate", Ratio(cur.conflicting_claim_rate()), Ratio(prev.conflicting_claim_rate()), tr("conflicting_claim_rate")});
      t.AddRow({"hand-off SLA adherence", Ratio(cur.handoff_sla_adherence()), Ratio(prev.handoff_sla_adherence()), tr("handoff_sla_adherence")});
      t.AddRow({"median time to accept", dur(cur.median_time_to_accept()), dur(prev.median_time_to_accept()), tr("median_time_to_accept")});
      t.AddRow({"hand-offs accepted", std::to_string(cur.handoffs_accepted()), std::to_string(prev.handoffs_accepted()), ""});
      t.AddRow({"findings raised", std::to_string(cur.findings_raised()), std::to_string(prev.findings_raised()), tr("findings_raised")});
      t.AddRow({"customers touched", std::to_string(cur.customers_touched()), std::to_string(prev.customers_touched()), ""});
      t.AddRow({"touches", std::to_string(cur.touches()), std::to_string(prev.touches()), ""});
      t.AddRow({"claims", std::to_string(cur.claims()), std::to_string(prev.claims()), ""});
      t.Render(out);
      out << "\n";
      Table sev({"OPEN BY SEVERITY", "CURRENT", "PREVIOUS"});
      for (int i = 0; i < cur.open_findings_by_severity_size(); ++i) {
        const auto& x = cur.open_findings_by_severity(i);
        uint64_t p = 0;
        for (const auto& y : prev.open_findings_by_severity()) {
          if (y.severity() == x.severity()) p = y.count();
        }
        sev.AddRow({SeverityName(x.severity()), std::to_string(x.count()), std::to_string(p)});
      }
      sev.Render(out);
      out << "\n";
      Table ty({"RAISED BY TYPE", "CURRENT", "PREVIOUS"});
      for (const auto& x : cur.findings_by_type()) {
        uint64_t p = 0;
        for (const auto& y : prev.findings_by_type()) {
          if (y.type() == x.type()) p = y.count();
        }
        ty.AddRow({FindingTypeName(x.type()), std::to_string(x.count()), std::to_string(p)});
      }
      ty.Render(out);
    });
  }

  // playbook
  auto* playbook = app.add_subcommand("playbook", "Show, validate and load the alignment playbook");
  playbook->require_subcommand(1);
  {
    auto version = std::make_shared<uint64_t>(0);
    auto* sub = playbook->add_subcommand("show", "The playbook in force (or --version N) as YAML, with its metadata as comments");
    sub->add_option("--version", *version, "A stored version (0 = the one in force)");
    OnRun(sub, action, [&ctx, version] {
      av::GetPlaybookRequest req;
      req.set_version(*version);
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      av::Playbook p;
      auto c = ctx.Call();
      Context::Check(stub->GetPlaybook(c.get(), req, &p));
      if (ctx.json()) return ctx.PrintJson(p);
      ctx.out() << "# playbook version " << p.version() << (p.declared_version().empty() ? "" : " (declared " + p.declared_version() + ")")
                << "\n# sha256 " << p.sha256() << "\n# loaded " << FormatTime(p.loaded_at()) << " by " << ActorName(p.loaded_by())
                << " from " << p.source() << "\n"
                << p.yaml();
      if (!p.yaml().empty() && p.yaml().back() != '\n') ctx.out() << "\n";
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* sub = playbook->add_subcommand("validate", "Check a playbook file without installing it (exit 4 if it has errors)");
    sub->add_option("file", *file, "YAML file ('-' = stdin)")->required();
    OnRun(sub, action, [&ctx, file] {
      av::ValidatePlaybookRequest req;
      req.set_yaml(ReadFile(*file));
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      av::ValidatePlaybookResponse resp;
      auto c = ctx.Call();
      Context::Check(stub->ValidatePlaybook(c.get(), req, &resp));
      int errors = 0;
      for (const auto& p : resp.problems()) errors += p.level() == av::PlaybookProblem::LEVEL_ERROR;
      if (ctx.json()) {
        ctx.PrintJson(resp);
      } else {
        ctx.out() << *file << ": " << (resp.valid() ? "valid" : "INVALID")
                  << (resp.declared_version().empty() ? "" : " (declared version " + resp.declared_version() + ")") << ", "
                  << resp.problems_size() << " problem(s)\n";
        PrintProblems(ctx.out(), resp.problems());
      }
      if (!resp.valid()) {
        throw LocalError("INVALID_ARGUMENT", *file + " is not a valid playbook (" + std::to_string(errors) + " error(s))", kExitRejected);
      }
    });
  }
  {
    struct Opts {
      std::string file, actor;
      bool force = false;
      uint64_t expected = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = playbook->add_subcommand(
        "load", "Install a playbook file as a new version (refused if invalid, or if someone installed another version meanwhile)");
    sub->add_option("file", o->file, "YAML file ('-' = stdin)")->required();
    sub->add_option("--actor", o->actor, "Who installs it (default: the global --actor / CONCORD_ACTOR)");
    auto* exp = sub->add_option("--expected-version", o->expected, "Install only over this version (default: the version in force now)");
    sub->add_flag("--force-version", o->force, "Install whatever version is in force (no optimistic-concurrency check)")->excludes(exp);
    OnRun(sub, action, [&ctx, o] {
      av::UpdatePlaybookRequest req;
      req.set_request_id(Context::NewRequestId());
      *req.mutable_actor() = ctx.WriteActor(o->actor);
      req.set_yaml(ReadFile(o->file));
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      if (o->force) {
        req.set_expected_version(0);
      } else if (o->expected) {
        req.set_expected_version(o->expected);
      } else {
        av::Playbook cur;
        auto c = ctx.Call();
        grpc::Status st = stub->GetPlaybook(c.get(), av::GetPlaybookRequest(), &cur);
        if (!st.ok() && st.error_code() != grpc::StatusCode::NOT_FOUND) throw CallError(st);
        req.set_expected_version(st.ok() ? cur.version() : 0);
      }
      av::UpdatePlaybookResponse resp;
      auto c = ctx.Call();
      Context::Check(stub->UpdatePlaybook(c.get(), req, &resp));
      if (ctx.json()) return ctx.PrintJson(resp);
      ctx.out() << KeyValues({{"version", std::to_string(resp.playbook().version())},
                              {"declared", resp.playbook().declared_version()},
                              {"sha256", resp.playbook().sha256()},
                              {"replaced", req.expected_version() ? "v" + std::to_string(req.expected_version()) : "(unchecked)"}});
      PrintProblems(ctx.out(), resp.problems());
    });
  }
}

}  // namespace concord::ctl
