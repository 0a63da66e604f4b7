// Identity check for engine changes (not a benchmark): one SHA-256 over everything the engine
// exposes, for randomized mixes of customers. Run it before and after a change; the digests
// must be equal. Covered: every finding (deterministic serialization) of Process and
// AdvanceTime, every customer's checkpoint bytes and view, restore-and-reserialize round trips,
// the scorecard counters, and findings of a restored engine fed more events (for the restored
// customers and new ones). Also: every finding of Process / AdvanceTime against the bytes of
// ProcessEncoded / AdvanceTimeEncoded on a twin engine fed the same events.
//   engine_digest [--without-checkpoint-bytes] [--max-hot N] [seed...]   (default seeds 1 2 3; 3,000 customers each)
// --without-checkpoint-bytes leaves the checkpoints' bytes out of the digest (still checked
// for round trips): a change of the state format must leave that digest unchanged.
// --max-hot N keeps at most N customers decoded in every engine (SetMaxHotCustomers: the rest
// as checkpoint bytes); the digests must be those of a run without it.
#include <openssl/evp.h>

#include <cstdio>
#include <random>


#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine::testing {
namespace {

class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  void Add(std::string_view s) {
    uint64_t n = s.size();
    EVP_DigestUpdate(ctx_, &n, sizeof n);
    EVP_DigestUpdate(ctx_, s.data(), s.size());
  }
  void Add(const google::protobuf::MessageLite& m) { Add(SerializeDeterministic(m)); }
  std::string Hex() {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    std::string s;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(b, sizeof b, "%02x", md[i]);
      s += b;
    }
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

const char* kBodies[] = {
    "Spring offer: get 20% off Concord Pro with a 30-day free trial.",
    "Get 35% off Concord Pro this week only, and a 60 day trial.",
    "Concord Starter is $12 per month for you, with free shipping.",
    "We can deliver by March 30 and SSO is included in Concord Pro.",
    "Offline mode is available today on Concord Enterprise, and on-prem too.",
    "This month: audit log improvements and a webinar on SSO.",
    "Thanks for the call, the quote is attached. Delivery by April 15.",
    "Concord Enterprise at $900/month on a 24-month contract term.",
    "Hello, just checking in.",
    "The AI assistant is available now in Concord Pro; 15% discount if you sign by Friday.",
};
const char* kProducts[] = {"concord-pro", "concord-starter", "concord-enterprise", "unknown-product"};
const char* kCodes[] = {"", "SPRING20", "WELCOME14", "ENT-ANNUAL", "BOGUS-1",
                        "A-VERY-LONG-OFFER-CODE-THAT-IS-NOT-IN-THE-BOOK-AT-ALL-0123456789"};

uint64_t g_next_id = 0;  // event ids, reset per seed
size_t g_problems = 0;    // failed restores and round trips that differ
size_t g_encoded = 0;     // findings compared with their ProcessEncoded twin
size_t g_encoded_bad = 0; // ... whose bytes, id, key or type differ
bool g_checkpoint_bytes = true;  // --without-checkpoint-bytes: false
size_t g_max_hot = 0;            // --max-hot

struct Mix {
  std::vector<ev::Event> events;
  std::vector<SourcePosition> pos;
};

// One customer's events, at increasing times from t.
void Customer(std::mt19937_64& rng, const std::string& key, Micros t, int n, std::vector<ev::Event>* out) {
  Events b(key);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<uint64_t>(k)); };
  std::string c = key.substr(key.find(':') + 1);
  for (int i = 0; i < n; ++i) {
    t += static_cast<Micros>(1 + rng() % (36 * 3600)) * kSecond;
    std::string rep = "rep-" + std::to_string(pick(6));
    switch (pick(12)) {
      case 0:
        out->push_back(b.Lead(t, "lead-" + c + std::to_string(i), pick(2) ? "Dana" : "Robert", "Scully", "dana@" + c,
                              "+1 415 555 " + std::to_string(1000 + pick(3)),
                              static_cast<ev::LifecycleStage>(1 + pick(7))));
        break;
      case 1:
      case 2: {
        auto e = b.Message(t, pick(3) ? ev::TEAM_MARKETING : ev::TEAM_SALES, pick(2) ? "mkt-auto" : rep,
                           static_cast<ev::MessagePurpose>(1 + pick(12)), kBodies[pick(10)], pick(4) ? "Hello" : kBodies[pick(10)]);
        auto* m = e.mutable_message_sent()->mutable_message();
        if (pick(2)) m->set_campaign_id("camp-" + std::to_string(pick(4)));
        for (int k = pick(3); k > 0; --k) {
          auto* o = m->add_offers();
          o->set_offer_code(kCodes[pick(6)]);
          o->set_product(kProducts[pick(4)]);
          if (pick(2)) o->set_discount_percent(5 * pick(8));
          if (pick(2)) o->set_trial_days(static_cast<uint32_t>(7 * pick(8)));
          if (pick(3) == 0) {
            o->mutable_price()->set_currency_code("USD");
            o->mutable_price()->set_units(10 + pick(50));
          }
          if (pick(4) == 0) o->set_new_customers_only(true);
          if (pick(3) == 0) o->set_text(kBodies[pick(10)]);
        }
        out->push_back(std::move(e));
        break;
      }
      case 3:
        out->push_back(b.Call(t, rep, kBodies[pick(10)], static_cast<ev::ActivityDirection>(pick(4))));
        break;
      case 4: {
        auto e = b.Quote(t, rep, "q-" + std::to_string(pick(3)), kProducts[pick(4)], 30 + pick(30),
                         pick(2) ? std::optional<double>(5 * pick(8)) : std::nullopt);
        auto* q = e.mutable_quote_issued()->mutable_quote();
        if (pick(2)) q->mutable_terms()->set_contract_term_months(12 * (1 + pick(3)));
        if (pick(3) == 0) q->set_notes(kBodies[pick(10)]);
        if (pick(3) == 0) q->mutable_line_items(0)->set_description(kBodies[pick(10)]);
        out->push_back(std::move(e));
        break;
      }
      case 5: out->push_back(b.HandOff(t, "ho-" + c + std::to_string(pick(2)))); break;
      case 6: out->push_back(b.Accept(t, "ho-" + c + std::to_string(pick(2)), rep)); break;
      case 7:
        out->push_back(b.Contact(t, "ct-" + std::to_string(i), pick(2) ? "Bob" : "Robert", "Paulson", (pick(2) ? "bob@" : "rp@") + c,
                                 pick(2) ? "415-555-0199" : "+1 415 555 0199", pick(3) ? "" : "lead-" + c + "0"));
        break;
      case 8: {
        static const ev::OpportunityStage kStages[] = {ev::OPPORTUNITY_STAGE_DISCOVERY, ev::OPPORTUNITY_STAGE_NEGOTIATION,
                                                       ev::OPPORTUNITY_STAGE_CLOSED_WON, ev::OPPORTUNITY_STAGE_CLOSED_LOST};
        out->push_back(b.Opportunity(t, "opp-" + std::to_string(pick(2)), kStages[pick(4)], pick(2)));
        break;
      }
      case 9: {
        static const char* kFeatures[] = {"SSO", "offline mode", "on-prem", "AI copilot", "teleportation"};
        out->push_back(b.Commitment(t, rep, kProducts[pick(4)], kFeatures[pick(5)]));
        break;
      }
      case 10: {
        auto e = b.Base(t, ev::TEAM_SALES, rep);
        auto* a = e.mutable_account_created()->mutable_account();
        a->set_id("acct-" + std::to_string(pick(2)));
        a->set_name(pick(2) ? "Acme" : "Acme Inc");
        a->set_website(c);
        a->set_industry(pick(2) ? "software" : "retail");
        out->push_back(std::move(e));
        break;
      }
      default:
        if (!out->empty()) out->push_back((*out)[static_cast<size_t>(pick(static_cast<int>(out->size())))]);  // redelivery
        continue;
    }
    // Unique ids across customers and mixes: mostly UUIDs, some free-form (not 16-byte) ids.
    char id[64];
    if (pick(20) == 0) std::snprintf(id, sizeof id, "evt-%llu-of-a-longer-id", static_cast<unsigned long long>(++g_next_id));
    else std::snprintf(id, sizeof id, "%08llx-0000-4000-8000-%012llx", static_cast<unsigned long long>(rng() >> 40),
                       static_cast<unsigned long long>(++g_next_id));
    out->back().set_id(id);
  }
}

Mix Build(std::mt19937_64& rng, size_t customers, const std::string& prefix) {
  std::vector<std::vector<ev::Event>> per(customers);
  for (size_t c = 0; c < customers; ++c)
    Customer(rng, "domain:" + prefix + std::to_string(c) + ".com", kT0 + static_cast<Micros>(c) * kMinute,
             4 + static_cast<int>(rng() % 14), &per[c]);
  Mix m;
  std::vector<size_t> next(customers, 0);
  size_t left = 0;
  for (auto& p : per) left += p.size();
  static const char* kTopics[] = {"concord.marketing.events.v1", "concord.sales.events.v1"};
  int64_t offset = 0;
  while (left) {
    size_t c = rng() % customers;
    if (next[c] >= per[c].size()) continue;
    m.events.push_back(per[c][next[c]++]);
    m.pos.push_back({kTopics[rng() % 2], static_cast<int32_t>(rng() % 6), (rng() % 10 == 0) ? -1 : offset++});
    --left;
  }
  return m;
}

// The findings of Process / AdvanceTime against those of the twin engine's ProcessEncoded /
// AdvanceTimeEncoded for the same input.
void Compare(const std::vector<Finding>& found, std::vector<EncodedFinding>& encoded) {
  g_encoded += found.size();
  if (found.size() != encoded.size()) g_encoded_bad += std::max(found.size(), encoded.size());
  for (size_t k = 0; k < std::min(found.size(), encoded.size()); ++k) {
    const auto& f = found[k];
    const auto& x = encoded[k];
    // ...and the detection fields' place in the bytes, as a publisher's SetDetection uses it.
    const auto from_proto = ToEncoded(f);
    // A latency clamped at 0 (detected before its evidence's time: events out of order) hides
    // when the evidence was complete; the engine's complete_at is then at or after detection.
    const bool clamped = f.detection_latency().seconds() == 0 && f.detection_latency().nanos() == 0;
    const bool complete_ok = clamped ? x.complete_at >= ToMicros(f.detected_at()) : x.complete_at == from_proto.complete_at;
    if (x.bytes != SerializeDeterministic(f) || x.id != f.id() || x.customer_key != f.customer_key() || x.type != f.type() ||
        x.times_begin != from_proto.times_begin || x.times_end != from_proto.times_end ||
        x.last_evidence_at != from_proto.last_evidence_at || !complete_ok) {
      ++g_encoded_bad;
    }
  }
  encoded.clear();
}

void Feed(Engine& engine, const Mix& m, Digest& d, std::mt19937_64& rng, Engine* twin = nullptr) {
  Micros clock = 0;
  std::vector<EncodedFinding> encoded;
  for (size_t i = 0; i < m.events.size(); ++i) {
    const auto& e = m.events[i];
    Micros at = ToMicros(e.occurred_at());
    clock = std::max(clock, at);
    const bool late = rng() % 3 == 0;
    auto found = late ? engine.Process(e, m.pos[i], at + 5 * kSecond) : engine.Process(e, m.pos[i]);
    for (const auto& f : found) d.Add(f);
    if (twin) {
      twin->ProcessEncoded(e, m.pos[i], late ? at + 5 * kSecond : at, &encoded);
      Compare(found, encoded);
    }
    if (i % 500 == 499) {
      auto timed = engine.AdvanceTime(clock);
      for (const auto& f : timed) d.Add(f);
      if (twin) {
        twin->AdvanceTimeEncoded(clock, &encoded);
        Compare(timed, encoded);
      }
    }
  }
  auto timed = engine.AdvanceTime(clock + 40 * kDay);
  for (const auto& f : timed) d.Add(f);
  if (twin) {
    twin->AdvanceTimeEncoded(clock + 40 * kDay, &encoded);
    Compare(timed, encoded);
  }
}

// Checkpoints, views, round trips, counters; restores every customer into `restored`.
void State(const Engine& engine, Engine& restored, Digest& d) {
  for (const auto& k : engine.CustomerKeys()) {
    std::string bytes = engine.SerializeCustomer(k);
    d.Add(k);
    if (g_checkpoint_bytes) d.Add(bytes);
    if (auto v = engine.CustomerView(k, 0)) d.Add(*v);
    if (!restored.RestoreCustomer(k, bytes)) ++g_problems;
    std::string again = restored.SerializeCustomer(k);
    if (again != bytes) ++g_problems;
    if (g_checkpoint_bytes) d.Add(again);
    if (auto v = restored.CustomerView(k, 3, kT0 + 10 * kDay)) d.Add(*v);
  }
  d.Add(engine.SerializeActivity());
  auto a = engine.ScorecardActivity(ev::TEAM_SALES, kT0 - kDay, kT0 + 90 * kDay);
  d.Add(std::to_string(a.touches) + "," + std::to_string(a.claims) + "," + std::to_string(a.customers_touched) + "," +
        std::to_string(a.handoffs_due) + "," + std::to_string(a.handoffs_within_sla) + "," +
        std::to_string(a.median_time_to_accept.value_or(-1)));
}

std::string Run(uint64_t seed, size_t customers, size_t* findings) {
  std::mt19937_64 rng(seed);
  g_next_id = 0;
  Digest d;
  Mix m = Build(rng, customers, "c" + std::to_string(seed) + "-");
  Engine engine(ExamplePlaybook()), twin(ExamplePlaybook());
  engine.SetMaxHotCustomers(g_max_hot);
  twin.SetMaxHotCustomers(g_max_hot);
  Feed(engine, m, d, rng, &twin);
  Engine restored(ExamplePlaybook());
  restored.SetMaxHotCustomers(g_max_hot);
  State(engine, restored, d);
  // The restored engine goes on: more events for the same customers (new ids) and new ones.
  std::mt19937_64 rng2(seed * 7919);
  Mix more = Build(rng2, customers, "c" + std::to_string(seed) + "-");
  Mix fresh = Build(rng2, customers, "n" + std::to_string(seed) + "-");
  Feed(restored, more, d, rng2, &twin);
  Feed(restored, fresh, d, rng2, &twin);
  Engine again(ExamplePlaybook());
  again.SetMaxHotCustomers(g_max_hot);
  State(restored, again, d);
  *findings += restored.stats().findings + engine.stats().findings;
  return d.Hex();
}

}  // namespace
}  // namespace concord::alignment::engine::testing

int main(int argc, char** argv) {
  using namespace concord::alignment::engine::testing;  // NOLINT
  std::vector<uint64_t> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--without-checkpoint-bytes") g_checkpoint_bytes = false;
    else if (std::string_view(argv[i]) == "--max-hot" && i + 1 < argc) g_max_hot = std::strtoull(argv[++i], nullptr, 10);
    else seeds.push_back(std::strtoull(argv[i], nullptr, 10));
  }
  if (seeds.empty()) seeds = {1, 2, 3};
  size_t findings = 0;
  for (uint64_t s : seeds) std::printf("seed %llu: %s\n", static_cast<unsigned long long>(s), Run(s, 3000, &findings).c_str());
  std::printf("findings: %zu, round-trip problems: %zu\n", findings, g_problems);
  std::printf("encoded findings compared: %zu, differing: %zu\n", g_encoded, g_encoded_bad);
  return g_problems || g_encoded_bad ? 1 : 0;
}
