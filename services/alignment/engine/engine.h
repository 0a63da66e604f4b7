#pragma once
// The alignment engine: a pure, deterministic library. Events in, findings out.
// No Kafka, no Redis, no threads, no clock: event time drives event detectors, and
// AdvanceTime(now) drives the timer detectors (handoff-sla-breach, stalled opportunity).
// Not thread-safe: one Engine per partition (or guard it with a mutex).
//
// Wiring contract (see services/alignment/README.md):
//   * Process() every decoded event of both team topics, in partition order, with its position.
//   * Publish the returned findings before committing the offset.
//   * Checkpoint: for each customer touched since the last checkpoint, SerializeCustomer(key)
//     together with the offsets; on restore, RestoreCustomer(key, bytes) then replay the tail.
//   * Call AdvanceTime(now) periodically (e.g. every second) once the tail is replayed.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/functional/function_ref.h>

#include "concord/alignment/v1/alignment.pb.h"
#include "concord/events/v1/events.pb.h"
#include "services/alignment/engine/playbook.h"
#include "services/alignment/engine/util.h"

namespace concord::alignment::engine {

using Finding = concord::alignment::v1::Finding;
using Event = concord::events::v1::Event;

// Kafka position of the consumed record (copied into evidence).
struct SourcePosition {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

Micros ToMicros(const google::protobuf::Timestamp& t);
void SetTimestamp(Micros m, google::protobuf::Timestamp* t);

struct EngineStats {
  uint64_t events = 0;
  uint64_t duplicates = 0;   // same event id seen again
  uint64_t ignored = 0;      // no customer key
  uint64_t claims = 0;
  uint64_t findings = 0;
  uint64_t findings_by_type[8] = {};
};

// Scorecard activity of one scope over a period (what the API's ScorecardActivity needs; the
// engine does not depend on the API library, main.cc converts). See Engine::ScorecardActivity.
struct ActivitySummary {
  uint64_t customers_touched = 0;    // distinct customers touched per UTC day, summed over the days
  uint64_t touches = 0;
  uint64_t claims = 0;
  uint64_t handoffs_due = 0;         // hand-offs whose accept-SLA deadline fell in the period
  uint64_t handoffs_within_sla = 0;  // of those, accepted or touched by sales before the deadline
  uint64_t handoffs_accepted = 0;    // hand-offs accepted in the period
  std::optional<Micros> median_time_to_accept;  // hand-off -> acceptance, over those accepted
};

// A finding as the wire bytes of concord.alignment.v1.Finding: the bytes SerializeAsString
// gives for the finding Process would return (map entries in key order, as deterministic
// serialization writes them), with the fields a publisher needs alongside.
struct EncodedFinding {
  std::string id;
  std::string customer_key;
  concord::alignment::v1::FindingType type = concord::alignment::v1::FINDING_TYPE_UNSPECIFIED;
  std::string bytes;
  // The evidence's time span, and where fields 13-16 (detected_at, first_evidence_at,
  // last_evidence_at, detection_latency: always written together) lie in `bytes`, so that a
  // publisher can stamp its own detection time without parsing (SetDetection).
  Micros first_evidence_at = 0, last_evidence_at = 0;
  size_t times_begin = 0, times_end = 0;
  // When the finding became detectable, what detection_latency is measured from: the last
  // evidence, or the deadline of a timer-driven finding (SLA breach, stalled opportunity).
  Micros complete_at = 0;
};

// Sets detected_at and detection_latency (negative latencies as 0, as the engine writes them):
// the bytes become those of the Finding with the two fields set, serialized.
void SetDetection(EncodedFinding* f, Micros detected_at, Micros detection_latency);
// A Finding as an EncodedFinding (deterministic serialization): for fakes and tests of code
// that takes encoded findings. complete_at = detected_at - detection_latency (a latency the
// engine clamped at 0 gives detected_at).
EncodedFinding ToEncoded(const Finding& f);

class Engine {
 public:
  explicit Engine(Playbook playbook);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies one event. Detection time = the event's occurred_at (deterministic).
  std::vector<Finding> Process(const Event& event, const SourcePosition& pos);
  // Same, with an explicit detection time (e.g. the wall clock, for detection latency).
  std::vector<Finding> Process(const Event& event, const SourcePosition& pos, Micros now);
  std::vector<Finding> Process(const Event& event, const concord::alignment::v1::SourcePosition& pos);

  // Same as Process(event, pos, now) and AdvanceTime(now), with the findings appended to *out
  // as wire bytes instead of protos: no Finding is built (the ~50 allocations of each), for a
  // caller that only publishes the bytes.
  void ProcessEncoded(const Event& event, const SourcePosition& pos, Micros now, std::vector<EncodedFinding>* out);
  void AdvanceTimeEncoded(Micros now, std::vector<EncodedFinding>* out);

  // Fires every timer due at or before `now` (SLA breaches, stalled opportunities), once each.
  std::vector<Finding> AdvanceTime(Micros now);
  // Earliest pending timer, or 0 when none (lets the wiring sleep until then).
  Micros NextTimer() const;

  // Per-customer checkpoint (compact binary, versioned). Empty string if unknown.
  std::string SerializeCustomer(std::string_view customer_key) const;
  // Replaces the customer's state; false if the bytes do not decode (state left unchanged).
  // `partition`: the input partition it was checkpointed under (CustomerPartition).
  bool RestoreCustomer(std::string_view customer_key, std::string_view bytes, int32_t partition = -1);
  // The input partition a customer is checkpointed under: that of its latest event with a
  // position (SourcePosition::partition), or the one it was restored from; -1 if none or
  // unknown. Partitions above 65534 are not tracked. Kept with each customer (two bytes of the
  // state, or of a cold customer's summary), so the service needs no map of its own.
  int32_t CustomerPartition(std::string_view customer_key) const;
  // Drops a customer (partition revoked).
  void EraseCustomer(std::string_view customer_key);
  // Drops every customer whose CustomerPartition satisfies `of`; returns how many.
  size_t EraseCustomersOf(absl::FunctionRef<bool(int32_t partition)> of);
  // Every tracked customer key (e.g. to checkpoint a whole partition).
  std::vector<std::string> CustomerKeys() const;

  size_t customers() const;

  // Memory: beyond n decoded customers, the least recently used (by events, timers, restores)
  // are kept as their checkpoint bytes (about half the memory) and decoded again when next
  // used (~2 us). Findings, checkpoints and views do not change. 0 (the default) = no limit.
  void SetMaxHotCustomers(size_t n);
  // Memory that follows activity: chooses every decoded customer not used (by an event, a timer
  // or a restore) since the previous call to go cold, a few per later call (as beyond the
  // limit) or through ParkChosen. Called once a period, it parks the customers idle for one to
  // two periods. Nothing without a limit (SetMaxHotCustomers(0)). True when ParkChosen has work.
  bool ChooseIdleCustomers();
  // Parks up to n of the customers chosen to go cold now (for a caller with nothing else to
  // do), then compresses up to n of those stored before the cold store's first dictionary;
  // false once neither is left.
  bool ParkChosen(size_t n);
  size_t cold_customers() const;  // of customers(), how many are kept as bytes
  size_t cold_bytes() const;      // what those take: their blocks (key, compressed checkpoint, timer)
  // Waits for a compression dictionary still being trained and compresses with it the cold
  // customers stored meanwhile (benchmarks; the service does not wait: the next customer
  // going cold puts it in use).
  void FinishColdTraining();

  // ---- read side (customer view, scorecards) ------------------------------------------------
  // The shared picture of one customer from its in-memory state; nullopt if the customer is
  // unknown here (not one of this engine's partitions, or never seen). Fields:
  //   customer_key, alias_keys (former keys from AccountMerged, <= 8), display_name (account
  //     name, else the company as first written), domain ("domain:" key, else a record's
  //     company domain), account_id (event CustomerRef / contact / account).
  //   record_groups: the remembered records (<= limits.max_records) grouped by identity match
  //     or lead -> contact conversion; the oldest record is the reference (score 1), every
  //     other record carries its best link's score and reasons. identity holds the
  //     *normalized* fields (email, E.164 phone, canonical full_name, company, website =
  //     company domain); title and the raw spelling are not kept.
  //   lifecycle_stage; owning_team = the playbook's owner of the stage; owner = the last owner
  //     assigned on the owning team's side (marketing: Lead.owner; sales: hand-off acceptance,
  //     OwnerAssigned, account / contact / opportunity owner; shared stage: sales, else
  //     marketing). Actors carry id and team only (no display name, kind or email).
  //   lead_score, score_reasons (code and points; descriptions are not kept, <= 8), scored_at.
  //   handoff: the current (last) hand-off: id, lead id, status, handed_off_at, sla_due_at
  //     (the accept SLA), accepted_at, first_touch_at (first sales touch), sla_breached
  //     (either SLA rule fired), owner (accepting owner, else the suggested one).
  //   open_opportunities (<= 4): id, name, stage, amount, close date, owner, last_touch_at.
  //   recent_touches: newest first, at most max_touches (0 = 20) and at most what the state
  //     keeps (limits.max_touches, default 8). summary is synthesized ("Sales quote Q-1 by
  //     rep-1"): the subject is not kept.
  //   live_claims: stored claims (<= limits.max_claims) with valid_until >= now (now = 0: the
  //     customer's last event time), with spans and source positions.
  //   first_seen_at (format-1 states: the earliest time they still hold), last_touch_at, as_of.
  //   open_findings: left empty; the API fills it from the findings store.
  std::optional<concord::alignment::v1::CustomerView> CustomerView(std::string_view customer_key, uint32_t max_touches,
                                                                   Micros now = 0) const;

  // Scorecard activity over [start, end), from per-UTC-day counters kept by this engine
  // (<= 400 days). They cover only the events this engine processed, i.e. this instance's
  // partitions, and only since it started unless SerializeActivity is checkpointed and
  // restored. A day counts in the period when its 00:00 UTC is in [start, end).
  // team = TEAM_UNSPECIFIED: overall; TEAM_MARKETING / TEAM_SALES: that team's touches and
  // claims; hand-off metrics count for sales (and overall). customers_touched counts the
  // first touch of each customer per day, so over several days it is customer-days (an upper
  // bound of distinct customers). The median time to accept comes from a log histogram
  // (buckets ~4.4 % wide: within ~2.2 %).
  ActivitySummary ScorecardActivity(Team team, Micros start, Micros end) const;
  // A segment (explicit customer list, or criteria on stage, industry, region, country),
  // computed from the per-customer state of the matching customers this engine holds: exact
  // times, but bounded by the state's histories (last touches and live claims, the current
  // hand-off).
  ActivitySummary ScorecardActivity(const concord::events::v1::Segment& segment, Micros start, Micros end) const;
  // The per-day counters (checkpoint them together with the customer states and offsets, so a
  // restart neither loses nor double-counts). RestoreActivity replaces them; false if the
  // bytes do not decode (counters left unchanged).
  std::string SerializeActivity() const;
  bool RestoreActivity(std::string_view bytes);
  // Approximate heap bytes of all customer state, and per tracked customer on average.
  size_t ApproxMemoryBytes() const;

  // Swaps the playbook; later events and timers are judged against it.
  void ReplacePlaybook(Playbook playbook);
  const Playbook& playbook() const;

  const EngineStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Deterministic finding id: "f-" + the first 32 hex digits of
// SHA-256(type + "|" + rule + "|" + sorted evidence keys joined by ","), where an evidence
// key is the claim id (event id + "#" + index) for claims and the event id otherwise.
std::string FindingId(concord::alignment::v1::FindingType type, std::string_view rule,
                      std::vector<std::string> evidence_keys);

}  // namespace concord::alignment::engine
