// concordctl findings list|get|watch|ack|resolve|dismiss
#include <atomic>
#include <csignal>
#include <thread>

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

struct FilterOpts {
  std::string types, severities, statuses, team, customer, since, until;
};

void AddFilterOptions(CLI::App* sub, FilterOpts& f) {
  sub->add_option("--type", f.types, "Finding types, comma-separated: " + EnumChoices(av::FindingType_descriptor(), "FINDING_TYPE_"));
  sub->add_option("--severity", f.severities,
                  "Severities, comma-separated (info, low, medium, high, critical); 'high+' = high and above");
  sub->add_option("--status", f.statuses, "Statuses, comma-separated: open, acknowledged, resolved, dismissed");
  sub->add_option("--team", f.team, "Only findings with evidence from this team: marketing, sales");
  sub->add_option("--customer", f.customer, "Customer key, e.g. domain:acme.com");
  sub->add_option("--since", f.since, "Detected at or after: RFC 3339, YYYY-MM-DD or an age (24h, 7d)");
  sub->add_option("--until", f.until, "Detected before: RFC 3339, YYYY-MM-DD or an age (24h, 7d)");
}

template <typename Add>
void ParseEnumList(const std::string& flag, const std::string& text, const google::protobuf::EnumDescriptor* e,
                   const std::string& prefix, Add add) {
  for (const auto& item : SplitList(text)) {
    auto v = ParseEnum(e, prefix, item);
    if (!v) throw UsageError(flag + ": unknown value '" + item + "' (one of: " + EnumChoices(e, prefix) + ")");
    add(*v);
  }
}

av::FindingFilter BuildFilter(const FilterOpts& o) {
  av::FindingFilter f;
  ParseEnumList("--type", o.types, av::FindingType_descriptor(), "FINDING_TYPE_",
                [&](int v) { f.add_types(static_cast<av::FindingType>(v)); });
  for (const auto& item : SplitList(o.severities)) {
    bool at_least = !item.empty() && item.back() == '+';
    std::string name = at_least ? item.substr(0, item.size() - 1) : item;
    auto v = ParseEnum(av::Severity_descriptor(), "SEVERITY_", name);
    if (!v) {
      throw UsageError("--severity: unknown value '" + item + "' (one of: " + EnumChoices(av::Severity_descriptor(), "SEVERITY_") +
                       ", optionally with '+')");
    }
    int top = at_least ? av::Severity_MAX : *v;
    for (int s = *v; s <= top; ++s) f.add_severities(static_cast<av::Severity>(s));
  }
  ParseEnumList("--status", o.statuses, av::FindingStatus_descriptor(), "FINDING_STATUS_",
                [&](int v) { f.add_statuses(static_cast<av::FindingStatus>(v)); });
  if (!o.team.empty()) {
    auto v = ParseEnum(ev1::Team_descriptor(), "TEAM_", o.team);
    if (!v) throw UsageError("--team: unknown team '" + o.team + "' (marketing, sales, alignment)");
    f.set_team(static_cast<ev1::Team>(*v));
  }
  f.set_customer_key(o.customer);
  if (!o.since.empty()) *f.mutable_detected_after() = ParseTime("--since", o.since);
  if (!o.until.empty()) *f.mutable_detected_before() = ParseTime("--until", o.until);
  return f;
}

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted = true; }

void InterruptibleSleep(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (!g_interrupted && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

const std::vector<size_t> kWatchWidths = {8, 7, 10, 20, 8, 12, 28, 0};

std::string WatchRow(const av::WatchFindingsResponse& r) {
  const auto& e = r.event();
  const av::Finding& f = e.has_raised() ? e.raised() : e.status_changed().finding();
  std::string when = FormatTime(e.occurred_at());
  when = when.size() >= 19 ? when.substr(11, 8) : when;
  return FixedRow({when, e.has_raised() ? "raised" : "status", ShortId(f.id()), FindingTypeName(f.type()),
                   SeverityName(f.severity()), StatusName(f.status()), f.customer_key(), Truncate(f.title(), 70)},
                  kWatchWidths);
}

template <typename Req, typename Resp>
using ChangeFn = grpc::Status (av::AlignmentService::Stub::*)(grpc::ClientContext*, const Req&, Resp*);

struct ChangeOpts {
  std::string id, actor, reason, request_id;
  uint64_t expected_version = 0;
};

template <typename Req, typename Resp>
void AddStatusChange(CLI::App& findings, Context& ctx, Action& action, const std::string& name, const std::string& desc,
                     bool reason_required, const std::string& verb, ChangeFn<Req, Resp> fn) {
  auto o = std::make_shared<ChangeOpts>();
  auto* sub = findings.add_subcommand(name, desc);
  sub->add_option("id", o->id, "Finding id (or a unique prefix of it, as shown by 'findings list')")->required();
  sub->add_option("--actor", o->actor, "Who does it (default: the global --actor / CONCORD_ACTOR)");
  auto* reason = sub->add_option("--reason", o->reason, "Why / what was done (<= 4 KiB)");
  if (reason_required) reason->required();
  sub->add_option("--expected-version", o->expected_version, "Refuse (ABORTED) unless the finding is at this version; 0 = don't check");
  sub->add_option("--request-id", o->request_id, "Idempotency key (default: a fresh UUID; reuse it to retry safely)");
  OnRun(sub, action, [&ctx, o, fn, verb] {
    Req req;
    req.set_request_id(o->request_id.empty() ? Context::NewRequestId() : o->request_id);
    *req.mutable_actor() = ctx.WriteActor(o->actor);
    auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
    req.set_finding_id(ResolveFinding(ctx, *stub, o->id).id());
    req.set_expected_version(o->expected_version);
    req.set_reason(o->reason);
    Resp resp;
    auto c = ctx.Call();
    Context::Check(((*stub).*fn)(c.get(), req, &resp));
    if (ctx.json()) return ctx.PrintJson(resp);
    ctx.out() << KeyValues({{"finding", resp.finding().id()},
                            {"status", StatusName(resp.finding().status())},
                            {"version", std::to_string(resp.finding().version())},
                            {"event", resp.event_id()},
                            {"request", req.request_id()}});
    (void)verb;
  });
}

}  // namespace

void AddFindingsCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* findings = app.add_subcommand("findings", "List, show, watch and act on alignment findings");
  findings->require_subcommand(1);

  // list
  {
    struct Opts {
      FilterOpts filter;
      int limit = 50;
      bool wide = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = findings->add_subcommand("list", "Findings matching filters, newest first (pages through until --limit)");
    AddFilterOptions(sub, o->filter);
    sub->add_option("--limit", o->limit, "At most this many findings; 0 = all")->capture_default_str()->check(CLI::NonNegativeNumber);
    sub->add_flag("--wide", o->wide, "Full ids and titles");
    OnRun(sub, action, [&ctx, o] {
      av::ListFindingsRequest req;
      *req.mutable_filter() = BuildFilter(o->filter);
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      Table table = FindingsTable(o->wide);
      int got = 0;
      while (true) {
        int want = o->limit > 0 ? std::min(o->limit - got, 500) : 500;
        req.set_page_size(want);
        av::ListFindingsResponse resp;
        auto c = ctx.Call();
        Context::Check(stub->ListFindings(c.get(), req, &resp));
        for (const auto& f : resp.findings()) {
          if (o->limit > 0 && got >= o->limit) break;
          ++got;
          if (ctx.json()) {
            ctx.PrintJson(f);
          } else {
            AddFindingRow(table, f, o->wide);
          }
        }
        if (resp.next_page_token().empty() || (o->limit > 0 && got >= o->limit)) break;
        req.set_page_token(resp.next_page_token());
      }
      if (!ctx.json()) table.Render(ctx.out());
    });
  }

  // get
  {
    auto id = std::make_shared<std::string>();
    auto* sub = findings->add_subcommand("get", "One finding: summary, evidence, status history");
    sub->add_option("id", *id, "Finding id (or a unique prefix of it)")->required();
    OnRun(sub, action, [&ctx, id] {
      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      av::Finding f = ResolveFinding(ctx, *stub, *id);
      if (ctx.json()) return ctx.PrintJson(f);
      PrintFinding(ctx.out(), f);
    });
  }

  // watch
  {
    struct Opts {
      FilterOpts filter;
      std::string from_cursor, for_duration, retry_for = "5m";
      int max = 0;
      bool heartbeats = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = findings->add_subcommand(
        "watch",
        "Live finding events (raised and status changes) as they happen. Reconnects on UNAVAILABLE and resumes\n"
        "from the last cursor, so nothing is missed. Stops on Ctrl-C, after --max events or after --for.");
    AddFilterOptions(sub, o->filter);
    sub->add_option("--from-cursor", o->from_cursor,
                    "Start after this cursor (from an earlier watch or 'findings list --json'); default: now");
    sub->add_option("--max", o->max, "Stop after N events (0 = never)")->check(CLI::NonNegativeNumber);
    sub->add_option("--for", o->for_duration, "Stop after this long (e.g. 30s, 10m)");
    sub->add_option("--retry-for", o->retry_for, "Give up after being disconnected this long")->capture_default_str();
    sub->add_flag("--heartbeats", o->heartbeats, "Also print heartbeats (--json only)");
    OnRun(sub, action, [&ctx, o] {
      av::WatchFindingsRequest req;
      *req.mutable_filter() = BuildFilter(o->filter);
      std::string cursor = o->from_cursor;
      auto retry_for = ParseDuration(o->retry_for);
      if (!retry_for) throw UsageError("--retry-for: '" + o->retry_for + "' is not a duration");
      std::optional<std::chrono::steady_clock::time_point> stop_at;
      if (!o->for_duration.empty()) {
        auto d = ParseDuration(o->for_duration);
        if (!d) throw UsageError("--for: '" + o->for_duration + "' is not a duration");
        stop_at = std::chrono::steady_clock::now() + *d;
      }
      g_interrupted = false;
      auto prev_int = std::signal(SIGINT, OnInterrupt);
      auto prev_term = std::signal(SIGTERM, OnInterrupt);
      struct Restore {
        void (*i)(int);
        void (*t)(int);
        ~Restore() {
          std::signal(SIGINT, i);
          std::signal(SIGTERM, t);
        }
      } restore{prev_int, prev_term};

      auto stub = av::AlignmentService::NewStub(ctx.AlignmentChannel());
      int events = 0;
      bool connected_once = false;
      auto last_ok = std::chrono::steady_clock::now();
      auto backoff = std::chrono::milliseconds(250);
      if (!ctx.json()) ctx.out() << FixedRow({"TIME", "EVENT", "ID", "TYPE", "SEVERITY", "STATUS", "CUSTOMER", "TITLE"}, kWatchWidths)
                                 << "\n" << std::flush;
      auto expired = [&] { return stop_at && std::chrono::steady_clock::now() >= *stop_at; };
      while (!g_interrupted && !expired()) {
        grpc::ClientContext call;
        ctx.Authorize(call);
        req.set_resume_cursor(cursor);
        auto reader = stub->WatchFindings(&call, req);
        std::atomic<bool> done{false};
        std::atomic<bool> we_stopped{false};
        std::thread canceller([&] {
          while (!done) {
            if (g_interrupted || expired()) {
              we_stopped = true;
              call.TryCancel();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        });
        av::WatchFindingsResponse resp;
        bool reached_max = false;
        while (reader->Read(&resp)) {
          connected_once = true;
          last_ok = std::chrono::steady_clock::now();
          backoff = std::chrono::milliseconds(250);
          if (!resp.cursor().empty()) cursor = resp.cursor();
          if (resp.has_heartbeat()) {
            if (ctx.json() && o->heartbeats) ctx.PrintJson(resp);
            continue;
          }
          if (ctx.json()) {
            ctx.PrintJson(resp);
          } else {
            ctx.out() << WatchRow(resp) << "\n" << std::flush;
          }
          if (o->max && ++events >= o->max) {
            reached_max = true;
            we_stopped = true;
            call.TryCancel();
            break;
          }
        }
        grpc::Status st = reader->Finish();
        done = true;
        canceller.join();
        if (reached_max || we_stopped || g_interrupted) break;
        if (st.ok()) continue;  // the server ended the stream: resume
        if (st.error_code() != grpc::StatusCode::UNAVAILABLE) throw CallError(st);
        // Before the first successful connection give up after --timeout, like any call.
        auto budget = connected_once ? *retry_for : ctx.timeout();
        if (std::chrono::steady_clock::now() - last_ok >= budget) throw CallError(st);
        // Only once it has been connected: a watch that never connects fails with one line.
        if (connected_once) ctx.err() << "concordctl: watch interrupted (UNAVAILABLE: " << st.error_message() << "); resuming"
                  << (cursor.empty() ? std::string(" from now") : " after cursor " + cursor) << " in "
                  << FormatDuration(backoff) << "\n" << std::flush;
        InterruptibleSleep(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
      }
      if (!ctx.json() && !cursor.empty()) ctx.err() << "concordctl: last cursor " << cursor << " (resume with --from-cursor)\n";
    });
  }

  AddStatusChange<av::AcknowledgeFindingRequest, av::AcknowledgeFindingResponse>(
      *findings, ctx, action, "ack", "Acknowledge a finding (OPEN -> ACKNOWLEDGED)", false, "acknowledged",
      &av::AlignmentService::Stub::AcknowledgeFinding);
  AddStatusChange<av::ResolveFindingRequest, av::ResolveFindingResponse>(
      *findings, ctx, action, "resolve", "Resolve a finding (OPEN or ACKNOWLEDGED -> RESOLVED); --reason says what was done",
      true, "resolved", &av::AlignmentService::Stub::ResolveFinding);
  AddStatusChange<av::DismissFindingRequest, av::DismissFindingResponse>(
      *findings, ctx, action, "dismiss", "Dismiss a finding (false positive or accepted risk); --reason required", true,
      "dismissed", &av::AlignmentService::Stub::DismissFinding);
}

}  // namespace concord::ctl
