// GetScorecard over the findings store (+ the optional scorecard_activity hook). Metric
// definitions are in README.md.
#include <algorithm>
#include <set>
#include <unordered_set>

#include <google/protobuf/util/time_util.h>

#include "common/writes/status.h"
#include "common/writes/strings.h"
#include "common/writes/validation.h"
#include "services/alignment/api/alignment_api.h"

namespace concord::alignment::api {

using google::protobuf::util::TimeUtil;
using writes::Cat;
using Clock = std::chrono::system_clock;

namespace {

struct Acc {
  uint64_t raised = 0;
  std::map<int, uint64_t> by_type;
  std::map<int, uint64_t> open_by_severity;
  std::set<std::string> dup_customers;
  std::set<std::string> conflicting_claims;
};

int64_t Ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point FromTs(const google::protobuf::Timestamp& t) {
  return Clock::time_point(std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(t)));
}
google::protobuf::Timestamp Ts(Clock::time_point t) { return TimeUtil::MillisecondsToTimestamp(Ms(t)); }

// Status of a finding at time t (from its history).
v1::FindingStatus StatusAt(const v1::Finding& f, int64_t t_ms) {
  v1::FindingStatus s = v1::FINDING_STATUS_OPEN;
  for (const auto& c : f.status_history()) {
    if (TimeUtil::TimestampToMilliseconds(c.changed_at()) < t_ms) s = c.status();
  }
  return s;
}

v1::Ratio MakeRatio(uint64_t num, uint64_t den) {
  v1::Ratio r;
  r.set_numerator(num);
  r.set_denominator(den);
  r.set_value(den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den));
  return r;
}

void Fill(const Acc& a, const std::optional<ScorecardActivity>& act, v1::ScorecardMetrics* m) {
  uint64_t touched = act ? act->customers_touched : 0;
  *m->mutable_duplicate_work_rate() = MakeRatio(a.dup_customers.size(), touched);
  *m->mutable_conflicting_claim_rate() = MakeRatio(a.conflicting_claims.size(), act ? act->claims : 0);
  *m->mutable_handoff_sla_adherence() = MakeRatio(act ? act->handoffs_within_sla : 0, act ? act->handoffs_due : 0);
  if (act && act->median_time_to_accept) {
    *m->mutable_median_time_to_accept() = TimeUtil::MillisecondsToDuration(act->median_time_to_accept->count());
  }
  m->set_handoffs_accepted(act ? act->handoffs_accepted : 0);
  for (int s = v1::SEVERITY_INFO; s <= v1::SEVERITY_CRITICAL; ++s) {
    auto* sc = m->add_open_findings_by_severity();
    sc->set_severity(static_cast<v1::Severity>(s));
    auto it = a.open_by_severity.find(s);
    sc->set_count(it == a.open_by_severity.end() ? 0 : it->second);
  }
  for (int t = v1::FINDING_TYPE_CONFLICTING_CLAIM; t <= v1::FINDING_TYPE_CONTRADICTORY_JOURNEY; ++t) {
    auto* tc = m->add_findings_by_type();
    tc->set_type(static_cast<v1::FindingType>(t));
    auto it = a.by_type.find(t);
    tc->set_count(it == a.by_type.end() ? 0 : it->second);
  }
  m->set_customers_touched(touched);
  m->set_touches(act ? act->touches : 0);
  m->set_claims(act ? act->claims : 0);
  m->set_findings_raised(a.raised);
}

// lower_is_better; has_data false -> NO_DATA; relative: counts/durations (5 %) vs rates (0.01).
v1::MetricTrend Trend(const std::string& name, double cur, double prev, bool has_data, bool lower_is_better,
                      bool relative) {
  v1::MetricTrend t;
  t.set_metric(name);
  t.set_current(cur);
  t.set_previous(prev);
  t.set_delta(cur - prev);
  if (!has_data) {
    t.set_direction(v1::TREND_DIRECTION_NO_DATA);
    return t;
  }
  double d = cur - prev;
  bool flat = relative ? std::abs(d) <= 0.05 * std::max(std::abs(prev), std::abs(cur)) : std::abs(d) <= 0.01;
  if (flat) t.set_direction(v1::TREND_DIRECTION_FLAT);
  else t.set_direction((d < 0) == lower_is_better ? v1::TREND_DIRECTION_IMPROVING : v1::TREND_DIRECTION_WORSENING);
  return t;
}

}  // namespace

absl::Status AlignmentApi::Scorecard(const v1::GetScorecardRequest& req, const Deadline& deadline, v1::Scorecard* out) {
  writes::Validator v;
  const auto& scope = req.scope();
  if (scope.has_team()) v.Enum("scope.team", scope.team(), events::v1::Team_IsValid, true);
  if (scope.has_segment()) v.Segment("scope.segment", scope.segment());
  if (req.has_start_time()) v.Timestamp("start_time", req.start_time());
  if (req.has_end_time()) v.Timestamp("end_time", req.end_time());
  if (!v.ok()) return v.ToStatus();
  auto end = req.has_end_time() ? FromTs(req.end_time()) : Clock::now();
  auto start = req.has_start_time() ? FromTs(req.start_time()) : end - std::chrono::hours(24 * 7);
  if (!(start < end)) v.Add("end_time", "must be after start_time");
  else if (end - start > std::chrono::hours(24 * 366)) v.Add("end_time", "the period is at most 366 days");
  if (!v.ok()) return v.ToStatus();
  if (scope.has_segment() && scope.segment().has_criteria() && !options_.scorecard_activity) {
    return absl::UnimplementedError(
        "scope.segment: criteria segments need the engine's customer state, not wired in this instance; "
        "use a segment with an explicit customer list");
  }
  auto prev_start = start - (end - start);

  std::unordered_set<std::string> customers;
  if (scope.has_segment() && scope.segment().has_customers()) {
    for (const auto& k : scope.segment().customers().customer_keys()) customers.insert(k);
  }
  auto in_scope = [&](const v1::Finding& f) {
    if (scope.has_team()) {
      bool any = false;
      for (const auto& e : f.evidence()) any = any || e.team() == scope.team();
      if (!any) return false;
    }
    if (!customers.empty() && !customers.count(f.customer_key())) return false;
    return true;
  };

  auto lease = Lease(deadline);
  if (!lease.ok()) return lease.status();
  auto& conn = **lease;
  Acc cur, prev;
  const int64_t s_ms = Ms(start), e_ms = Ms(end), p_ms = Ms(prev_start);
  // Every finding detected before the end: raised counts need [prev_start, end), open counts
  // need the older ones too (bounded by scorecard_max_scan, newest first).
  std::optional<IndexPosition> pos;
  int scanned = 0;
  while (scanned < options_.scorecard_max_scan) {
    if (deadline && Clock::now() >= *deadline) return absl::DeadlineExceededError("deadline exceeded computing the scorecard");
    auto scan = store_.ScanIndex(conn, store_.AllIndexKey(), 0, e_ms - 1, pos, 500);
    if (!scan.ok()) return writes::StorageError(scan.status());
    std::vector<std::string> ids;
    for (const auto& [ms, id] : scan->items) ids.push_back(id);
    auto got = store_.GetMany(conn, ids);
    if (!got.ok()) return writes::StorageError(got.status());
    for (size_t i = 0; i < ids.size(); ++i) {
      pos = IndexPosition{scan->items[i].first, ids[i]};
      ++scanned;
      const auto& f = (*got)[i];
      if (!f || !in_scope(*f)) continue;
      int64_t d = TimeUtil::TimestampToMilliseconds(f->detected_at());
      Acc* acc = d >= s_ms ? &cur : (d >= p_ms ? &prev : nullptr);
      if (acc) {
        acc->raised++;
        acc->by_type[f->type()]++;
        switch (f->type()) {
          case v1::FINDING_TYPE_DUPLICATE_OUTREACH:
          case v1::FINDING_TYPE_DUPLICATE_RECORD:
          case v1::FINDING_TYPE_OWNERSHIP_VIOLATION:
            acc->dup_customers.insert(f->customer_key());
            break;
          case v1::FINDING_TYPE_CONFLICTING_CLAIM:
          case v1::FINDING_TYPE_OFF_BOOK_CLAIM:
            for (const auto& e : f->evidence()) {
              if (!e.claim_id().empty()) acc->conflicting_claims.insert(e.claim_id());
            }
            break;
          default: break;
        }
      }
      auto st = StatusAt(*f, e_ms);
      if (st == v1::FINDING_STATUS_OPEN || st == v1::FINDING_STATUS_ACKNOWLEDGED) cur.open_by_severity[f->severity()]++;
      if (d < s_ms) {
        auto pst = StatusAt(*f, s_ms);
        if (pst == v1::FINDING_STATUS_OPEN || pst == v1::FINDING_STATUS_ACKNOWLEDGED) prev.open_by_severity[f->severity()]++;
      }
    }
    if (scan->exhausted) break;
  }

  std::optional<ScorecardActivity> act_cur, act_prev;
  if (options_.scorecard_activity) {
    auto a = options_.scorecard_activity(scope, start, end);
    if (!a.ok()) return writes::StorageError(a.status());
    act_cur = *a;
    auto b = options_.scorecard_activity(scope, prev_start, start);
    if (!b.ok()) return writes::StorageError(b.status());
    act_prev = *b;
  }

  *out->mutable_scope() = scope;
  *out->mutable_start_time() = Ts(start);
  *out->mutable_end_time() = Ts(end);
  *out->mutable_previous_start_time() = Ts(prev_start);
  *out->mutable_previous_end_time() = Ts(start);
  Fill(cur, act_cur, out->mutable_current());
  Fill(prev, act_prev, out->mutable_previous());
  const auto& c = out->current();
  const auto& p = out->previous();
  auto rate_trend = [&](const std::string& name, const v1::Ratio& a, const v1::Ratio& b, bool lower) {
    *out->add_trends() = Trend(name, a.value(), b.value(), a.denominator() > 0 && b.denominator() > 0, lower, false);
  };
  rate_trend("duplicate_work_rate", c.duplicate_work_rate(), p.duplicate_work_rate(), true);
  rate_trend("conflicting_claim_rate", c.conflicting_claim_rate(), p.conflicting_claim_rate(), true);
  rate_trend("handoff_sla_adherence", c.handoff_sla_adherence(), p.handoff_sla_adherence(), false);
  *out->add_trends() = Trend("median_time_to_accept", TimeUtil::DurationToMilliseconds(c.median_time_to_accept()) / 1000.0,
                             TimeUtil::DurationToMilliseconds(p.median_time_to_accept()) / 1000.0,
                             c.has_median_time_to_accept() && p.has_median_time_to_accept(), true, true);
  *out->add_trends() = Trend("findings_raised", static_cast<double>(c.findings_raised()),
                             static_cast<double>(p.findings_raised()), true, true, true);
  uint64_t open_c = 0, open_p = 0;
  for (const auto& s : c.open_findings_by_severity()) open_c += s.count();
  for (const auto& s : p.open_findings_by_severity()) open_p += s.count();
  *out->add_trends() = Trend("open_findings_by_severity", static_cast<double>(open_c), static_cast<double>(open_p), true,
                             true, true);
  *out->mutable_computed_at() = Ts(Clock::now());
  auto pv = playbooks_.Current(conn);
  if (pv.ok()) out->set_playbook_version(*pv);
  return absl::OkStatus();
}

}  // namespace concord::alignment::api
