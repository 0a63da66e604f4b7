#include "tools/concordctl/findings_view.h"

#include <google/protobuf/util/time_util.h>

namespace concord::ctl {
namespace av = concord::alignment::v1;
namespace ev1 = concord::events::v1;
using google::protobuf::util::TimeUtil;

std::string FindingTypeName(int type) { return ShortEnumName(av::FindingType_descriptor(), "FINDING_TYPE_", type); }
std::string SeverityName(int severity) { return ShortEnumName(av::Severity_descriptor(), "SEVERITY_", severity); }
std::string StatusName(int status) { return ShortEnumName(av::FindingStatus_descriptor(), "FINDING_STATUS_", status); }
std::string TeamName(int team) { return ShortEnumName(ev1::Team_descriptor(), "TEAM_", team); }

std::string ActorName(const ev1::Actor& a) {
  std::string s = a.team() ? TeamName(a.team()) + "/" : "";
  s += a.id().empty() ? "?" : a.id();
  return s;
}

Table FindingsTable(bool wide) {
  if (wide) return Table({"ID", "TYPE", "SEVERITY", "STATUS", "CUSTOMER", "TITLE", "AGE"});
  return Table({"ID", "TYPE", "SEVERITY", "STATUS", "CUSTOMER", "TITLE", "AGE"}, {10, 0, 0, 0, 32, 60, 0});
}

void AddFindingRow(Table& t, const av::Finding& f, bool wide) {
  t.AddRow({wide ? f.id() : ShortId(f.id()), FindingTypeName(f.type()), SeverityName(f.severity()), StatusName(f.status()),
            f.customer_key(), f.title(), Age(f.detected_at())});
}

void PrintFinding(std::ostream& out, const av::Finding& f) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"id", f.id()},
      {"type", FindingTypeName(f.type())},
      {"severity", SeverityName(f.severity())},
      {"status", StatusName(f.status()) + " (version " + std::to_string(f.version()) + ")"},
      {"customer", f.customer_key()},
      {"title", f.title()},
      {"detected", FormatTime(f.detected_at()) + " (" + Age(f.detected_at()) + " ago)"},
  };
  if (f.has_detection_latency()) {
    kv.push_back({"latency", FormatDuration(std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(f.detection_latency())))});
  }
  if (f.action_team()) kv.push_back({"action by", TeamName(f.action_team())});
  if (!f.playbook_rule().empty()) kv.push_back({"rule", f.playbook_rule() + " (playbook v" + std::to_string(f.playbook_version()) + ")"});
  out << KeyValues(kv);
  if (!f.summary().empty()) out << "\nsummary\n  " << f.summary() << "\n";
  if (!f.recommended_action().empty()) out << "\nrecommended action\n  " << f.recommended_action() << "\n";
  if (f.evidence_size()) {
    out << "\nevidence\n";
    Table t({"  TIME", "ACTOR", "ROLE", "RECORD", "DESCRIPTION"}, {0, 24, 16, 20, 80});
    for (const auto& e : f.evidence()) {
      std::string d = e.description().empty() ? e.event_type() : e.description();
      if (e.has_span() && !e.span().text().empty()) d += " \"" + e.span().text() + "\"";
      t.AddRow({"  " + FormatTime(e.occurred_at()), ActorName(e.actor()), e.role(), e.record_id(), d});
    }
    t.Render(out);
  }
  if (f.status_history_size()) {
    out << "\nstatus history\n";
    Table t({"  TIME", "FROM", "TO", "BY", "REASON"}, {0, 0, 0, 24, 80});
    for (const auto& c : f.status_history()) {
      t.AddRow({"  " + FormatTime(c.changed_at()), StatusName(c.previous_status()), StatusName(c.status()), ActorName(c.actor()),
                c.reason()});
    }
    t.Render(out);
  }
  if (!f.details().empty()) {
    out << "\ndetails\n";
    std::vector<std::pair<std::string, std::string>> d(f.details().begin(), f.details().end());
    std::sort(d.begin(), d.end());
    for (auto& [k, v] : d) k = "  " + k;
    out << KeyValues(d);
  }
}

av::Finding ResolveFinding(Context& ctx, av::AlignmentService::Stub& stub, const std::string& id) {
  av::GetFindingRequest req;
  req.set_finding_id(id);
  av::Finding f;
  auto c = ctx.Call();
  grpc::Status st = stub.GetFinding(c.get(), req, &f);
  if (st.ok()) return f;
  // Full ids are "f-" + 32 hex; a shorter one may be a prefix from a table.
  if (st.error_code() != grpc::StatusCode::NOT_FOUND || id.size() >= 34 || id.size() < 4) throw CallError(st);
  av::ListFindingsRequest list;
  list.set_page_size(500);
  std::vector<av::Finding> matches;
  for (int page = 0; page < 20; ++page) {
    av::ListFindingsResponse resp;
    auto lc = ctx.Call();
    Context::Check(stub.ListFindings(lc.get(), list, &resp));
    for (const auto& x : resp.findings()) {
      if (x.id().rfind(id, 0) == 0) matches.push_back(x);
    }
    if (resp.next_page_token().empty() || matches.size() > 1) break;
    list.set_page_token(resp.next_page_token());
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) throw UsageError("finding id prefix '" + id + "' is ambiguous: give more characters");
  throw CallError(st);
}

}  // namespace concord::ctl
