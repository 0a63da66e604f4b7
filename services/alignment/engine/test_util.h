#pragma once
// Helpers for the engine's unit tests: a playbook and event builders.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/protobuf/deterministic.h"
#include "services/alignment/engine/engine.h"

namespace concord::alignment::engine::testing {

namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

inline std::string SourceDir() {
  const char* d = std::getenv("CONCORD_SOURCE_DIR");
  return d ? d : ".";
}

using protoutil::SerializeDeterministic;  // what EncodedFinding's bytes are compared to

inline Playbook ExamplePlaybook() {
  auto load = LoadPlaybookFile(SourceDir() + "/services/alignment/playbook.example.yaml", 7);
  EXPECT_TRUE(load.ok()) << load.ErrorText();
  return load.ok() ? *load.playbook : DefaultPlaybook();
}

// 2026-03-02 09:00:00 UTC (a Monday).
inline constexpr Micros kT0 = 1772442000LL * kSecond;

// A random-looking version-4 UUID, always the same for the same (a, b): benchmark event ids as
// random as the services' own, so that state and checkpoint sizes are not flattered by ids that
// compress well.
inline std::string RandomUuid(uint64_t a, uint64_t b) {
  auto mix = [](uint64_t z) {  // splitmix64
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const uint64_t hi = mix(a * 0x100000001b3ULL ^ mix(b)), lo = mix(hi ^ b);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xfff),
                static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3fff)),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

class Events {
 public:
  explicit Events(std::string key = "domain:acme.com") : key_(std::move(key)) {}
  ev::Event Base(Micros at, ev::Team team, const std::string& actor) {
    ev::Event e;
    e.set_id(NextId());
    SetTimestamp(at, e.mutable_occurred_at());
    e.mutable_producer()->set_team(team);
    e.mutable_actor()->set_team(team);
    e.mutable_actor()->set_id(actor);
    e.mutable_customer()->set_customer_key(key_);
    return e;
  }
  ev::Event Message(Micros at, ev::Team team, const std::string& actor, ev::MessagePurpose purpose, const std::string& body,
                    const std::string& subject = "Hello") {
    auto e = Base(at, team, actor);
    auto* m = e.mutable_message_sent()->mutable_message();
    m->set_id("msg-" + std::to_string(++n_));
    m->mutable_sender()->set_team(team);
    m->mutable_sender()->set_id(actor);
    m->set_channel(ev::CHANNEL_EMAIL);
    m->set_purpose(purpose);
    m->set_subject(subject);
    m->set_body(body);
    return e;
  }
  ev::Event Call(Micros at, const std::string& rep, const std::string& notes = "",
                 ev::ActivityDirection dir = ev::ACTIVITY_DIRECTION_OUTBOUND) {
    auto e = Base(at, ev::TEAM_SALES, rep);
    auto* a = e.mutable_activity_logged()->mutable_activity();
    a->set_id("act-" + std::to_string(++n_));
    a->set_kind(ev::ACTIVITY_KIND_CALL);
    a->set_direction(dir);
    a->mutable_actor()->set_team(ev::TEAM_SALES);
    a->mutable_actor()->set_id(rep);
    SetTimestamp(at, a->mutable_occurred_at());
    a->set_notes(notes);
    return e;
  }
  ev::Event Quote(Micros at, const std::string& rep, const std::string& quote_id, const std::string& product, int64_t unit_price,
                  std::optional<double> discount) {
    auto e = Base(at, ev::TEAM_SALES, rep);
    auto* q = e.mutable_quote_issued()->mutable_quote();
    q->set_id(quote_id);
    q->mutable_owner()->set_id(rep);
    q->set_currency_code("USD");
    auto* li = q->add_line_items();
    li->set_product(product);
    li->mutable_unit_price()->set_currency_code("USD");
    li->mutable_unit_price()->set_units(unit_price);
    li->mutable_list_price()->set_currency_code("USD");
    li->mutable_list_price()->set_units(unit_price);
    li->set_quantity(1);
    li->set_billing_period(ev::BILLING_PERIOD_MONTHLY);
    if (discount) li->set_discount_percent(*discount);
    return e;
  }
  ev::Event Lead(Micros at, const std::string& lead_id, const std::string& first, const std::string& last,
                 const std::string& email, const std::string& phone = "", ev::LifecycleStage stage = ev::LIFECYCLE_STAGE_LEAD) {
    auto e = Base(at, ev::TEAM_MARKETING, "mkt-auto");
    auto* l = e.mutable_lead_captured()->mutable_lead();
    l->set_id(lead_id);
    l->mutable_person()->set_first_name(first);
    l->mutable_person()->set_last_name(last);
    l->mutable_person()->set_email(email);
    l->mutable_person()->set_phone(phone);
    l->mutable_person()->set_company("Acme");
    l->set_lifecycle_stage(stage);
    return e;
  }
  ev::Event Contact(Micros at, const std::string& id, const std::string& first, const std::string& last, const std::string& email,
                    const std::string& phone = "", const std::string& source_lead = "") {
    auto e = Base(at, ev::TEAM_SALES, "rep-1");
    auto* c = e.mutable_contact_created()->mutable_contact();
    c->set_id(id);
    c->mutable_person()->set_first_name(first);
    c->mutable_person()->set_last_name(last);
    c->mutable_person()->set_email(email);
    c->mutable_person()->set_phone(phone);
    c->mutable_person()->set_company("Acme");
    c->set_source_lead_id(source_lead);
    return e;
  }
  ev::Event HandOff(Micros at, const std::string& handoff_id) {
    auto e = Base(at, ev::TEAM_MARKETING, "mkt-1");
    auto* l = e.mutable_lead_handed_off()->mutable_lead();
    l->set_id("lead-1");
    l->set_lifecycle_stage(ev::LIFECYCLE_STAGE_MQL);
    l->mutable_handoff()->set_handoff_id(handoff_id);
    SetTimestamp(at, l->mutable_handoff()->mutable_handed_off_at());
    return e;
  }
  ev::Event Accept(Micros at, const std::string& handoff_id, const std::string& rep = "rep-1") {
    auto e = Base(at, ev::TEAM_SALES, rep);
    e.mutable_handoff_accepted()->mutable_handoff()->set_id(handoff_id);
    return e;
  }
  ev::Event Opportunity(Micros at, const std::string& id, ev::OpportunityStage stage, bool created = true) {
    auto e = Base(at, ev::TEAM_SALES, "rep-1");
    auto* o = created ? e.mutable_opportunity_created()->mutable_opportunity()
                      : e.mutable_opportunity_stage_changed()->mutable_opportunity();
    o->set_id(id);
    o->set_stage(stage);
    return e;
  }
  ev::Event Commitment(Micros at, const std::string& rep, const std::string& product, const std::string& feature) {
    auto e = Base(at, ev::TEAM_SALES, rep);
    auto* c = e.mutable_commitment_made()->mutable_commitment();
    c->set_id("cm-" + std::to_string(++n_));
    c->set_kind(ev::COMMITMENT_KIND_FEATURE);
    c->set_product(product);
    c->set_feature(feature);
    c->mutable_made_by()->set_id(rep);
    return e;
  }

 private:
  std::string NextId() {
    char buf[40];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", ++n_);
    return buf;
  }
  std::string key_;
  int n_ = 0;
};

inline const SourcePosition kPos{"concord.sales.events.v1", 0, 1};

inline int Count(const std::vector<Finding>& fs, av::FindingType t) {
  int n = 0;
  for (const auto& f : fs) n += f.type() == t;
  return n;
}

}  // namespace concord::alignment::engine::testing
