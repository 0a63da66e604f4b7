#include "services/alignment/engine/engine.h"

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "common/protobuf/deterministic.h"
#include "services/alignment/engine/claims.h"
#include "services/alignment/engine/cold_store.h"
#include "services/alignment/engine/detectors.h"
#include "services/alignment/engine/state.h"

namespace concord::alignment::engine {

namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

Micros ToMicros(const google::protobuf::Timestamp& t) { return t.seconds() * kSecond + t.nanos() / 1000; }
void SetTimestamp(Micros m, google::protobuf::Timestamp* t) {
  int64_t s = m / kSecond, us = m % kSecond;
  if (us < 0) {
    us += kSecond;
    --s;
  }
  t->set_seconds(s);
  t->set_nanos(static_cast<int32_t>(us * 1000));
}

namespace {

// The text a finding id hashes: "type|rule|" + the first n keys, sorted and distinct, joined
// by ",". Reorders keys[0, n).
void FindingText(av::FindingType type, std::string_view rule, std::vector<std::string>* keys, size_t n, std::string* out) {
  auto end = keys->begin() + static_cast<long>(n);
  std::sort(keys->begin(), end);
  end = std::unique(keys->begin(), end);
  out->clear();
  absl::StrAppend(out, static_cast<int>(type), "|");
  out->append(rule);
  out->push_back('|');
  for (auto it = keys->begin(); it != end; ++it) {
    if (it != keys->begin()) out->push_back(',');
    out->append(*it);
  }
}

std::string FindingIdOf(std::string_view text) {  // "f-" and the first 32 hex digits of its SHA-256
  std::string id;
  id.reserve(34);
  id.append("f-");
  AppendSha256Hex(text, 32, &id);
  return id;
}

}  // namespace

std::string FindingId(av::FindingType type, std::string_view rule, std::vector<std::string> keys) {
  std::string text;
  FindingText(type, rule, &keys, keys.size(), &text);
  return FindingIdOf(text);
}

namespace {

const char* TeamName(uint8_t t) {
  switch (t) {
    case ev::TEAM_MARKETING: return "marketing";
    case ev::TEAM_SALES: return "sales";
    case ev::TEAM_ALIGNMENT: return "alignment";
    default: return "unknown";
  }
}
const char* TeamTitle(uint8_t t) {
  switch (t) {
    case ev::TEAM_MARKETING: return "Marketing";
    case ev::TEAM_SALES: return "Sales";
    default: return "Someone";
  }
}
const char* StageName(uint8_t s) {
  static const char* k[] = {"unspecified", "subscriber", "lead",     "mql",           "sql",
                            "opportunity", "customer",   "evangelist", "former_customer"};
  return s < 9 ? k[s] : "unknown";
}
const char* PurposeName(uint8_t p) {
  static const char* k[] = {"unspecified", "welcome",   "nurture",   "promotion",  "new_customer_offer",
                            "win_back",    "event_invite", "newsletter", "follow_up", "proposal",
                            "onboarding",  "renewal",   "transactional"};
  return p < 13 ? k[p] : "unknown";
}

std::string MakeEventType(uint8_t team, uint8_t payload) {
  const auto* f = ev::Event::descriptor()->FindFieldByNumber(payload);
  std::string name = f ? f->name() : "unknown";
  std::replace(name.begin(), name.end(), '_', '-');
  return std::string("io.concord.") + TeamName(team) + "." + name + ".v1";
}

// "io.concord.<team>.<payload>.v1", built once per (team, payload).
const std::string& EventType(uint8_t team, uint8_t payload) {
  static const auto* table = [] {
    auto* t = new std::vector<std::string>(4 * 256);
    for (int tm = 0; tm < 4; ++tm)
      for (int p = 0; p < 256; ++p) (*t)[tm * 256 + p] = MakeEventType(static_cast<uint8_t>(tm), static_cast<uint8_t>(p));
    return t;
  }();
  if (team < 4) return (*table)[team * 256 + payload];
  return (*table)[payload];  // TeamName maps every other team to "unknown", as team 0 does
}

std::string SpanFieldPath(SpanField f, uint8_t payload) {
  const bool revised = payload == ev::Event::kQuoteRevised;
  switch (f) {
    case SpanField::kMessageSubject: return "message_sent.message.subject";
    case SpanField::kMessageBody: return "message_sent.message.body";
    case SpanField::kOfferText: return payload == ev::Event::kCommitmentMade ? "commitment_made.commitment.concession.text"
                                                                              : "message_sent.message.offers.text";
    case SpanField::kActivitySubject: return "activity_logged.activity.subject";
    case SpanField::kActivityNotes: return "activity_logged.activity.notes";
    case SpanField::kQuoteNotes: return revised ? "quote_revised.quote.notes" : "quote_issued.quote.notes";
    case SpanField::kQuoteTermsText: return revised ? "quote_revised.quote.terms.text" : "quote_issued.quote.terms.text";
    case SpanField::kLineDescription:
      return revised ? "quote_revised.quote.line_items.description" : "quote_issued.quote.line_items.description";
    case SpanField::kCommitmentText: return "commitment_made.commitment.text";
    case SpanField::kConcessionText: return "commitment_made.commitment.concession.text";
    case SpanField::kStructured: {
      const auto* fd = ev::Event::descriptor()->FindFieldByNumber(payload);
      return fd ? fd->name() : "";
    }
    default: return "";
  }
}

bool IsOpenStage(int s) { return s != ev::OPPORTUNITY_STAGE_CLOSED_WON && s != ev::OPPORTUNITY_STAGE_CLOSED_LOST; }

// Per-customer vectors hold a handful of entries: grow them in small steps instead of
// doubling (a vector of 5 touches would otherwise reserve 8).
template <typename Vec>
void Grow(Vec& v, size_t step, size_t max) {
  if (v.size() == v.capacity()) v.reserve(std::max(v.size() + 1, std::min(max, v.size() + step)));
}

// Exact fit: touches, claims and records are large and few (a customer's 5 touches in a
// doubling vector would hold room for 8); the moves on growth are cheap.
template <typename Vec, typename T>
void PushBounded(Vec& v, T x, size_t max) {
  if (v.size() >= max) v.erase(v.begin(), v.begin() + static_cast<long>(v.size() - max + 1));
  Grow(v, 1, max);
  v.push_back(std::move(x));
}

bool RingHas(const CompactVec<uint64_t>& r, uint64_t h) { return std::find(r.begin(), r.end(), h) != r.end(); }
// Whether the dedupe ring holds `id` (util.h: DedupeKey). A ring restored from a format 1-4
// checkpoint may still hold legacy keys of events no longer in the table; only then is the id's
// text hashed too.
bool SeenBefore(const CompactVec<uint64_t>& r, std::string_view id, uint64_t key) {
  bool legacy = false;
  for (uint64_t v : r) {
    if (v == key) return true;
    legacy |= !(v & kDedupeKeyBit);
  }
  return legacy && RingHas(r, LegacyDedupeKey(id));
}
void RingAdd(CompactVec<uint64_t>& r, uint16_t& pos, uint64_t h, size_t cap) {
  if (r.size() < cap) {
    Grow(r, 4, cap);
    r.push_back(h);
    return;
  }
  if (cap == 0) return;
  pos %= cap;
  if (r.size() > cap) r.resize(cap);
  r[pos] = h;
  pos = static_cast<uint16_t>((pos + 1) % cap);
}

// ---- scorecard activity counters (per UTC day, per scope: overall, marketing, sales) -------
constexpr size_t kMaxActivityDays = 400;

int32_t DayOf(Micros at) { return static_cast<int32_t>(at >= 0 ? at / kDay : (at - kDay + 1) / kDay); }
// Scope index of a team's own counters, -1 when the team has none (only overall).
int ScopeOf(uint8_t team) {
  return team == ev::TEAM_MARKETING ? 1 : team == ev::TEAM_SALES ? 2 : -1;
}

// Time-to-accept histogram: bucket 0 = under 1 s; bucket i >= 1 covers
// [2^((i-1)/16), 2^(i/16)) seconds, i.e. ~4.4 % wide, so the median is within ~2.2 %.
constexpr double kTtaPerOctave = 16;
uint16_t TtaBucket(Micros d) {
  double s = static_cast<double>(d) / kSecond;
  if (s < 1) return 0;
  double b = std::floor(std::log2(s) * kTtaPerOctave) + 1;
  return static_cast<uint16_t>(std::min(b, 65535.0));
}
Micros TtaValue(uint16_t b) {  // the bucket's geometric midpoint
  if (b == 0) return kSecond / 2;
  return static_cast<Micros>(std::exp2((b - 0.5) / kTtaPerOctave) * kSecond);
}

struct DayActivity {
  uint64_t touches = 0, customers = 0, claims = 0, due = 0, within = 0, accepted = 0;
  std::vector<std::pair<uint16_t, uint32_t>> tta;  // sorted by bucket
  void AddTta(Micros d) {
    uint16_t b = TtaBucket(std::max<Micros>(0, d));
    auto it = std::lower_bound(tta.begin(), tta.end(), std::make_pair(b, uint32_t{0}));
    if (it != tta.end() && it->first == b) ++it->second;
    else tta.insert(it, {b, 1});
  }
};
using DayActivities = std::array<DayActivity, kActivityScopes>;

// Median of a (bucket -> count) histogram; nullopt when empty.
std::optional<Micros> HistMedian(const std::map<uint16_t, uint64_t>& h) {
  uint64_t n = 0;
  for (const auto& [b, c] : h) n += c;
  if (n == 0) return std::nullopt;
  uint64_t lo = (n - 1) / 2, hi = n / 2, seen = 0;
  std::optional<Micros> a, b;
  for (const auto& [bucket, c] : h) {
    if (!a && lo < seen + c) a = TtaValue(bucket);
    if (!b && hi < seen + c) b = TtaValue(bucket);
    seen += c;
  }
  return (*a + *b) / 2;
}

const char* TouchKindName(uint8_t k) {
  static const char* n[] = {"touch", "message", "call", "email", "meeting", "task", "quote", "commitment"};
  return k < 8 ? n[k] : "touch";
}

// Protobuf wire format, written directly (EncodedFinding): the fields the generated serializer
// would write, in field-number order, with proto3's rules (scalars and strings only when not
// the default, sub-messages whenever present, map entries sorted by key as in deterministic
// serialization). Sub-messages are built in per-depth scratch buffers, then length-prefixed.
class Wire {
 public:
  explicit Wire(std::string* out) : out_(out) {}
  // A tag and its value go out in one append (each append checks the capacity and length:
  // ~half of writing a finding was appends); varints through PutVar (util.h).
  // A varint field into a buffer of at least 20 bytes (nothing for 0); returns the end.
  static char* PutInt(char* p, uint32_t field, int64_t v) {
    if (v == 0) return p;
    return PutVar(PutVar(p, field << 3), static_cast<uint64_t>(v));
  }
  void Var(uint64_t v) {
    char b[10];
    out_->append(b, static_cast<size_t>(PutVar(b, v) - b));
  }
  void Tag(uint32_t field, uint32_t type) { Var(field << 3 | type); }
  // uint32/uint64/int32/int64/enum/bool: negative values are sign-extended to 64 bits.
  void Int(uint32_t field, int64_t v) {
    char b[20];
    if (char* e = PutInt(b, field, v); e != b) out_->append(b, static_cast<size_t>(e - b));
  }
  void Str(uint32_t field, std::string_view s) {
    if (s.empty()) return;
    Bytes(field, s);
  }
  void Bytes(uint32_t field, std::string_view s) {  // also a present sub-message
    char b[20];
    char* e = PutVar(PutVar(b, field << 3 | 2), s.size());
    out_->append(b, static_cast<size_t>(e - b));
    out_->append(s);
  }
  void Double(uint32_t field, double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    if (bits == 0) return;  // +0.0 only: -0.0 is written, as protobuf does
    char b[18];
    char* e = PutVar(b, field << 3 | 1);
    for (int i = 0; i < 8; ++i) *e++ = static_cast<char>(bits >> (8 * i));
    out_->append(b, static_cast<size_t>(e - b));
  }
  // A sub-message (or a string) written in place, not built aside and copied: Open writes the
  // tag and `guess` bytes for the length, Close the length once the body is written, moving the
  // body when its varint takes another number of bytes (the encoding stays canonical).
  struct Pending {
    size_t at;
    size_t guess;
  };
  Pending Open(uint32_t field, size_t guess = 1) {
    Tag(field, 2);
    const Pending p{out_->size(), guess};
    out_->append(guess, '\0');
    return p;
  }
  void Close(Pending p) {
    char b[10];
    const auto n = static_cast<size_t>(PutVar(b, out_->size() - p.at - p.guess) - b);
    if (n > p.guess) out_->insert(p.at + p.guess, n - p.guess, '\0');
    else if (n < p.guess) out_->erase(p.at + n, p.guess - n);
    std::memcpy(out_->data() + p.at, b, n);
  }
  std::string* out() { return out_; }

 private:
  std::string* out_;
};

// A google.protobuf.Timestamp or Duration (seconds, nanos) as field `field` of w.
void WireSecondsNanos(Wire& w, uint32_t field, int64_t seconds, int32_t nanos) {
  char b[40];
  char* e = Wire::PutInt(Wire::PutInt(b, 1, seconds), 2, nanos);
  w.Bytes(field, std::string_view(b, static_cast<size_t>(e - b)));
}

// google.protobuf.Timestamp of SetTimestamp(m) into w (field `field`).
void WireTimestamp(Wire& w, uint32_t field, Micros m) {
  int64_t s = m / kSecond, us = m % kSecond;
  if (us < 0) {
    us += kSecond;
    --s;
  }
  WireSecondsNanos(w, field, s, static_cast<int32_t>(us * 1000));
}

// Finding fields 13-16: detected_at, first_evidence_at, last_evidence_at, detection_latency.
void WireTimes(Wire& w, Micros detected, Micros first, Micros last, Micros latency) {
  WireTimestamp(w, 13, detected);
  WireTimestamp(w, 14, first);
  WireTimestamp(w, 15, last);
  latency = std::max<Micros>(0, latency);
  WireSecondsNanos(w, 16, latency / kSecond, static_cast<int32_t>((latency % kSecond) * 1000));
}

// One piece of evidence to render.
struct Ev {
  const EvRef* ref;
  const char* role;
  const StoredClaim* claim = nullptr;
  std::string description;
};

}  // namespace

struct Engine::Impl {
  std::shared_ptr<const Playbook> pb;
  std::unique_ptr<ClaimExtractor> extractor;
  // Mutable: a read of a cold customer (View, segments) decodes it aside, which interns its
  // strings again; they were interned when it was last decoded or processed, so nothing changes.
  mutable Interner strings;
  // Customer states keyed by their own key (CustomerState::key): an 8-byte slot per customer
  // instead of a 40-byte (std::string, pointer) pair.
  struct StateKey {
    static std::string_view K(std::string_view k) { return k; }
    static std::string_view K(const std::unique_ptr<CustomerState>& s) { return s->key.view(); }
  };
  absl::flat_hash_set<std::unique_ptr<CustomerState>, ByKey<StateKey>, ByKey<StateKey>> customers;
  CustomerState* FindCustomer(std::string_view key) const {
    auto it = customers.find(key);
    return it == customers.end() ? nullptr : it->get();
  }

  // ------------------------------------------------------------------ cold customers
  // Beyond max_hot decoded customers, the least recently used go cold: kept as their checkpoint
  // bytes, compressed (ColdStore), and decoded again on their next event, timer or read.
  // Lossless: a decoded checkpoint is the same state (what a restart relies on), so findings do
  // not depend on which customers were cold. 0 = every customer stays decoded.
  size_t max_hot = 0;
  ColdStore cold;
  mutable std::string cold_bytes;  // reused by DecodeCold
  // Recency in one byte per state (CustomerState::use_gen): the generation advances every
  // max_hot/16 uses, and ages (gen - use_gen, modulo 256) are capped at kOldest at least every
  // 64 generations, so they never wrap. A sweep parks the oldest generations first.
  static constexpr uint8_t kOldest = 128;
  uint8_t gen = 0;
  uint64_t uses = 0;
  uint32_t gens_since_cap = 0;

  void MarkUsed(CustomerState& st) {
    if (max_hot && ++uses % std::max<size_t>(1, max_hot / 16) == 0) NextGen();
    st.use_gen = gen;
  }
  void NextGen() {
    ++gen;
    if (++gens_since_cap == 64) CapAges();
  }
  uint8_t Age(const CustomerState& st) const { return static_cast<uint8_t>(gen - st.use_gen); }
  void CapAges() {
    for (auto& st : customers)
      if (Age(*st) > kOldest) st->use_gen = static_cast<uint8_t>(gen - kOldest);
    gens_since_cap = 0;
  }

  // A cold customer's state, decoded (the cold store keeps it).
  std::unique_ptr<CustomerState> DecodeCold(const ColdStore::Entry& e) const {
    cold.Checkpoint(e, &cold_bytes);
    auto st = std::make_unique<CustomerState>();
    if (!DecodeState(cold_bytes, st.get(), &strings)) {
      // The engine wrote these bytes itself: only a bug or corrupted memory gets here.
      std::fprintf(stderr, "alignment engine: the cold state of %.*s does not decode\n", static_cast<int>(e.key().size()),
                   e.key().data());
      std::abort();
    }
    st->key = e.key();
    st->partition = e.summary.partition;
    return st;
  }

  // The customer's decoded state, made hot (decoded if it was cold), or null if unknown and
  // !create. Marks it used.
  CustomerState* Use(std::string_view key, bool create) {
    auto it = customers.find(key);
    if (it != customers.end()) {
      // The key's line was just read (usually a cache miss): ask for the state's other lines
      // now, so that their misses overlap instead of coming one after another.
      const char* p = reinterpret_cast<const char*>(it->get());
      for (size_t off = 64; off < sizeof(CustomerState); off += 64) __builtin_prefetch(p + off);
    } else {
      std::unique_ptr<CustomerState> st;
      if (const ColdStore::Entry* e = cold.Find(key)) {
        st = DecodeCold(*e);
        st->timer_due = e->timer_due;  // its timer stayed registered while it was cold
        cold.Erase(key);
      } else if (create) {
        st = std::make_unique<CustomerState>();
        st->key = key;
      } else {
        return nullptr;
      }
      it = customers.insert(std::move(st)).first;
    }
    MarkUsed(**it);
    return it->get();
  }

  // Read-only: the decoded state, hot or cold (then decoded into *scratch; the engine is
  // unchanged), or null.
  const CustomerState* Peek(std::string_view key, std::unique_ptr<CustomerState>* scratch) const {
    if (const CustomerState* st = FindCustomer(key)) return st;
    const ColdStore::Entry* e = cold.Find(key);
    if (!e) return nullptr;
    *scratch = DecodeCold(*e);
    return scratch->get();
  }

  void Park(const CustomerState& st) { cold.Put(st.key.view(), st.timer_due, EncodeState(st, strings), Summary(st)); }
  static ColdStore::Summary Summary(const CustomerState& st) {
    return {st.industry, st.region, st.country, st.stage, st.partition};
  }

  // Parks the least recently used customers once more than max_hot are decoded, a few per
  // call: a sweep (O(hot customers), once per max_hot/16 new hot customers) chooses max_hot/16
  // of them, and each call parks at most kParkPerCall (~4 us each), so that no event waits
  // for a whole sweep's worth (~2.5 ms at the default 10,000). Beyond max_hot + max_hot/16 (a
  // burst of new customers or restores) it parks at once, down to max_hot. Call it only where
  // no CustomerState reference is held.
  static constexpr size_t kParkPerCall = 16;
  // Customers chosen only for being idle (ChooseIdle, below the limit) park at most this many
  // per call: when a stream of short-lived customers goes by, a period chooses thousands at
  // once, and 16 per event would delay the next few hundred events by ~60 us each.
  static constexpr size_t kParkIdlePerCall = 2;
  std::vector<std::string> to_park;  // chosen by the last sweep
  size_t to_park_at = 0;
  int to_park_age = 0;  // each was at least this old when chosen: one used since is younger and stays
  bool idle_chosen = false;  // to_park came from ChooseIdle

  // After an event, a timer or a restore.
  void ParkSome() { ParkColdest(idle_chosen && customers.size() <= max_hot ? kParkIdlePerCall : kParkPerCall); }

  // Returns false once nothing is left to park.
  bool ParkColdest(size_t budget) {
    if (max_hot == 0) return false;
    const size_t slack = std::max<size_t>(1, max_hot / 16);
    if (customers.size() > max_hot + slack) budget = std::max(budget, customers.size() - max_hot);
    while (budget > 0) {
      if (to_park_at == to_park.size()) {
        std::vector<std::string>().swap(to_park);  // a bulk sweep's keys are not kept
        to_park_at = 0;
        if (customers.size() <= max_hot) return false;
        ChooseColdest(customers.size() - (max_hot - slack));
      }
      auto it = customers.find(to_park[to_park_at++]);
      if (it == customers.end() || Age(**it) < to_park_age) continue;  // gone, or used since
      Park(**it);
      customers.erase(it);
      --budget;
    }
    return to_park_at < to_park.size() || customers.size() > max_hot;
  }

  // Idle periods (ChooseIdle): the generation each began with. A customer whose use generation
  // is older than the previous period's did not get used during it.
  std::optional<uint8_t> idle_mark;

  void ChooseIdle() {
    if (max_hot == 0) return;
    NextGen();  // uses from now on are younger than every use before
    const std::optional<uint8_t> prev = std::exchange(idle_mark, gen);
    if (!prev) return;
    // Unused since the previous mark = at least this old. Ages are capped at kOldest, so past
    // that many generations per period (the limit parking hundreds of thousands of uses'
    // worth) the idle cannot be told from the rest: the limit's parking goes on as it is.
    const int idle_age = static_cast<uint8_t>(gen - *prev) + 1;
    if (idle_age > kOldest) return;
    to_park.clear();
    to_park_at = 0;
    to_park_age = idle_age;
    idle_chosen = true;
    for (const auto& st : customers)
      if (Age(*st) >= idle_age) to_park.push_back(st->key.str());
  }

  // The n least recently used hot customers into to_park (n <= customers.size()).
  void ChooseColdest(size_t n) {
    CapAges();
    // The youngest age to park: all older ones go, and of this age as many as still needed.
    size_t count[kOldest + 1] = {};
    for (const auto& st : customers) ++count[Age(*st)];
    int age = kOldest;
    size_t older = 0;
    for (; age > 0 && older + count[age] < n; --age) older += count[age];
    size_t of_age = n - older;
    idle_chosen = false;
    to_park.clear();
    to_park_at = 0;
    to_park_age = age;
    for (const auto& st : customers) {
      const int a = Age(*st);
      if (a < age || (a == age && of_age == 0)) continue;
      if (a == age) --of_age;
      to_park.push_back(st->key.str());
    }
  }

  // (due, customer key), earliest first. Transparent: a timer is found by a string_view of the
  // key, without copying it. A B-tree: ~59 bytes a timer against a red-black tree's 80 (a node
  // per timer); every customer waiting on a hand-off or an open opportunity has one, hot or cold.
  struct TimerLess {
    using is_transparent = void;
    using View = std::pair<Micros, std::string_view>;
    static View V(const std::pair<Micros, std::string>& t) { return {t.first, t.second}; }
    static View V(const View& t) { return t; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return V(a) < V(b);
    }
  };
  absl::btree_set<std::pair<Micros, std::string>, TimerLess> timers;
  EngineStats stats;
  std::map<int32_t, DayActivities> activity;  // UTC day -> counters, <= kMaxActivityDays
  DayActivities discarded;                     // sink for days older than those kept

  explicit Impl(Playbook p) {
    strings.Intern("");
    SetPlaybook(std::move(p));
  }
  void SetPlaybook(Playbook p) {
    pb = std::make_shared<const Playbook>(std::move(p));
    extractor = std::make_unique<ClaimExtractor>(*pb);
    claim_cache[0].clear();  // results depend on the playbook's catalog
    claim_cache[1].clear();
  }

  // ------------------------------------------------------------------ claim extraction cache
  // ClaimExtractor::Extract is a pure function of (text, default product, reference date) for
  // a given playbook, and marketing sends one template body to thousands of customers: memoize
  // it. Two generations of at most kClaimCacheEntries each (a cheap approximation of LRU: a
  // hit in the old generation moves the entry to the new one; when the new one is full, the
  // old one is dropped). The key holds the full text, so a hit is exact (no hash collisions).
  static constexpr size_t kClaimCacheEntries = 2048;
  static constexpr size_t kClaimCacheMaxText = 2048;  // longer texts are not cached
  absl::flat_hash_map<std::string, std::vector<ExtractedClaim>> claim_cache[2];
  std::string claim_key;  // reused buffer

  void Extract(std::string_view text, std::string_view product, int32_t ref_ymd, std::vector<ExtractedClaim>* out) {
    if (text.empty()) return;
    if (text.size() > kClaimCacheMaxText) {
      extractor->Extract(text, product, ref_ymd, out);
      return;
    }
    claim_key.clear();
    claim_key.append(reinterpret_cast<const char*>(&ref_ymd), sizeof ref_ymd);
    claim_key.append(product);
    claim_key.push_back('\0');
    claim_key.append(text);
    auto& cur = claim_cache[0];
    if (auto it = cur.find(claim_key); it != cur.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
    std::vector<ExtractedClaim> found;
    if (auto it = claim_cache[1].find(claim_key); it != claim_cache[1].end()) {
      found = std::move(it->second);
      claim_cache[1].erase(it);
    } else {
      extractor->Extract(text, product, ref_ymd, &found);
    }
    out->insert(out->end(), found.begin(), found.end());
    if (cur.size() >= kClaimCacheEntries) {
      claim_cache[1] = std::move(cur);
      cur.clear();
    }
    cur.emplace(claim_key, std::move(found));
  }

  // ------------------------------------------------------------------ findings
  std::vector<std::string> raise_keys;  // reused buffers of Emit
  std::string raise_text;

  struct Ctx {
    const std::string& key;
    CustomerState& st;
    Micros now;
    std::vector<Finding>* out;
    std::vector<EncodedFinding>* encoded = nullptr;  // when set, findings go here as wire bytes
  };

  void Emit(Ctx& c, av::FindingType type, const std::string& rule, std::vector<Ev> evs, std::string title,
            std::string summary, std::string action, uint8_t action_team, std::optional<Micros> deadline,
            std::vector<std::pair<std::string, std::string>> details = {}) {
    // Already raised? Checked on the raise key (FNV-1a of the text the id hashes), so the
    // SHA-256 id is computed for new findings only (and for checkpoints of format <= 2, whose
    // remembered findings are Hash64 of the id).
    if (raise_keys.size() < evs.size()) raise_keys.resize(evs.size());
    for (size_t i = 0; i < evs.size(); ++i) {
      std::string& k = raise_keys[i];
      k.clear();
      evs[i].ref->event_id.AppendTo(&k);
      if (evs[i].claim) absl::StrAppend(&k, "#", evs[i].claim->index);
    }
    FindingText(type, rule, &raise_keys, evs.size(), &raise_text);
    const uint64_t key = Hash64(raise_text);
    auto& raised = c.st.emitted;
    const auto legacy_end = raised.begin() + c.st.emitted_legacy;
    if (std::find(legacy_end, raised.end(), key) != raised.end()) return;
    std::string id = FindingIdOf(raise_text);
    if (c.st.emitted_legacy && std::find(raised.begin(), legacy_end, Hash64(id)) != legacy_end) return;
    if (raised.size() >= kMaxEmitted) {
      raised.erase(raised.begin());
      if (c.st.emitted_legacy) --c.st.emitted_legacy;
    }
    Grow(raised, 4, kMaxEmitted);
    raised.push_back(key);
    // stable, by time (insertion sort: a handful of entries, and no temporary buffer)
    for (size_t i = 1; i < evs.size(); ++i)
      for (size_t j = i; j > 0 && evs[j].ref->at < evs[j - 1].ref->at; --j) std::swap(evs[j], evs[j - 1]);
    ++stats.findings;
    ++stats.findings_by_type[type & 7];
    if (title.size() > 200) title.resize(200);
    if (c.encoded) {
      EncodeFinding(c, type, rule, evs, std::move(id), title, summary, action, action_team, deadline, details);
      return;
    }
    Finding f;
    f.set_id(id);
    f.set_version(1);
    f.set_type(type);
    f.set_severity(pb->SeverityOf(type));
    f.set_status(av::FINDING_STATUS_OPEN);
    f.set_customer_key(c.key);
    f.mutable_customer()->set_customer_key(c.key);
    f.set_title(std::move(title));
    f.set_summary(std::move(summary));
    f.set_recommended_action(std::move(action));
    f.set_action_team(static_cast<ev::Team>(action_team));
    Micros first = evs.empty() ? c.now : evs.front().ref->at, last = evs.empty() ? c.now : evs.back().ref->at;
    for (auto& e : evs) {
      auto* x = f.add_evidence();
      const EvRef& r = *e.ref;
      x->set_event_id(r.event_id.str());
      x->set_event_type(EventType(r.team, r.payload));
      x->set_team(static_cast<ev::Team>(r.team));
      x->mutable_actor()->set_id(strings.Get(r.actor));
      x->mutable_actor()->set_team(static_cast<ev::Team>(r.team));
      SetTimestamp(r.at, x->mutable_occurred_at());
      x->set_role(e.role);
      x->set_record_id(r.record_id.str());
      if (r.offset >= 0) {
        x->mutable_source()->set_topic(strings.Get(r.topic));
        x->mutable_source()->set_partition(r.partition);
        x->mutable_source()->set_offset(r.offset);
      }
      if (e.claim) {
        const StoredClaim& cl = *e.claim;
        std::string claim_id = r.event_id.str();
        absl::StrAppend(&claim_id, "#", cl.index);
        x->set_claim_id(std::move(claim_id));
        x->set_product(strings.Get(cl.product));
        x->set_attribute(static_cast<av::ClaimAttribute>(cl.attr));
        FillValue(cl, x->mutable_value());
        auto* sp = x->mutable_span();
        sp->set_field(SpanFieldPath(cl.field, r.payload));
        if (!cl.structured) {
          sp->set_text(std::string(cl.text.span_text()));
          sp->set_begin(cl.text.begin());
          sp->set_end(cl.text.end());
        }
      }
      if (e.description.size() > 1024) e.description.resize(1024);
      x->set_description(std::move(e.description));
    }
    SetTimestamp(c.now, f.mutable_detected_at());
    SetTimestamp(first, f.mutable_first_evidence_at());
    SetTimestamp(last, f.mutable_last_evidence_at());
    Micros complete = deadline ? *deadline : last;
    Micros lat = std::max<Micros>(0, c.now - complete);
    f.mutable_detection_latency()->set_seconds(lat / kSecond);
    f.mutable_detection_latency()->set_nanos(static_cast<int32_t>((lat % kSecond) * 1000));
    f.set_playbook_version(pb->version);
    f.set_playbook_rule(rule);
    SetTimestamp(c.now, f.mutable_updated_at());
    for (auto& [k, v] : details) (*f.mutable_details())[k] = v;
    c.out->push_back(std::move(f));
  }

  // The same finding as Emit builds, as its wire bytes (what Finding::SerializeAsString gives
  // with deterministic map order), without building the proto.
  std::vector<const std::pair<std::string, std::string>*> wire_details;

  void EncodeFinding(Ctx& c, av::FindingType type, const std::string& rule, std::vector<Ev>& evs, std::string id,
                     const std::string& title, const std::string& summary, const std::string& action, uint8_t action_team,
                     std::optional<Micros> deadline, const std::vector<std::pair<std::string, std::string>>& details) {
    EncodedFinding out;
    out.type = type;
    out.customer_key = c.key;
    std::string& b = out.bytes;
    b.reserve(1024);
    Wire w(&b);
    w.Str(1, id);
    w.Int(2, 1);  // version
    w.Int(3, type);
    w.Int(4, pb->SeverityOf(type));
    w.Int(5, av::FINDING_STATUS_OPEN);
    w.Str(6, c.key);
    auto customer = w.Open(7);
    w.Str(1, c.key);  // CustomerRef.customer_key
    w.Close(customer);
    w.Str(8, title);
    w.Str(9, summary);
    for (auto& e : evs) {
      const EvRef& r = *e.ref;
      auto evidence = w.Open(10, 2);  // mostly 128 bytes or more
      if (!r.event_id.empty()) {
        auto f = w.Open(1);
        r.event_id.AppendTo(&b);
        w.Close(f);
      }
      w.Str(2, EventType(r.team, r.payload));
      w.Int(3, r.team);
      auto actor = w.Open(4);
      w.Int(1, r.team);
      w.Str(2, strings.Get(r.actor));
      w.Close(actor);
      WireTimestamp(w, 5, r.at);
      w.Str(6, e.role);
      if (!r.record_id.empty()) {
        auto f = w.Open(7);
        r.record_id.AppendTo(&b);
        w.Close(f);
      }
      if (e.claim) {
        const StoredClaim& cl = *e.claim;
        auto f = w.Open(8);
        r.event_id.AppendTo(&b);
        absl::StrAppend(&b, "#", cl.index);
        w.Close(f);
        w.Str(9, strings.Get(cl.product));
        w.Int(10, static_cast<int>(cl.attr));
        auto value = w.Open(11);
        WireValue(cl, w);
        w.Close(value);
        auto span = w.Open(12);
        w.Str(1, SpanFieldPath(cl.field, r.payload));
        if (!cl.structured) {
          w.Str(2, cl.text.span_text());
          w.Int(3, cl.text.begin());
          w.Int(4, cl.text.end());
        }
        w.Close(span);
      }
      if (r.offset >= 0) {
        auto src = w.Open(13);
        w.Str(1, strings.Get(r.topic));
        w.Int(2, r.partition);
        w.Int(3, r.offset);
        w.Close(src);
      }
      w.Str(14, std::string_view(e.description).substr(0, 1024));
      w.Close(evidence);
    }
    w.Str(11, action);
    w.Int(12, action_team);
    Micros first = evs.empty() ? c.now : evs.front().ref->at, last = evs.empty() ? c.now : evs.back().ref->at;
    Micros complete = deadline ? *deadline : last;
    out.first_evidence_at = first;
    out.last_evidence_at = last;
    out.complete_at = complete;
    out.times_begin = b.size();
    WireTimes(w, c.now, first, last, c.now - complete);
    out.times_end = b.size();
    w.Int(17, static_cast<int64_t>(pb->version));
    w.Str(18, rule);
    WireTimestamp(w, 20, c.now);
    // details: a map (the last value of a repeated key wins), entries sorted by key; an entry
    // writes its key and value even when empty.
    wire_details.clear();
    for (const auto& d : details) {
      auto it = std::find_if(wire_details.begin(), wire_details.end(), [&](const auto* x) { return x->first == d.first; });
      if (it != wire_details.end()) *it = &d;
      else wire_details.push_back(&d);
    }
    std::sort(wire_details.begin(), wire_details.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* d : wire_details) {
      auto entry = w.Open(21);
      w.Bytes(1, d->first);
      w.Bytes(2, d->second);
      w.Close(entry);
    }
    out.id = std::move(id);
    c.encoded->push_back(std::move(out));
  }

  // ClaimValue of FillValue, into w (its sub-messages written in place).
  void WireValue(const StoredClaim& cl, Wire w) const {
    ExtractedClaim e;
    e.attr = cl.attr;
    e.v = cl.v;
    e.detail = cl.text.detail();
    switch (cl.attr) {
      case Attr::kPrice: {
        auto money = w.Open(1);
        w.Str(1, std::string_view(cl.v.currency, strnlen(cl.v.currency, sizeof cl.v.currency)));
        w.Int(2, cl.v.micros / 1'000'000);
        w.Int(3, static_cast<int32_t>((cl.v.micros % 1'000'000) * 1000));
        w.Close(money);
        break;
      }
      case Attr::kDiscount:
      case Attr::kTrial:
      case Attr::kContractTerm: {
        auto quantity = w.Open(2);
        w.Double(1, cl.v.qty);
        w.Int(2, cl.attr == Attr::kDiscount ? av::QUANTITY_UNIT_PERCENT
                 : cl.attr == Attr::kTrial  ? av::QUANTITY_UNIT_DAYS
                                            : av::QUANTITY_UNIT_MONTHS);
        w.Close(quantity);
        break;
      }
      case Attr::kDeliveryDate: {
        auto date = w.Open(3);
        w.Int(1, cl.v.ymd / 10000);
        w.Int(2, (cl.v.ymd / 100) % 100);
        w.Int(3, cl.v.ymd % 100);
        w.Close(date);
        break;
      }
      case Attr::kFreeShipping:
      case Attr::kFeature:
        w.Tag(4, 0);  // a oneof member is written even when false
        w.Var(cl.v.flag ? 1 : 0);
        break;
      default: break;
    }
    if (cl.attr == Attr::kPrice) w.Int(6, cl.v.period);
    w.Str(7, DisplayValue(e));
  }

  void FillValue(const StoredClaim& cl, av::ClaimValue* v) const {
    ExtractedClaim e;
    e.attr = cl.attr;
    e.v = cl.v;
    e.detail = cl.text.detail();
    v->set_display(DisplayValue(e));
    switch (cl.attr) {
      case Attr::kPrice: {
        auto* m = v->mutable_money();
        m->set_currency_code(cl.v.currency);
        m->set_units(cl.v.micros / 1'000'000);
        m->set_nanos(static_cast<int32_t>((cl.v.micros % 1'000'000) * 1000));
        v->set_billing_period(static_cast<ev::BillingPeriod>(cl.v.period));
        break;
      }
      case Attr::kDiscount:
        v->mutable_quantity()->set_value(cl.v.qty);
        v->mutable_quantity()->set_unit(av::QUANTITY_UNIT_PERCENT);
        break;
      case Attr::kTrial:
        v->mutable_quantity()->set_value(cl.v.qty);
        v->mutable_quantity()->set_unit(av::QUANTITY_UNIT_DAYS);
        break;
      case Attr::kContractTerm:
        v->mutable_quantity()->set_value(cl.v.qty);
        v->mutable_quantity()->set_unit(av::QUANTITY_UNIT_MONTHS);
        break;
      case Attr::kDeliveryDate: {
        auto* d = v->mutable_date();
        d->set_year(cl.v.ymd / 10000);
        d->set_month((cl.v.ymd / 100) % 100);
        d->set_day(cl.v.ymd % 100);
        break;
      }
      case Attr::kFreeShipping:
      case Attr::kFeature: v->set_flag(cl.v.flag); break;
      default: break;
    }
  }

  // Finding text is built with StrCat (one allocation of the summed size), not operator+ chains.
  std::string Who(const EvRef& r) {
    const std::string& actor = strings.Get(r.actor);
    return actor.empty() ? absl::StrCat(TeamTitle(r.team), " (unknown)") : absl::StrCat(TeamTitle(r.team), " (", actor, ")");
  }

  // ------------------------------------------------------------------ suppression
  bool Suppressed(CustomerState& st, uint64_t key, Micros now) {
    for (auto& s : st.suppress)
      if (s.key == key && now <= s.until) return true;
    return false;
  }
  void Suppress(CustomerState& st, uint64_t key, Micros until, Micros now) {
    st.suppress.erase(std::remove_if(st.suppress.begin(), st.suppress.end(),
                                     [&](const auto& s) { return s.until < now || s.key == key; }),
                      st.suppress.end());
    if (st.suppress.size() >= 16) st.suppress.erase(st.suppress.begin());
    st.suppress.push_back({key, until});
  }

  // ------------------------------------------------------------------ scorecard counters
  DayActivities& ActivityDay(int32_t day) {
    auto [it, inserted] = activity.try_emplace(day);
    if (inserted && activity.size() > kMaxActivityDays) {
      if (it == activity.begin()) {  // older than every day kept: not retained
        activity.erase(it);
        discarded = {};
        return discarded;
      }
      activity.erase(activity.begin());  // the oldest day goes
    }
    return it->second;
  }
  // A touch: counted for overall and its team; customers_touched once per customer per day.
  void CountTouch(CustomerState& st, const EvRef& r) {
    int32_t day = DayOf(r.at);
    auto& d = ActivityDay(day);
    for (int scope : {0, ScopeOf(r.team)}) {
      if (scope < 0) continue;
      ++d[scope].touches;
      if (st.touch_day[scope] != day) {
        st.touch_day[scope] = day;
        ++d[scope].customers;
      }
    }
  }
  void CountClaim(const EvRef& r) {
    auto& d = ActivityDay(DayOf(r.at));
    for (int scope : {0, ScopeOf(r.team)})
      if (scope >= 0) ++d[scope].claims;
  }
  // The accept-SLA outcome of a hand-off, once, on the day of its deadline (overall + sales).
  void CountHandoffOutcome(HandoffRec& h, bool within) {
    if (h.counted) return;
    h.counted = true;
    auto& d = ActivityDay(DayOf(h.accept_due));
    for (int scope : {0, 2}) {
      ++d[scope].due;
      if (within) ++d[scope].within;
    }
  }
  void CountAccepted(const HandoffRec& h) {
    auto& d = ActivityDay(DayOf(h.accepted_at));
    for (int scope : {0, 2}) {
      ++d[scope].accepted;
      d[scope].AddTta(h.accepted_at - h.handed_off_at);
    }
  }

  void SetOwner(CustomerState& st, const ev::Actor& a, uint8_t default_team) {
    if (a.id().empty()) return;
    uint8_t team = a.team() ? static_cast<uint8_t>(a.team()) : default_team;
    st.owner[team == ev::TEAM_MARKETING ? 0 : 1] = strings.Intern(a.id());
  }
  void SetPlace(CustomerState& st, const std::string& industry, const std::string& region, const std::string& country) {
    if (!industry.empty()) st.industry = strings.Intern(industry);
    if (!region.empty()) st.region = strings.Intern(region);
    if (!country.empty()) st.country = strings.Intern(country);
  }
  void SetScore(CustomerState& st, const ev::Lead& l, Micros at) {
    if (l.score() <= 0 && l.score_reasons().empty()) return;
    Micros when = l.has_scored_at() ? ToMicros(l.scored_at()) : at;
    if (when < st.scored_at) return;
    st.lead_score = static_cast<uint8_t>(std::clamp(l.score(), 0, 100));
    st.scored_at = when;
    st.score_reasons.clear();
    for (const auto& r : l.score_reasons()) {
      if (st.score_reasons.size() >= 8) break;
      st.score_reasons.push_back({strings.Intern(r.code()), static_cast<int8_t>(std::clamp(r.points(), -100, 100))});
    }
  }
  template <typename S>
  static void SetName(S& dst, const std::string& name) {
    dst = std::string_view(name).substr(0, 120);
  }
  void FillOpp(OppRec& rec, const ev::Opportunity& o) {
    if (!o.name().empty()) SetName(rec.name, o.name());
    if (!o.owner().id().empty()) rec.owner = strings.Intern(o.owner().id());
    if (o.has_amount()) {
      rec.amount_micros = o.amount().units() * 1'000'000 + o.amount().nanos() / 1000;
      CopyCurrency(rec.currency, o.amount().currency_code());
    }
    if (o.has_close_date() && o.close_date().year())
      rec.close_ymd = Ymd(o.close_date().year(), o.close_date().month(), o.close_date().day());
  }

  // ------------------------------------------------------------------ timers
  Micros NextDue(const CustomerState& st) const {
    Micros due = 0;
    auto consider = [&](Micros d) {
      if (due == 0 || d < due) due = d;
    };
    if (st.handoff) {
      const auto& h = *st.handoff;
      if (!h.rejected && !h.accepted && !h.touched && !h.accept_fired) consider(h.accept_due);
      if (!h.rejected && !h.touched && !h.touch_fired) consider(h.touch_due);
    }
    for (const auto& o : st.opps)
      if (!o.stalled_fired) consider(o.last_touch + pb->stalled_opportunity_days * kDay);
    return due;
  }

  void Reschedule(const std::string& key, CustomerState& st) {
    Micros due = NextDue(st);
    if (due == st.timer_due) return;
    auto t = st.timer_due ? timers.find(TimerLess::View{st.timer_due, key}) : timers.end();
    st.timer_due = due;
    if (t == timers.end()) {
      if (due) timers.emplace(due, key);
    } else if (!due) {
      timers.erase(t);
    } else {
      auto node = timers.extract(t);  // the key string moves back in with its new due time, not copied
      node.value().first = due;
      timers.insert(std::move(node));
    }
  }

  void EraseTimer(Micros due, std::string_view key) {
    if (auto t = timers.find(TimerLess::View{due, key}); t != timers.end()) timers.erase(t);
  }

  void FireTimers(Ctx& c, Micros at) {
    CustomerState& st = c.st;
    if (st.handoff) {
      auto& h = *st.handoff;
      if (!h.rejected && !h.accepted && !h.touched && !h.accept_fired && at >= h.accept_due) {
        h.accept_fired = true;
        CountHandoffOutcome(h, false);
        std::string sla = FormatDuration(pb->sla_handoff_accept);
        Emit(c, av::FINDING_TYPE_HANDOFF_SLA_BREACH, "sla.handoff_accept", {{&st.ev(h.ev), "handoff", nullptr, "MQL handed off to sales (hand-off " + std::string(h.handoff_id()) + ")"}},
             "Hand-off not accepted within " + sla,
             "Marketing handed off this MQL; sales neither accepted it nor touched the customer within the " + sla +
                 " SLA (due " + std::to_string((h.accept_due - st.ev(h.ev).at) / kHour) + "h after hand-off).",
             "Sales: accept or reject hand-off " + std::string(h.handoff_id()) + " now and assign an owner.", ev::TEAM_SALES, h.accept_due,
             {{"sla", sla}, {"handoff_id", std::string(h.handoff_id())}});
      }
      if (!h.rejected && !h.touched && !h.touch_fired && at >= h.touch_due) {
        h.touch_fired = true;
        std::string sla = FormatDuration(pb->sla_first_touch);
        std::vector<Ev> evs{{&st.ev(h.ev), "handoff", nullptr, "MQL handed off to sales (hand-off " + std::string(h.handoff_id()) + ")"}};
        if (h.accepted) evs.push_back({&st.ev(h.accept_ev), "acceptance", nullptr, "Hand-off accepted by " + Who(st.ev(h.accept_ev))});
        Emit(c, av::FINDING_TYPE_HANDOFF_SLA_BREACH, "sla.first_touch", std::move(evs), "No first touch within " + sla + " of hand-off",
             "No sales outreach reached this customer within the " + sla + " first-touch SLA after the hand-off.",
             "Sales: the owning rep should contact the customer today.", ev::TEAM_SALES, h.touch_due,
             {{"sla", sla}, {"handoff_id", std::string(h.handoff_id())}});
      }
    }
    for (auto& o : st.opps) {
      Micros due = o.last_touch + pb->stalled_opportunity_days * kDay;
      if (o.stalled_fired || at < due) continue;
      o.stalled_fired = true;
      std::vector<Ev> evs{{&st.ev(o.ev), "open_opportunity", nullptr, "Opportunity " + o.id + " open"}};
      if (o.has_touch_ev) evs.push_back({&st.ev(o.last_touch_ev), "last_touch", nullptr, "Last touch by " + Who(st.ev(o.last_touch_ev))});
      std::string days = std::to_string(pb->stalled_opportunity_days);
      Emit(c, av::FINDING_TYPE_CONTRADICTORY_JOURNEY, "journey.stalled_opportunity_days", std::move(evs),
           "Open opportunity with no touch for " + days + " days",
           "Opportunity " + o.id + " is open but nobody has touched the customer for " + days + " days.",
           "Sales: the opportunity owner should re-engage or close the opportunity.", ev::TEAM_SALES, due,
           {{"stalled_days", days}, {"opportunity_id", o.id}});
    }
  }

  // ------------------------------------------------------------------ event helpers
  std::string last_topic;  // the last topic Ref interned, and its id
  uint32_t last_topic_id = 0;
  // The event's entry in the customer's event table (may renumber the table: see AddEv).
  EvIx Ref(CustomerState& st, const Event& e, const SourcePosition& pos, std::string_view record_id) {
    EvRef r;
    r.event_id.Set(e.id());
    r.record_id.Set(record_id);
    r.at = ToMicros(e.occurred_at());
    r.offset = pos.offset;
    r.partition = pos.partition;
    // A partition's events all name the same topic: skip the interner's hash lookup for it.
    if (pos.topic != last_topic) {
      last_topic = pos.topic;
      last_topic_id = strings.Intern(pos.topic);
    }
    r.topic = last_topic_id;
    r.actor = strings.Intern(e.actor().id());
    uint8_t team = static_cast<uint8_t>(e.actor().team());
    if (!team) team = static_cast<uint8_t>(e.producer().team());
    r.team = team;
    r.payload = static_cast<uint8_t>(e.payload_case());
    return st.AddEv(std::move(r));
  }

  void AdvanceStage(CustomerState& st, int stage, EvIx r) {
    if (stage <= 0 || stage > 8) return;
    if (stage == ev::LIFECYCLE_STAGE_CUSTOMER || stage == ev::LIFECYCLE_STAGE_EVANGELIST) st.ever_customer = true;
    bool forward = stage > st.stage && !(st.stage == ev::LIFECYCLE_STAGE_FORMER_CUSTOMER && stage < ev::LIFECYCLE_STAGE_CUSTOMER);
    if (st.stage == 0 || forward) {
      st.stage = static_cast<uint8_t>(stage);
      st.stage_ev = r;
      st.has_stage_ev = true;
    }
  }
  void SetStage(CustomerState& st, int stage, EvIx r) {
    st.stage = static_cast<uint8_t>(stage);
    st.stage_ev = r;
    st.has_stage_ev = true;
    if (stage == ev::LIFECYCLE_STAGE_CUSTOMER || stage == ev::LIFECYCLE_STAGE_EVANGELIST) st.ever_customer = true;
  }

  // Builds stored claims from extracted ones.
  void AddClaims(std::vector<StoredClaim>& out, std::vector<ExtractedClaim>& ex, EvIx r, SpanField field,
                 std::string_view text, Micros valid_until, const std::string& offer_code, bool new_only) {
    for (auto& x : ex) {
      StoredClaim s;
      s.ev = r;
      s.attr = x.attr;
      s.structured = x.structured;
      s.field = x.structured ? SpanField::kStructured : field;
      s.product = strings.Intern(x.product);
      s.feature = strings.Intern(x.feature);
      s.v = x.v;
      ClaimText::Fields t;
      t.detail = x.detail;
      if (!x.structured) {
        t.begin = x.begin;
        t.end = x.end;
        t.span_text = text.substr(x.begin, std::min<size_t>(x.end - x.begin, 160));
      }
      t.confidence = x.confidence;
      t.offer_code = offer_code;
      s.text = ClaimText(t);
      s.valid_until = valid_until;
      s.new_customers_only = new_only;
      out.push_back(std::move(s));
    }
    ex.clear();
  }

  int32_t RefYmd(Micros at) const { return DaysToYmd(at >= 0 ? at / kDay : (at - kDay + 1) / kDay); }

  void ClaimsFromText(std::vector<StoredClaim>& out, std::string_view text, std::string_view product, EvIx r, Micros at,
                      SpanField field, Micros valid_until) {
    if (text.empty()) return;
    std::vector<ExtractedClaim> ex;
    Extract(text, product, RefYmd(at), &ex);
    AddClaims(out, ex, r, field, text, valid_until, "", false);
  }

  void ClaimsFromOffer(std::vector<StoredClaim>& out, const ev::Offer& o, EvIx r, Micros at, Micros default_valid,
                       SpanField text_field) {
    Micros vu = o.has_valid_until() ? ToMicros(o.valid_until()) : default_valid;
    std::vector<ExtractedClaim> ex;
    auto base = [&](Attr a) {
      ExtractedClaim c;
      c.attr = a;
      c.product = o.product();
      c.structured = true;
      return c;
    };
    if (o.has_price() && (o.price().units() || o.price().nanos())) {
      auto c = base(Attr::kPrice);
      CopyCurrency(c.v.currency, o.price().currency_code());
      c.v.micros = o.price().units() * 1'000'000 + o.price().nanos() / 1000;
      c.v.period = static_cast<uint8_t>(o.billing_period());
      ex.push_back(c);
    }
    if (o.has_discount_percent()) {
      auto c = base(Attr::kDiscount);
      c.v.qty = o.discount_percent();
      ex.push_back(c);
    }
    if (o.has_trial_days()) {
      auto c = base(Attr::kTrial);
      c.v.qty = o.trial_days();
      ex.push_back(c);
    }
    if (o.has_free_shipping()) {
      auto c = base(Attr::kFreeShipping);
      c.v.flag = o.free_shipping();
      ex.push_back(c);
    }
    AddClaims(out, ex, r, SpanField::kStructured, {}, vu, o.offer_code(), o.new_customers_only());
    if (!o.text().empty()) {
      Extract(o.text(), o.product(), RefYmd(at), &ex);
      AddClaims(out, ex, r, text_field, o.text(), vu, "", false);
    }
  }

  void ClaimsFromQuote(std::vector<StoredClaim>& out, const ev::Quote& q, EvIx r, Micros at) {
    Micros vu = q.has_valid_until() ? ToMicros(q.valid_until()) : at + pb->claim_validity;
    std::vector<ExtractedClaim> ex;
    std::string single = q.line_items_size() == 1 ? q.line_items(0).product() : "";
    for (const auto& li : q.line_items()) {
      ExtractedClaim c;
      c.structured = true;
      c.product = li.product();
      if (li.has_unit_price()) {
        c.attr = Attr::kPrice;
        CopyCurrency(c.v.currency, li.unit_price().currency_code().empty() ? q.currency_code() : li.unit_price().currency_code());
        c.v.micros = li.unit_price().units() * 1'000'000 + li.unit_price().nanos() / 1000;
        c.v.period = static_cast<uint8_t>(li.billing_period());
        ex.push_back(c);
      }
      if (li.has_discount_percent()) {
        ExtractedClaim d;
        d.structured = true;
        d.product = li.product();
        d.attr = Attr::kDiscount;
        d.v.qty = li.discount_percent();
        ex.push_back(d);
      }
    }
    const auto& t = q.terms();
    auto term = [&](Attr a) {
      ExtractedClaim c;
      c.structured = true;
      c.attr = a;
      c.product = single;
      return c;
    };
    if (t.contract_term_months()) {
      auto c = term(Attr::kContractTerm);
      c.v.qty = t.contract_term_months();
      ex.push_back(c);
    }
    if (t.has_delivery_date() && t.delivery_date().year()) {
      auto c = term(Attr::kDeliveryDate);
      c.v.ymd = Ymd(t.delivery_date().year(), t.delivery_date().month(), t.delivery_date().day());
      ex.push_back(c);
    }
    if (t.has_free_shipping()) {
      auto c = term(Attr::kFreeShipping);
      c.v.flag = t.free_shipping();
      ex.push_back(c);
    }
    if (t.has_trial_days()) {
      auto c = term(Attr::kTrial);
      c.v.qty = t.trial_days();
      ex.push_back(c);
    }
    AddClaims(out, ex, r, SpanField::kStructured, {}, vu, "", false);
    for (const auto& li : q.line_items())
      if (!li.description().empty()) {
        Extract(li.description(), li.product(), RefYmd(at), &ex);
        AddClaims(out, ex, r, SpanField::kLineDescription, li.description(), vu, "", false);
      }
    if (!t.text().empty()) {
      Extract(t.text(), single, RefYmd(at), &ex);
      AddClaims(out, ex, r, SpanField::kQuoteTermsText, t.text(), vu, "", false);
    }
    if (!q.notes().empty()) {
      Extract(q.notes(), single, RefYmd(at), &ex);
      AddClaims(out, ex, r, SpanField::kQuoteNotes, q.notes(), vu, "", false);
    }
  }

  // Drops free-text claims that repeat a structured claim of the same event, numbers claims.
  void Finalize(std::vector<StoredClaim>& cl) {
    std::vector<StoredClaim> out;
    out.reserve(cl.size());
    for (auto& c : cl) {
      bool dup = false;
      for (const auto& o : out) {
        if (o.attr != c.attr || o.feature != c.feature) continue;
        if (o.product != c.product && c.product != 0) continue;
        std::string w;
        if (!Disagree(o, c, *pb, &w) &&
            (c.attr != Attr::kPrice || (o.v.micros == c.v.micros && std::string(o.v.currency) == c.v.currency)))
          dup = true;
      }
      if (!dup) out.push_back(std::move(c));
    }
    for (size_t i = 0; i < out.size(); ++i) out[i].index = static_cast<uint16_t>(i);
    cl = std::move(out);
  }

  std::string Describe(const CustomerState& st, const StoredClaim& c) {
    ExtractedClaim e;
    e.attr = c.attr;
    e.v = c.v;
    e.detail = c.text.detail();
    const std::string value = DisplayValue(e);
    std::string s = c.attr == Attr::kFeature
                        ? absl::StrCat(Who(st.ev(c.ev)), " claimed '", strings.Get(c.feature), "' ", value)
                        : absl::StrCat(Who(st.ev(c.ev)), " claimed ", AttrName(c.attr), " ", value);
    if (c.product) absl::StrAppend(&s, " for ", strings.Get(c.product));
    if (!c.structured) s.append(": \"").append(c.text.span_text()).append("\"");
    else if (!c.text.offer_code().empty()) s.append(" (offer ").append(c.text.offer_code()).append(")");
    return s;
  }

  void DetectClaims(Ctx& c, std::vector<StoredClaim>& fresh) {
    CustomerState& st = c.st;
    Micros t = fresh.empty() ? 0 : st.ev(fresh.front().ev).at;
    // expire
    st.claims.erase(std::remove_if(st.claims.begin(), st.claims.end(), [&](const StoredClaim& s) { return s.valid_until < t; }),
                    st.claims.end());
    for (const auto& nc : fresh) {
      const EvRef& ne = st.ev(nc.ev);
      ++stats.claims;
      CountClaim(ne);
      // off-book
      auto problems = CheckOffBook(nc, strings.Get(nc.product), strings.Get(nc.feature), *pb, RefYmd(ne.at));
      if (!problems.empty()) {
        std::string summary, rule = problems.front().rule;
        for (const auto& p : problems) summary += (summary.empty() ? "" : "; ") + p.problem;
        Emit(c, av::FINDING_TYPE_OFF_BOOK_CLAIM, rule, {{&ne, "claim", &nc, Describe(st, nc)}},
             "Off-book claim: " + problems.front().problem, summary + ".",
             std::string(TeamTitle(ne.team)) + ": correct the claim with the customer and stay within " + rule + ".",
             ne.team, std::nullopt, {{"rule", rule}});
      }
      // conflicting
      std::vector<const StoredClaim*> conflicts;
      std::string why;
      for (const auto& s : st.claims) {
        const EvRef& se = st.ev(s.ev);
        if (se.event_id == ne.event_id) continue;
        if (s.valid_until < ne.at) continue;
        if (!SameSubject(s, nc)) continue;
        if (se.team == ne.team && se.actor == ne.actor) continue;
        std::string w;
        if (!Disagree(s, nc, *pb, &w)) continue;
        if (why.empty()) why = w;
        conflicts.push_back(&s);
      }
      if (!conflicts.empty()) {
        if (conflicts.size() > 49) conflicts.erase(conflicts.begin(), conflicts.end() - 49);
        std::vector<Ev> evs;
        bool cross_team = false;
        for (auto* s : conflicts) {
          evs.push_back({&st.ev(s->ev), "claim", s, Describe(st, *s)});
          cross_team |= st.ev(s->ev).team != ne.team;
        }
        evs.push_back({&ne, "claim", &nc, Describe(st, nc)});
        std::string subject = nc.attr == Attr::kFeature ? absl::StrCat("'", strings.Get(nc.feature), "'")
                              : nc.product              ? absl::StrCat(AttrName(nc.attr), " of ", strings.Get(nc.product))
                                                        : std::string(AttrName(nc.attr));
        // The latest conflicting claim's description and the new one's, as in the evidence.
        std::string summary = absl::StrCat(cross_team ? "Marketing and sales" : "Two people",
                                           " told the customer different things: ", why, ". ",
                                           evs[conflicts.size() - 1].description, "; ", evs.back().description, ".");
        Emit(c, av::FINDING_TYPE_CONFLICTING_CLAIM, "tolerances", std::move(evs), absl::StrCat("Conflicting ", subject, " claims"),
             std::move(summary),
             absl::StrCat("Agree on one ", subject, " per the price book and send the customer a single corrected message."),
             ne.team == ev::TEAM_MARKETING ? ev::TEAM_MARKETING : ev::TEAM_SALES, std::nullopt,
             {{"window", FormatDuration(pb->claim_validity)}, {"difference", why}});
      }
    }
    st.claims.reserve(std::min<size_t>(pb->max_claims, st.claims.size() + fresh.size()));  // one move for the batch
    for (auto& nc : fresh) PushBounded(st.claims, std::move(nc), pb->max_claims);
  }

  void RemoveClaimsOf(CustomerState& st, const std::string& record_id) {
    CompactId rid(record_id);
    st.claims.erase(std::remove_if(st.claims.begin(), st.claims.end(), [&](const StoredClaim& s) { return st.ev(s.ev).record_id == rid; }),
                    st.claims.end());
  }

  void OnTouch(Ctx& c, TouchRec t) {
    CustomerState& st = c.st;
    const EvRef& te = st.ev(t.ev);
    const Micros at = te.at;
    CountTouch(st, te);
    if (st.handoff && te.team == ev::TEAM_SALES) {
      auto& h = *st.handoff;
      if (at >= h.handed_off_at && (h.first_touch_at == 0 || at < h.first_touch_at)) h.first_touch_at = at;
      // a sales touch before the accept deadline meets the hand-off SLA
      if (!h.rejected && !h.accepted && !h.accept_fired && at < h.accept_due) CountHandoffOutcome(h, true);
    }
    // first touch for the hand-off SLA: any sales touch
    if (st.handoff && te.team == ev::TEAM_SALES && !st.handoff->touched && at < st.handoff->touch_due) st.handoff->touched = true;
    if (st.handoff && te.team == ev::TEAM_SALES && !st.handoff->touched && !st.handoff->accept_fired && at < st.handoff->accept_due)
      st.handoff->touched = true;
    for (auto& o : st.opps)
      if (at >= o.last_touch) {
        o.last_touch = at;
        o.last_touch_ev = t.ev;
        o.has_touch_ev = true;
        o.stalled_fired = false;
      }
    if (t.outreach) {
      DetectOwnership(c, t);
      DetectDuplicateOutreach(c, t);
    }
    PushBounded(st.touches, std::move(t), pb->max_touches);
  }

  void DetectDuplicateOutreach(Ctx& c, const TouchRec& t) {
    CustomerState& st = c.st;
    if (t.purpose == ev::MESSAGE_PURPOSE_NEWSLETTER || t.purpose == ev::MESSAGE_PURPOSE_TRANSACTIONAL) return;
    const EvRef& te = st.ev(t.ev);
    for (auto it = st.touches.rbegin(); it != st.touches.rend(); ++it) {
      const TouchRec& s = *it;
      if (!s.outreach || s.purpose == ev::MESSAGE_PURPOSE_NEWSLETTER || s.purpose == ev::MESSAGE_PURPOSE_TRANSACTIONAL) continue;
      const EvRef& se = st.ev(s.ev);
      if (te.at - se.at > pb->duplicate_outreach_window || te.at < se.at) continue;
      bool two_teams = se.team != te.team && se.team && te.team;
      bool two_reps = se.team == ev::TEAM_SALES && te.team == ev::TEAM_SALES && se.actor != te.actor;
      if (!two_teams && !two_reps) continue;
      if (st.last_handoff_accept_at >= se.at && st.last_handoff_accept_at <= te.at) continue;  // ownership moved
      // Hash64(team + ":" + actor), without building the string.
      auto who = [&](const EvRef& r) {
        char team[4];
        auto end = std::to_chars(team, team + 3, r.team).ptr;
        *end++ = ':';
        return Hash64Append(Hash64(std::string_view(team, static_cast<size_t>(end - team))), strings.Get(r.actor));
      };
      static const uint64_t kDupOutreach = Hash64("dup-outreach");
      uint64_t a = who(se), b = who(te);
      uint64_t key = kDupOutreach ^ (std::min(a, b) * 31 + std::max(a, b));
      if (Suppressed(st, key, te.at)) return;
      Suppress(st, key, te.at + pb->duplicate_outreach_window, te.at);
      std::string w = FormatDuration(pb->duplicate_outreach_window);
      const std::string who_first = Who(se), who_second = Who(te);
      std::string summary = absl::StrCat(two_teams ? "Both marketing and sales reached out to this customer within "
                                                   : "Two sales reps reached out to this customer within ",
                                         w, ": ", who_first, " then ", who_second, ".");
      uint8_t owner = static_cast<uint8_t>(pb->OwnerOf(static_cast<LifecycleStage>(st.stage)));
      std::vector<Ev> evs;  // not a braced list: that would copy each description
      evs.reserve(2);
      evs.push_back({&se, "first_outreach", nullptr, absl::StrCat("Outreach by ", who_first)});
      evs.push_back({&te, "second_outreach", nullptr, absl::StrCat("Outreach by ", who_second)});
      Emit(c, av::FINDING_TYPE_DUPLICATE_OUTREACH, "windows.duplicate_outreach", std::move(evs),
           absl::StrCat(two_teams ? "Marketing and sales both reached out within " : "Two sales reps reached out within ", w),
           std::move(summary),
           absl::StrCat("Agree on a single owner for this customer (playbook owner at stage ", StageName(st.stage), ": ",
                        owner ? TeamName(owner) : "shared", ") and pause the other sequence."),
           owner ? owner : te.team, std::nullopt, {{"window", w}, {"stage", StageName(st.stage)}});
      return;
    }
  }

  void DetectOwnership(Ctx& c, const TouchRec& t) {
    CustomerState& st = c.st;
    if (!st.stage) return;
    const EvRef& te = st.ev(t.ev);
    Team owner = pb->OwnerOf(static_cast<LifecycleStage>(st.stage));
    if (owner == ev::TEAM_UNSPECIFIED || te.team == owner) return;
    if (te.team != ev::TEAM_MARKETING && te.team != ev::TEAM_SALES) return;
    for (int p : pb->non_owner_allowed_purposes)
      if (p == t.purpose && t.purpose) return;
    if (te.team == ev::TEAM_SALES && st.handoff && !st.handoff->rejected) return;  // the hand-off gives sales the lead
    static const uint64_t kOwnership = Hash64("ownership");
    uint64_t key = kOwnership ^ (static_cast<uint64_t>(te.team) << 8 | st.stage);
    if (Suppressed(st, key, te.at)) return;
    Suppress(st, key, te.at + pb->ownership_repeat_window, te.at);
    std::vector<Ev> evs;
    const char* stage = StageName(st.stage);
    const std::string who = Who(te);
    std::string action = absl::StrCat("Outreach by ", who);
    std::string summary = absl::StrCat("The playbook gives ", TeamName(owner), " the customer at stage ", stage, ", but ", who,
                                       " reached out");
    if (t.purpose) {
      absl::StrAppend(&action, " (", PurposeName(t.purpose), ")");
      absl::StrAppend(&summary, " with a ", PurposeName(t.purpose), " message");
    }
    summary.push_back('.');
    if (st.has_stage_ev) evs.push_back({&st.ev(st.stage_ev), "stage", nullptr, absl::StrCat("Customer entered stage ", stage)});
    evs.push_back({&te, "action", nullptr, std::move(action)});
    std::string rule = absl::StrCat("ownership.stages.", stage);
    Emit(c, av::FINDING_TYPE_OWNERSHIP_VIOLATION, rule, std::move(evs),
         absl::StrCat(TeamTitle(te.team), " acted on a customer owned by ", TeamName(owner), " (", stage, ")"), std::move(summary),
         absl::StrCat(TeamTitle(te.team), ": stop this sequence and route the contact through the owning team (",
                      TeamName(owner), ")."),
         te.team, std::nullopt, {{"stage", stage}, {"owner", TeamName(owner)}});
  }

  void DetectJourney(Ctx& c, const TouchRec& t, const ev::OutboundMessage& m) {
    CustomerState& st = c.st;
    const EvRef& te = st.ev(t.ev);
    const OppRec* open = st.opps.empty() ? nullptr : &st.opps.back();
    bool customer = st.stage == ev::LIFECYCLE_STAGE_CUSTOMER || st.stage == ev::LIFECYCLE_STAGE_EVANGELIST;
    bool existing = customer || st.ever_customer || st.stage == ev::LIFECYCLE_STAGE_FORMER_CUSTOMER;
    bool new_only_offer = false;
    for (const auto& o : m.offers()) new_only_offer |= o.new_customers_only();
    std::string problem;
    const char* role = "";
    const EvRef* state_ev = nullptr;
    uint8_t p = t.purpose;
    if ((p == ev::MESSAGE_PURPOSE_WIN_BACK || p == ev::MESSAGE_PURPOSE_WELCOME || p == ev::MESSAGE_PURPOSE_NEW_CUSTOMER_OFFER) && open) {
      problem = std::string("a ") + PurposeName(p) + " message was sent while opportunity " + open->id + " is open";
      state_ev = &st.ev(open->ev);
      role = "open_opportunity";
    } else if (p == ev::MESSAGE_PURPOSE_WIN_BACK && customer) {
      problem = "a win_back message was sent to a current customer";
    } else if ((p == ev::MESSAGE_PURPOSE_NEW_CUSTOMER_OFFER || new_only_offer) && existing) {
      problem = "a new-customer offer was sent to an existing customer";
    }
    if (problem.empty()) return;
    if (!state_ev && st.has_stage_ev) {
      state_ev = &st.ev(st.stage_ev);
      role = "customer_state";
    }
    std::vector<Ev> evs{{&te, "message", nullptr, "Message by " + Who(te) + " (" + PurposeName(p) + "): " + m.subject().substr(0, 200)}};
    if (state_ev) evs.push_back({state_ev, role, nullptr, std::string("Customer stage ") + StageName(st.stage)});
    Emit(c, av::FINDING_TYPE_CONTRADICTORY_JOURNEY, "journey.message_purpose", std::move(evs),
         "Message contradicts the customer's state", "The customer is at stage " + std::string(StageName(st.stage)) + " and " + problem + ".",
         std::string(TeamTitle(te.team)) + ": exclude customers with open opportunities or existing contracts from this send; "
                                             "the account owner should follow up.",
         te.team, std::nullopt, {{"purpose", PurposeName(p)}, {"stage", StageName(st.stage)}});
  }

  void OnRecord(Ctx& c, RecordRec r, bool created) {
    CustomerState& st = c.st;
    MatchOptions opt{pb->name_jaro_winkler_threshold, pb->default_country_code};
    const EvRef& re = st.ev(r.ev);
    std::string rid = re.record_id.str();
    // update in place
    for (auto& x : st.records)
      if (x.type == r.type && st.ev(x.ev).record_id == re.record_id) {
        x.id = r.id;
        return;
      }
    if (created) {
      const IdentityView rid_view = r.id.view();
      std::vector<Ev> evs;
      std::string reasons;
      double best = 0;
      for (const auto& x : st.records) {
        bool person = r.type != 3, xperson = x.type != 3;
        if (person != xperson) continue;
        const EvRef& xe = st.ev(x.ev);
        if (r.type == 2 && x.type == 1 && r.source_lead_id == xe.record_id.str()) continue;  // contact from that lead
        if (r.type == 1 && x.type == 2 && x.source_lead_id == rid) continue;
        MatchResult m = person ? MatchPersons(x.id.view(), rid_view, opt) : MatchAccounts(x.id.view(), rid_view, opt);
        if (!m.matched) continue;
        static const char* kType[] = {"record", "lead", "contact", "account"};
        evs.push_back({&xe, "existing_record", nullptr,
                       std::string(kType[x.type & 3]) + " " + xe.record_id.str() + " by " + Who(xe) + " (" + m.Reasons() + ")"});
        if (m.score > best) {
          best = m.score;
          reasons = m.Reasons();
        }
      }
      if (!evs.empty()) {
        static const char* kType[] = {"record", "lead", "contact", "account"};
        evs.push_back({&re, "duplicate_record", nullptr, std::string(kType[r.type & 3]) + " " + rid + " created by " + Who(re)});
        const std::string score = FormatFixed2(best);
        Emit(c, av::FINDING_TYPE_DUPLICATE_RECORD, "identity", std::move(evs),
             std::string("Duplicate ") + kType[r.type & 3] + " record",
             std::string("The new ") + kType[r.type & 3] + " " + rid + " matches an existing record: " + reasons + ".",
             "Merge the records (keep the older one) and tell the creator which record to use.", re.team, std::nullopt,
             {{"match_score", score}, {"match_reasons", reasons}});
      }
    }
    PushBounded(st.records, std::move(r), pb->max_records);
  }

  NormalizeBuffers normalize_buffers;  // reused by every record's Normalize

  RecordRec PersonRecord(EvIx r, uint8_t type, const ev::PersonIdentity& p, std::string source_lead) {
    RecordRec rec;
    rec.ev = r;
    rec.type = type;
    rec.source_lead_id = source_lead;
    MatchOptions opt{pb->name_jaro_winkler_threshold, pb->default_country_code};
    rec.id = PackedIdentity(NormalizeTo(p.first_name(), p.last_name(), p.full_name(), p.email(), p.phone(), p.company(),
                                        p.website(), opt, &normalize_buffers));
    return rec;
  }

  // ------------------------------------------------------------------ main entry
  std::vector<Finding> Process(const Event& e, const SourcePosition& pos, std::optional<Micros> now_opt) {
    std::vector<Finding> out;
    Process(e, pos, now_opt, &out, nullptr);
    return out;
  }

  // Findings into *out as protos, or into *encoded as wire bytes when that is set.
  void Process(const Event& e, const SourcePosition& pos, std::optional<Micros> now_opt, std::vector<Finding>* out,
               std::vector<EncodedFinding>* encoded) {
    ProcessOne(e, pos, now_opt, out, encoded);
    ParkSome();
  }

  void ProcessOne(const Event& e, const SourcePosition& pos, std::optional<Micros> now_opt, std::vector<Finding>* out,
                  std::vector<EncodedFinding>* encoded) {
    const std::string& key = e.customer().customer_key();
    if (key.empty()) {
      ++stats.ignored;
      return;
    }
    CustomerState& st = *Use(key, true);
    if (pos.partition >= 0) st.partition = PackPartition(pos.partition);  // a redelivery's too, as before
    const uint64_t h = DedupeKey(e.id());
    if (SeenBefore(st.seen, e.id(), h)) {
      ++stats.duplicates;
      return;
    }
    RingAdd(st.seen, st.seen_pos, h, pb->dedupe_ids);
    ++stats.events;
    const Micros at = ToMicros(e.occurred_at());
    Ctx c{key, st, now_opt ? *now_opt : at, out, encoded};
    st.last_event_at = std::max(st.last_event_at, at);
    if (st.first_event_at == 0 || at < st.first_event_at) st.first_event_at = at;
    if (!e.customer().account_id().empty()) st.account_id = e.customer().account_id();
    FireTimers(c, at);

    std::vector<StoredClaim> fresh;
    auto touch = [&](EvIx r, uint8_t kind, uint8_t purpose, uint8_t channel, bool outreach) {
      TouchRec t;
      t.ev = r;
      t.kind = kind;
      t.purpose = purpose;
      t.channel = channel;
      t.outreach = outreach;
      return t;
    };
    switch (e.payload_case()) {
      case Event::kLeadCaptured:
      case Event::kLeadUpdated: {
        const auto& l = e.has_lead_captured() ? e.lead_captured().lead() : e.lead_updated().lead();
        EvIx r = Ref(st, e, pos, l.id());
        AdvanceStage(st, l.lifecycle_stage(), r);
        SetOwner(st, l.owner(), ev::TEAM_MARKETING);
        SetPlace(st, l.industry(), l.region(), l.country());
        SetScore(st, l, at);
        if (st.display_name.empty()) SetName(st.display_name, l.person().company());
        OnRecord(c, PersonRecord(r, 1, l.person(), ""), e.has_lead_captured());
        break;
      }
      case Event::kLeadQualified: AdvanceStage(st, ev::LIFECYCLE_STAGE_MQL, Ref(st, e, pos, e.lead_qualified().lead().id())); break;
      case Event::kLeadScored: SetScore(st, e.lead_scored().lead(), at); break;
      case Event::kLeadHandedOff: {
        const auto& l = e.lead_handed_off().lead();
        EvIx r = Ref(st, e, pos, l.handoff().handoff_id().empty() ? l.id() : l.handoff().handoff_id());
        HandoffRec hr;
        hr.ev = r;
        Micros base = l.handoff().has_handed_off_at() ? ToMicros(l.handoff().handed_off_at()) : at;
        hr.accept_due = base + pb->sla_handoff_accept;
        hr.touch_due = base + pb->sla_first_touch;
        hr.ids = CompactPair(l.handoff().handoff_id(), l.id());
        hr.handed_off_at = base;
        if (!l.handoff().suggested_owner().id().empty()) hr.owner = strings.Intern(l.handoff().suggested_owner().id());
        // Sales' acceptance can be read before marketing's hand-off (two topics, two relays):
        // an acceptance at or after the hand-off time already counts.
        if (st.last_handoff_accept_at != 0 && st.last_handoff_accept_at >= base) {
          hr.accepted = true;
          hr.accepted_at = st.last_handoff_accept_at;
          CountHandoffOutcome(hr, hr.accepted_at < hr.accept_due);
          CountAccepted(hr);
        }
        st.handoff = std::make_unique<HandoffRec>(std::move(hr));
        AdvanceStage(st, ev::LIFECYCLE_STAGE_MQL, r);
        break;
      }
      case Event::kLeadRecycled: {
        if (st.handoff && !st.handoff->accepted) st.handoff->rejected = true;
        EvIx r = Ref(st, e, pos, e.lead_recycled().lead().id());
        if (st.stage <= ev::LIFECYCLE_STAGE_SQL) SetStage(st, ev::LIFECYCLE_STAGE_LEAD, r);
        break;
      }
      case Event::kHandoffAccepted: {
        const auto& ho = e.handoff_accepted().handoff();
        EvIx r = Ref(st, e, pos, ho.id());
        const ev::Actor& owner = !ho.owner().id().empty() ? ho.owner() : !ho.decided_by().id().empty() ? ho.decided_by() : e.actor();
        SetOwner(st, owner, ev::TEAM_SALES);
        if (st.handoff && (st.handoff->handoff_id() == ho.id() || ho.id().empty() || st.handoff->handoff_id().empty())) {
          auto& h = *st.handoff;
          bool again = h.accepted;
          h.accepted = true;
          h.accept_ev = r;
          if (!owner.id().empty()) h.owner = strings.Intern(owner.id());
          if (!again) {
            h.accepted_at = at;
            if (!h.rejected) CountHandoffOutcome(h, !h.accept_fired && at < h.accept_due);
            CountAccepted(h);
          }
        }
        st.last_handoff_accept_at = at;
        AdvanceStage(st, ev::LIFECYCLE_STAGE_SQL, r);
        break;
      }
      case Event::kHandoffRejected:
        if (st.handoff) st.handoff->rejected = true;
        break;
      case Event::kContactCreated:
      case Event::kContactUpdated: {
        const auto& ct = e.has_contact_created() ? e.contact_created().contact() : e.contact_updated().contact();
        EvIx r = Ref(st, e, pos, ct.id());
        AdvanceStage(st, ct.lifecycle_stage(), r);
        SetOwner(st, ct.owner(), ev::TEAM_SALES);
        if (!ct.account_id().empty()) st.account_id = ct.account_id();
        if (st.display_name.empty()) SetName(st.display_name, ct.person().company());
        OnRecord(c, PersonRecord(r, 2, ct.person(), ct.source_lead_id()), e.has_contact_created());
        break;
      }
      case Event::kAccountCreated:
      case Event::kAccountUpdated: {
        const auto& a = e.has_account_created() ? e.account_created().account() : e.account_updated().account();
        EvIx r = Ref(st, e, pos, a.id());
        AdvanceStage(st, a.lifecycle_stage(), r);
        SetOwner(st, a.owner(), ev::TEAM_SALES);
        SetPlace(st, a.industry(), a.region(), a.country());
        if (!a.name().empty()) SetName(st.display_name, a.name());
        if (!a.id().empty()) st.account_id = a.id();
        RecordRec rec;
        rec.ev = r;
        rec.type = 3;
        MatchOptions opt{pb->name_jaro_winkler_threshold, pb->default_country_code};
        rec.id = PackedIdentity(NormalizeTo("", "", "", "", "", a.name(), a.website().empty() ? a.domain() : a.website(), opt,
                                            &normalize_buffers));
        OnRecord(c, std::move(rec), e.has_account_created());
        break;
      }
      case Event::kAccountMerged:
      case Event::kContactMerged: {
        std::vector<std::string> gone;
        if (e.has_account_merged())
          for (const auto& m : e.account_merged().merged()) {
            gone.push_back(m.id());
            const std::string& alias = m.customer_key();
            if (!alias.empty() && alias != key &&
                std::find(st.alias_keys.begin(), st.alias_keys.end(), alias) == st.alias_keys.end())
              PushBounded(st.alias_keys, alias.substr(0, 256), 8);
          }
        else
          for (const auto& m : e.contact_merged().merged()) gone.push_back(m.id());
        st.records.erase(std::remove_if(st.records.begin(), st.records.end(),
                                        [&](const RecordRec& r) {
                                          return std::find(gone.begin(), gone.end(), st.ev(r.ev).record_id.str()) != gone.end();
                                        }),
                         st.records.end());
        break;
      }
      case Event::kMessageSent: {
        const auto& m = e.message_sent().message();
        EvIx r = Ref(st, e, pos, m.id());
        if (m.sender().team()) st.mutable_ev(r).team = static_cast<uint8_t>(m.sender().team());
        if (!m.sender().id().empty()) st.mutable_ev(r).actor = strings.Intern(m.sender().id());
        std::string single;
        for (const auto& o : m.offers()) {
          if (single.empty()) single = o.product();
          else if (single != o.product()) single = "-";
        }
        if (single == "-") single.clear();
        Micros vu = at + pb->claim_validity;
        for (const auto& o : m.offers()) ClaimsFromOffer(fresh, o, r, at, vu, SpanField::kOfferText);
        ClaimsFromText(fresh, m.subject(), single, r, at, SpanField::kMessageSubject, vu);
        ClaimsFromText(fresh, m.body(), single, r, at, SpanField::kMessageBody, vu);
        TouchRec t = touch(r, av::TOUCH_KIND_MESSAGE, static_cast<uint8_t>(m.purpose()), static_cast<uint8_t>(m.channel()),
                           m.purpose() != ev::MESSAGE_PURPOSE_TRANSACTIONAL);
        if (!m.campaign_id().empty()) t.campaign = strings.Intern(m.campaign_id());
        DetectJourney(c, t, m);
        OnTouch(c, std::move(t));
        break;
      }
      case Event::kActivityLogged: {
        const auto& a = e.activity_logged().activity();
        EvIx r = Ref(st, e, pos, a.id());
        EvRef& re = st.mutable_ev(r);
        if (!a.actor().id().empty()) re.actor = strings.Intern(a.actor().id());
        if (a.has_occurred_at()) re.at = ToMicros(a.occurred_at());
        Micros vu = re.at + pb->claim_validity;
        ClaimsFromText(fresh, a.subject(), "", r, re.at, SpanField::kActivitySubject, vu);
        ClaimsFromText(fresh, a.notes(), "", r, re.at, SpanField::kActivityNotes, vu);
        static const uint8_t kKind[] = {0, av::TOUCH_KIND_CALL, av::TOUCH_KIND_EMAIL, av::TOUCH_KIND_MEETING, av::TOUCH_KIND_TASK};
        bool outreach = a.direction() == ev::ACTIVITY_DIRECTION_OUTBOUND && a.kind() != ev::ACTIVITY_KIND_TASK;
        bool contact = a.direction() != ev::ACTIVITY_DIRECTION_INTERNAL && a.kind() != ev::ACTIVITY_KIND_TASK;
        if (contact) OnTouch(c, touch(r, kKind[a.kind() % 5], 0, ev::CHANNEL_PHONE, outreach));
        break;
      }
      case Event::kQuoteIssued:
      case Event::kQuoteRevised: {
        const auto& q = e.has_quote_issued() ? e.quote_issued().quote() : e.quote_revised().quote();
        RemoveClaimsOf(st, q.id());
        EvIx r = Ref(st, e, pos, q.id());
        if (!q.owner().id().empty()) st.mutable_ev(r).actor = strings.Intern(q.owner().id());
        ClaimsFromQuote(fresh, q, r, at);
        OnTouch(c, touch(r, av::TOUCH_KIND_QUOTE, ev::MESSAGE_PURPOSE_PROPOSAL, 0, false));
        break;
      }
      case Event::kQuoteWithdrawn: RemoveClaimsOf(st, e.quote_withdrawn().quote().id()); break;
      case Event::kCommitmentMade: {
        const auto& cm = e.commitment_made().commitment();
        EvIx r = Ref(st, e, pos, cm.id());
        if (!cm.made_by().id().empty()) st.mutable_ev(r).actor = strings.Intern(cm.made_by().id());
        Micros vu = cm.has_valid_until() ? ToMicros(cm.valid_until()) : at + pb->claim_validity;
        std::vector<ExtractedClaim> ex;
        if (cm.kind() == ev::COMMITMENT_KIND_FEATURE && !cm.feature().empty()) {
          ExtractedClaim x;
          x.attr = Attr::kFeature;
          x.structured = true;
          x.product = cm.product();
          // map the feature name to a catalog id when possible
          x.feature = cm.feature();
          std::vector<ExtractedClaim> probe;
          Extract(cm.feature() + " is available", "", 0, &probe);
          for (const auto& pcl : probe)
            if (pcl.attr == Attr::kFeature) x.feature = pcl.feature;
          bool future = cm.has_due_date() && cm.due_date().year() &&
                        Ymd(cm.due_date().year(), cm.due_date().month(), cm.due_date().day()) > RefYmd(at);
          x.v.avail = future ? Avail::kComing : Avail::kAvailable;
          x.v.flag = !future;
          if (future) x.detail = FormatYmd(Ymd(cm.due_date().year(), cm.due_date().month(), cm.due_date().day()));
          ex.push_back(x);
        } else if (cm.kind() == ev::COMMITMENT_KIND_DATE && cm.has_due_date() && cm.due_date().year()) {
          ExtractedClaim x;
          x.attr = Attr::kDeliveryDate;
          x.structured = true;
          x.product = cm.product();
          x.v.ymd = Ymd(cm.due_date().year(), cm.due_date().month(), cm.due_date().day());
          ex.push_back(x);
        }
        AddClaims(fresh, ex, r, SpanField::kStructured, {}, vu, "", false);
        if (cm.has_concession()) ClaimsFromOffer(fresh, cm.concession(), r, at, vu, SpanField::kConcessionText);
        ClaimsFromText(fresh, cm.text(), cm.product(), r, at, SpanField::kCommitmentText, vu);
        OnTouch(c, touch(r, av::TOUCH_KIND_COMMITMENT, 0, static_cast<uint8_t>(cm.channel()), false));
        break;
      }
      case Event::kOpportunityCreated:
      case Event::kOpportunityStageChanged: {
        const auto& o = e.has_opportunity_created() ? e.opportunity_created().opportunity() : e.opportunity_stage_changed().opportunity();
        EvIx r = Ref(st, e, pos, o.id());
        auto oit = std::find_if(st.opps.begin(), st.opps.end(), [&](const OppRec& x) { return x.id == o.id(); });
        if (IsOpenStage(o.stage())) {
          if (oit == st.opps.end()) {
            OppRec rec;
            rec.id = o.id();
            rec.ev = r;
            rec.stage = static_cast<uint8_t>(o.stage());
            rec.last_touch = at;
            FillOpp(rec, o);
            PushBounded(st.opps, std::move(rec), 4);
          } else {
            oit->stage = static_cast<uint8_t>(o.stage());
            FillOpp(*oit, o);
          }
          SetOwner(st, o.owner(), ev::TEAM_SALES);
          AdvanceStage(st, ev::LIFECYCLE_STAGE_OPPORTUNITY, r);
        } else {
          if (oit != st.opps.end()) st.opps.erase(oit);
          if (o.stage() == ev::OPPORTUNITY_STAGE_CLOSED_WON) SetStage(st, ev::LIFECYCLE_STAGE_CUSTOMER, r);
          else if (st.opps.empty() && st.stage == ev::LIFECYCLE_STAGE_OPPORTUNITY)
            SetStage(st, st.ever_customer ? ev::LIFECYCLE_STAGE_CUSTOMER : ev::LIFECYCLE_STAGE_SQL, r);
        }
        break;
      }
      case Event::kOwnerAssigned: {
        const auto& oa = e.owner_assigned();
        SetOwner(st, oa.owner(), ev::TEAM_SALES);
        if (!oa.owner().id().empty()) {
          uint32_t owner = strings.Intern(oa.owner().id());
          if (oa.record_type() == ev::OWNED_RECORD_TYPE_OPPORTUNITY)
            for (auto& o : st.opps)
              if (o.id == oa.record_id()) o.owner = owner;
          if (oa.record_type() == ev::OWNED_RECORD_TYPE_HANDOFF && st.handoff && st.handoff->handoff_id() == oa.record_id())
            st.handoff->owner = owner;
        }
        break;
      }
      default: break;
    }
    if (!fresh.empty()) {
      Finalize(fresh);
      DetectClaims(c, fresh);
    }
    Reschedule(key, st);
  }

  void Advance(Micros now, std::vector<Finding>* out, std::vector<EncodedFinding>* encoded) {
    while (!timers.empty() && timers.begin()->first <= now) {
      auto [due, key] = *timers.begin();
      timers.erase(timers.begin());
      CustomerState* st = Use(key, false);
      if (!st) continue;
      st->timer_due = 0;
      Ctx c{key, *st, now, out, encoded};
      FireTimers(c, now);
      Reschedule(key, *st);
      ParkSome();
    }
  }

  // ------------------------------------------------------------------ customer view
  void FillActor(uint32_t id, uint8_t team, ev::Actor* a) const {
    a->set_id(strings.Get(id));
    a->set_team(static_cast<ev::Team>(team));
  }

  static void FillIdentity(const IdentityView& n, ev::PersonIdentity* p) {
    p->set_email(std::string(n.email));
    p->set_phone(std::string(n.phone));
    p->set_full_name(std::string(n.name));
    p->set_company(std::string(n.company));
    p->set_website(std::string(n.domain));
  }

  void FillGroups(const CustomerState& st, av::CustomerView* v) const {
    const auto& recs = st.records;
    const size_t n = recs.size();
    MatchOptions opt{pb->name_jaro_winkler_threshold, pb->default_country_code};
    static const char* kType[] = {"record", "lead", "contact", "account"};
    // Pairwise links (at most 8 records): a contact converted from a lead, or an identity match.
    std::vector<std::vector<MatchResult>> m(n, std::vector<MatchResult>(n));
    std::vector<int> parent(n);
    for (size_t i = 0; i < n; ++i) parent[i] = static_cast<int>(i);
    auto find = [&](int x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) {
        const RecordRec &a = recs[i], &b = recs[j];
        if ((a.type == 3) != (b.type == 3)) continue;
        MatchResult r;
        auto converted = [&](const RecordRec& lead, const RecordRec& contact) {
          return lead.type == 1 && contact.type == 2 && !contact.source_lead_id.empty() &&
                 contact.source_lead_id == st.ev(lead.ev).record_id.str();
        };
        if (converted(a, b) || converted(b, a)) {
          r.matched = true;
          r.score = 1;
          r.reasons.push_back("contact converted from lead " + st.ev((a.type == 1 ? a : b).ev).record_id.str());
        } else {
          r = a.type == 3 ? MatchAccounts(a.id.view(), b.id.view(), opt) : MatchPersons(a.id.view(), b.id.view(), opt);
        }
        if (!r.matched) continue;
        m[i][j] = m[j][i] = r;
        parent[find(static_cast<int>(j))] = find(static_cast<int>(i));
      }
    // Groups in order of their oldest record (the reference, score 1).
    std::vector<int> order;
    for (size_t i = 0; i < n; ++i)
      if (find(static_cast<int>(i)) == static_cast<int>(i)) order.push_back(static_cast<int>(i));
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      Micros ta = st.ev(recs[a].ev).at, tb = st.ev(recs[b].ev).at;
      return ta < tb || (ta == tb && a < b);
    });
    for (int root : order) {
      std::vector<int> members;
      for (size_t i = 0; i < n; ++i)
        if (find(static_cast<int>(i)) == root) members.push_back(static_cast<int>(i));
      std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return st.ev(recs[a].ev).at < st.ev(recs[b].ev).at; });
      auto* g = v->add_record_groups();
      g->set_group_id("g-" + std::string(kType[recs[members[0]].type & 3]) + "-" + st.ev(recs[members[0]].ev).record_id.str());
      for (size_t k = 0; k < members.size(); ++k) {
        const RecordRec& r = recs[members[k]];
        auto* x = g->add_records();
        x->set_record_type(static_cast<av::RecordType>(r.type));
        const EvRef& re = st.ev(r.ev);
        x->set_record_id(re.record_id.str());
        x->set_team(static_cast<ev::Team>(re.team));
        FillIdentity(r.id.view(), x->mutable_identity());
        SetTimestamp(re.at, x->mutable_first_seen_at());
        if (k == 0) {
          x->set_match_score(1);
          x->add_match_reasons("reference record of the group (oldest)");
          continue;
        }
        // Why it belongs: its best link to another member of the group.
        const MatchResult* best = nullptr;
        for (int o : members)
          if (o != members[k] && m[members[k]][o].matched && (!best || m[members[k]][o].score > best->score))
            best = &m[members[k]][o];
        if (best) {
          x->set_match_score(best->score);
          for (const auto& reason : best->reasons) x->add_match_reasons(reason);
        }
      }
    }
  }

  std::optional<av::CustomerView> View(std::string_view key, uint32_t max_touches, Micros now) const {
    std::unique_ptr<CustomerState> scratch;
    const CustomerState* found = Peek(key, &scratch);
    if (!found) return std::nullopt;
    const CustomerState& st = *found;
    if (now == 0) now = st.last_event_at;
    if (max_touches == 0) max_touches = 20;
    av::CustomerView v;
    v.set_customer_key(std::string(key));
    for (const auto& a : st.alias_keys) v.add_alias_keys(a);
    v.set_display_name(st.display_name.str());
    if (key.substr(0, 7) == "domain:") v.set_domain(std::string(key.substr(7)));
    for (const auto& r : st.records)
      if (v.domain().empty() && !r.id.view().domain.empty()) v.set_domain(std::string(r.id.view().domain));
    v.set_account_id(st.account_id.str());
    for (const auto& r : st.records)
      if (v.account_id().empty() && r.type == 3) v.set_account_id(st.ev(r.ev).record_id.str());
    FillGroups(st, &v);

    v.set_lifecycle_stage(static_cast<ev::LifecycleStage>(st.stage));
    Team owning = st.stage ? pb->OwnerOf(static_cast<LifecycleStage>(st.stage)) : ev::TEAM_UNSPECIFIED;
    v.set_owning_team(owning);
    // The owning team's rep; at a shared (or unknown) stage, the sales owner if any.
    int slot = owning == ev::TEAM_MARKETING ? 0 : 1;
    if (owning == ev::TEAM_UNSPECIFIED && !st.owner[1]) slot = 0;
    if (st.owner[slot]) FillActor(st.owner[slot], slot == 0 ? ev::TEAM_MARKETING : ev::TEAM_SALES, v.mutable_owner());

    v.set_lead_score(st.lead_score);
    for (const auto& r : st.score_reasons) {
      auto* x = v.add_score_reasons();
      x->set_code(strings.Get(r.code));
      x->set_points(r.points);
    }
    if (st.scored_at) SetTimestamp(st.scored_at, v.mutable_scored_at());

    if (st.handoff) {
      const auto& h = *st.handoff;
      auto* x = v.mutable_handoff();
      x->set_handoff_id(std::string(h.handoff_id()));
      x->set_lead_id(std::string(h.lead_id()));
      x->set_status(h.rejected   ? ev::HANDOFF_STATUS_REJECTED
                    : h.accepted ? ev::HANDOFF_STATUS_ACCEPTED
                                 : ev::HANDOFF_STATUS_PENDING);
      SetTimestamp(h.handed_off_at, x->mutable_handed_off_at());
      SetTimestamp(h.accept_due, x->mutable_sla_due_at());
      if (h.accepted && h.accepted_at) SetTimestamp(h.accepted_at, x->mutable_accepted_at());
      if (h.first_touch_at) SetTimestamp(h.first_touch_at, x->mutable_first_touch_at());
      x->set_sla_breached(h.accept_fired || h.touch_fired);
      if (h.owner) FillActor(h.owner, ev::TEAM_SALES, x->mutable_owner());
    }

    for (const auto& o : st.opps) {
      auto* x = v.add_open_opportunities();
      x->set_opportunity_id(o.id);
      x->set_name(o.name);
      x->set_stage(static_cast<ev::OpportunityStage>(o.stage));
      if (o.currency[0] || o.amount_micros) {
        x->mutable_amount()->set_currency_code(o.currency);
        x->mutable_amount()->set_units(o.amount_micros / 1'000'000);
        x->mutable_amount()->set_nanos(static_cast<int32_t>((o.amount_micros % 1'000'000) * 1000));
      }
      if (o.close_ymd) {
        x->mutable_close_date()->set_year(o.close_ymd / 10000);
        x->mutable_close_date()->set_month((o.close_ymd / 100) % 100);
        x->mutable_close_date()->set_day(o.close_ymd % 100);
      }
      if (o.owner) FillActor(o.owner, ev::TEAM_SALES, x->mutable_owner());
      if (o.last_touch) SetTimestamp(o.last_touch, x->mutable_last_touch_at());
    }

    // Touches, newest first (the state keeps them oldest first, by arrival).
    std::vector<const TouchRec*> touches;
    for (const auto& t : st.touches) touches.push_back(&t);
    std::stable_sort(touches.begin(), touches.end(), [&](const TouchRec* a, const TouchRec* b) { return st.ev(a->ev).at > st.ev(b->ev).at; });
    Micros last_touch = 0;
    for (const TouchRec* t : touches) {
      const EvRef& te = st.ev(t->ev);
      last_touch = std::max(last_touch, te.at);
      if (static_cast<uint32_t>(v.recent_touches_size()) >= max_touches) continue;
      auto* x = v.add_recent_touches();
      x->set_event_id(te.event_id.str());
      x->set_team(static_cast<ev::Team>(te.team));
      FillActor(te.actor, te.team, x->mutable_actor());
      x->set_kind(static_cast<av::TouchKind>(t->kind));
      x->set_channel(static_cast<ev::Channel>(t->channel));
      x->set_purpose(static_cast<ev::MessagePurpose>(t->purpose));
      // The state keeps no subject: a synthesized one-liner.
      std::string summary = std::string(TeamTitle(te.team)) + " " + TouchKindName(t->kind);
      if (t->purpose) summary += std::string(" (") + PurposeName(t->purpose) + ")";
      if (!te.record_id.empty()) summary += " " + te.record_id.str();
      if (te.actor) summary += " by " + strings.Get(te.actor);
      if (summary.size() > 200) summary.resize(200);
      x->set_summary(std::move(summary));
      x->set_record_id(te.record_id.str());
      x->set_campaign_id(strings.Get(t->campaign));
      SetTimestamp(te.at, x->mutable_occurred_at());
    }

    for (const auto& c : st.claims) {
      if (c.valid_until < now) continue;
      auto* x = v.add_live_claims();
      const EvRef& r = st.ev(c.ev);
      x->set_id(r.event_id.str() + "#" + std::to_string(c.index));
      x->set_customer_key(std::string(key));
      x->set_product(strings.Get(c.product));
      x->set_feature(strings.Get(c.feature));
      x->set_attribute(static_cast<av::ClaimAttribute>(c.attr));
      FillValue(c, x->mutable_value());
      x->set_source_event_id(r.event_id.str());
      x->set_source_event_type(EventType(r.team, r.payload));
      x->set_team(static_cast<ev::Team>(r.team));
      FillActor(r.actor, r.team, x->mutable_actor());
      x->set_origin(c.structured ? av::CLAIM_ORIGIN_STRUCTURED : av::CLAIM_ORIGIN_FREE_TEXT);
      auto* sp = x->mutable_span();
      sp->set_field(SpanFieldPath(c.field, r.payload));
      if (!c.structured) {
        sp->set_text(std::string(c.text.span_text()));
        sp->set_begin(c.text.begin());
        sp->set_end(c.text.end());
      }
      SetTimestamp(r.at, x->mutable_made_at());
      SetTimestamp(c.valid_until, x->mutable_valid_until());
      x->set_confidence(c.text.confidence());
      if (r.offset >= 0) {
        x->mutable_source()->set_topic(strings.Get(r.topic));
        x->mutable_source()->set_partition(r.partition);
        x->mutable_source()->set_offset(r.offset);
      }
    }

    if (st.first_event_at) SetTimestamp(st.first_event_at, v.mutable_first_seen_at());
    if (last_touch) SetTimestamp(last_touch, v.mutable_last_touch_at());
    if (st.last_event_at) SetTimestamp(st.last_event_at, v.mutable_as_of());
    return v;
  }

  // ------------------------------------------------------------------ scorecard activity
  static bool InDays(int32_t day, Micros start, Micros end) {
    Micros midnight = static_cast<Micros>(day) * kDay;
    return midnight >= start && midnight < end;
  }

  ActivitySummary TeamActivity(Team team, Micros start, Micros end) const {
    int scope = team == ev::TEAM_UNSPECIFIED ? 0 : ScopeOf(static_cast<uint8_t>(team));
    ActivitySummary out;
    if (scope < 0) return out;
    std::map<uint16_t, uint64_t> hist;
    for (auto it = activity.lower_bound(DayOf(start)); it != activity.end() && static_cast<Micros>(it->first) * kDay < end; ++it) {
      if (!InDays(it->first, start, end)) continue;
      const DayActivity& d = it->second[scope];
      out.touches += d.touches;
      out.customers_touched += d.customers;
      out.claims += d.claims;
      out.handoffs_due += d.due;
      out.handoffs_within_sla += d.within;
      out.handoffs_accepted += d.accepted;
      for (const auto& [b, c] : d.tta) hist[b] += c;
    }
    out.median_time_to_accept = HistMedian(hist);
    return out;
  }

  bool InSegment(const CustomerState& st, const ev::SegmentCriteria& c) const { return InSegment(Summary(st), c); }
  bool InSegment(const ColdStore::Summary& st, const ev::SegmentCriteria& c) const {
    auto any = [&](const auto& list, uint32_t value) {
      if (list.empty()) return true;
      const std::string& v = strings.Get(value);
      for (const auto& x : list)
        if (!v.empty() && absl::EqualsIgnoreCase(x, v)) return true;
      return false;
    };
    if (!any(c.industries(), st.industry) || !any(c.regions(), st.region) || !any(c.countries(), st.country)) return false;
    if (c.lifecycle_stages().empty()) return true;
    for (int s : c.lifecycle_stages())
      if (s == st.stage) return true;
    return false;
  }

  ActivitySummary SegmentActivity(const ev::Segment& seg, Micros start, Micros end) const {
    ActivitySummary out;
    std::vector<Micros> samples;
    auto in = [&](Micros t) { return t >= start && t < end; };
    auto add = [&](const CustomerState& st) {
      std::set<int32_t> days;
      for (const auto& t : st.touches)
        if (in(st.ev(t.ev).at)) {
          ++out.touches;
          days.insert(DayOf(st.ev(t.ev).at));
        }
      out.customers_touched += days.size();
      for (const auto& c : st.claims) out.claims += in(st.ev(c.ev).at);
      if (st.handoff) {
        const auto& h = *st.handoff;
        if (h.counted && in(h.accept_due) && !(h.rejected && !h.accept_fired)) {
          ++out.handoffs_due;
          out.handoffs_within_sla += !h.accept_fired;
        }
        if (h.accepted && h.accepted_at && in(h.accepted_at)) {
          ++out.handoffs_accepted;
          samples.push_back(std::max<Micros>(0, h.accepted_at - h.handed_off_at));
        }
      }
    };
    if (seg.has_customers()) {
      std::set<std::string_view> seen;
      for (const auto& k : seg.customers().customer_keys()) {
        if (!seen.insert(k).second) continue;
        std::unique_ptr<CustomerState> scratch;
        if (const CustomerState* st = Peek(k, &scratch)) add(*st);
      }
    } else if (seg.has_criteria()) {
      for (const auto& st : customers)
        if (InSegment(*st, seg.criteria())) add(*st);
      cold.ForEach([&](const ColdStore::Entry& e) {  // only those in the segment are decoded
        if (InSegment(e.summary, seg.criteria())) add(*DecodeCold(e));
      });
    }
    if (!samples.empty()) {
      std::sort(samples.begin(), samples.end());
      size_t n = samples.size();
      out.median_time_to_accept = (samples[(n - 1) / 2] + samples[n / 2]) / 2;
    }
    return out;
  }

  std::string EncodeActivity() const {
    Writer w;
    w.U(1);  // format
    w.U(activity.size());
    for (const auto& [day, scopes] : activity) {
      w.I(day);
      for (const auto& d : scopes) {
        w.U(d.touches);
        w.U(d.customers);
        w.U(d.claims);
        w.U(d.due);
        w.U(d.within);
        w.U(d.accepted);
        w.U(d.tta.size());
        for (const auto& [b, c] : d.tta) {
          w.U(b);
          w.U(c);
        }
      }
    }
    return w.Take();
  }

  bool DecodeActivity(std::string_view bytes) {
    Reader r(bytes);
    if (r.U() != 1) return false;
    std::map<int32_t, DayActivities> out;
    uint64_t days = r.U();
    if (days > kMaxActivityDays) return false;
    for (uint64_t i = 0; i < days && r.ok(); ++i) {
      auto& scopes = out[static_cast<int32_t>(r.I())];
      for (auto& d : scopes) {
        d.touches = r.U();
        d.customers = r.U();
        d.claims = r.U();
        d.due = r.U();
        d.within = r.U();
        d.accepted = r.U();
        uint64_t n = r.U();
        if (n > 65536) return false;
        for (uint64_t j = 0; j < n && r.ok(); ++j) {
          uint16_t b = static_cast<uint16_t>(r.U());
          uint32_t c = static_cast<uint32_t>(r.U());
          d.tta.push_back({b, c});
        }
        std::sort(d.tta.begin(), d.tta.end());
      }
    }
    if (!r.ok() || !r.done()) return false;
    activity = std::move(out);
    return true;
  }
};

Engine::Engine(Playbook playbook) : impl_(std::make_unique<Impl>(std::move(playbook))) {}
Engine::~Engine() = default;

std::vector<Finding> Engine::Process(const Event& event, const SourcePosition& pos) {
  return impl_->Process(event, pos, std::nullopt);
}
std::vector<Finding> Engine::Process(const Event& event, const SourcePosition& pos, Micros now) {
  return impl_->Process(event, pos, now);
}
std::vector<Finding> Engine::Process(const Event& event, const concord::alignment::v1::SourcePosition& pos) {
  return impl_->Process(event, SourcePosition{pos.topic(), pos.partition(), pos.offset()}, std::nullopt);
}
std::vector<Finding> Engine::AdvanceTime(Micros now) {
  std::vector<Finding> out;
  impl_->Advance(now, &out, nullptr);
  return out;
}
void Engine::ProcessEncoded(const Event& event, const SourcePosition& pos, Micros now, std::vector<EncodedFinding>* out) {
  impl_->Process(event, pos, now, nullptr, out);
}
void Engine::AdvanceTimeEncoded(Micros now, std::vector<EncodedFinding>* out) { impl_->Advance(now, nullptr, out); }
void SetDetection(EncodedFinding* f, Micros detected_at, Micros detection_latency) {
  std::string times;
  Wire w(&times);
  WireTimes(w, detected_at, f->first_evidence_at, f->last_evidence_at, detection_latency);
  f->bytes.replace(f->times_begin, f->times_end - f->times_begin, times);
  f->times_end = f->times_begin + times.size();
}

EncodedFinding ToEncoded(const Finding& f) {
  using protoutil::SerializeDeterministic;
  EncodedFinding out;
  out.id = f.id();
  out.customer_key = f.customer_key();
  out.type = f.type();
  out.first_evidence_at = ToMicros(f.first_evidence_at());
  out.last_evidence_at = ToMicros(f.last_evidence_at());
  out.complete_at = ToMicros(f.detected_at()) - (f.detection_latency().seconds() * kSecond + f.detection_latency().nanos() / 1000);
  out.bytes = SerializeDeterministic(f);
  // Fields are written in number order: fields 1-16 end where 17-21 begin, and 1-12 where
  // 13-16 begin.
  Finding prefix = f;
  prefix.clear_playbook_version();
  prefix.clear_playbook_rule();
  prefix.clear_status_history();
  prefix.clear_updated_at();
  prefix.clear_details();
  out.times_end = SerializeDeterministic(prefix).size();
  prefix.clear_detected_at();
  prefix.clear_first_evidence_at();
  prefix.clear_last_evidence_at();
  prefix.clear_detection_latency();
  out.times_begin = SerializeDeterministic(prefix).size();
  return out;
}

Micros Engine::NextTimer() const { return impl_->timers.empty() ? 0 : impl_->timers.begin()->first; }

std::string Engine::SerializeCustomer(std::string_view key) const {
  if (const CustomerState* st = impl_->FindCustomer(key)) return EncodeState(*st, impl_->strings);
  std::string bytes;
  if (const ColdStore::Entry* e = impl_->cold.Find(key)) impl_->cold.Checkpoint(*e, &bytes);
  return bytes;
}

bool Engine::RestoreCustomer(std::string_view key, std::string_view bytes, int32_t partition) {
  auto st = std::make_unique<CustomerState>();
  if (!DecodeState(bytes, st.get(), &impl_->strings)) return false;
  EraseCustomer(key);
  st->key = key;
  st->timer_due = 0;
  st->partition = PackPartition(partition);
  impl_->Reschedule(std::string(key), *st);
  // With the decoded customers at the limit (a restart restoring a whole partition), a
  // checkpoint of the current format goes cold as it is: re-encoding it would give the same bytes.
  if (impl_->max_hot && impl_->customers.size() >= impl_->max_hot && !bytes.empty() &&
      static_cast<uint8_t>(bytes[0]) == kStateFormat) {
    impl_->cold.Put(key, st->timer_due, bytes, Impl::Summary(*st));
    return true;
  }
  CustomerState& placed = **impl_->customers.insert(std::move(st)).first;
  impl_->MarkUsed(placed);
  impl_->ParkSome();
  return true;
}

void Engine::EraseCustomer(std::string_view key) {
  if (auto it = impl_->customers.find(key); it != impl_->customers.end()) {
    if ((*it)->timer_due) impl_->EraseTimer((*it)->timer_due, key);
    impl_->customers.erase(it);
  } else if (Micros due = 0; impl_->cold.Erase(key, &due)) {
    if (due) impl_->EraseTimer(due, key);
  }
}

int32_t Engine::CustomerPartition(std::string_view key) const {
  if (const CustomerState* st = impl_->FindCustomer(key)) return UnpackPartition(st->partition);
  if (const ColdStore::Entry* e = impl_->cold.Find(key)) return UnpackPartition(e->summary.partition);
  return -1;
}

size_t Engine::EraseCustomersOf(absl::FunctionRef<bool(int32_t partition)> of) {
  std::vector<std::string> keys;
  for (const auto& st : impl_->customers)
    if (of(UnpackPartition(st->partition))) keys.push_back(st->key.str());
  impl_->cold.ForEach([&](const ColdStore::Entry& e) {
    if (of(UnpackPartition(e.summary.partition))) keys.emplace_back(e.key());
  });
  for (const auto& key : keys) EraseCustomer(key);
  return keys.size();
}

std::vector<std::string> Engine::CustomerKeys() const {
  std::vector<std::string> keys;
  keys.reserve(customers());
  for (const auto& st : impl_->customers) keys.push_back(st->key.str());
  impl_->cold.ForEach([&](const ColdStore::Entry& e) { keys.emplace_back(e.key()); });
  std::sort(keys.begin(), keys.end());
  return keys;
}

size_t Engine::customers() const { return impl_->customers.size() + impl_->cold.size(); }
size_t Engine::cold_customers() const { return impl_->cold.size(); }
size_t Engine::cold_bytes() const { return impl_->cold.stored_bytes(); }
void Engine::FinishColdTraining() { impl_->cold.WaitForTraining(); }

void Engine::SetMaxHotCustomers(size_t n) {
  impl_->max_hot = n;
  impl_->ParkColdest(Impl::kParkPerCall);
}
bool Engine::ChooseIdleCustomers() {
  impl_->ChooseIdle();
  return impl_->to_park_at < impl_->to_park.size() || impl_->cold.CompressSome(0);
}
bool Engine::ParkChosen(size_t n) {
  if (impl_->ParkColdest(n)) return true;
  return impl_->cold.CompressSome(n);  // then what was stored before the first dictionary
}

std::optional<av::CustomerView> Engine::CustomerView(std::string_view customer_key, uint32_t max_touches, Micros now) const {
  return impl_->View(customer_key, max_touches, now);
}
ActivitySummary Engine::ScorecardActivity(Team team, Micros start, Micros end) const {
  return impl_->TeamActivity(team, start, end);
}
ActivitySummary Engine::ScorecardActivity(const ev::Segment& segment, Micros start, Micros end) const {
  return impl_->SegmentActivity(segment, start, end);
}
std::string Engine::SerializeActivity() const { return impl_->EncodeActivity(); }
bool Engine::RestoreActivity(std::string_view bytes) { return impl_->DecodeActivity(bytes); }

size_t Engine::ApproxMemoryBytes() const {
  size_t n = impl_->strings.ApproxBytes() + impl_->timers.size() * 60 + impl_->activity.size() * (sizeof(DayActivities) + 48);
  // Per customer: its slot (pointer + control byte, at ~60% load) and state (the key's block included).
  for (const auto& st : impl_->customers) n += 16 + st->ApproxBytes();
  n += impl_->cold.ApproxBytes();
  return n;
}

void Engine::ReplacePlaybook(Playbook playbook) {
  impl_->SetPlaybook(std::move(playbook));
  // windows / SLAs changed: recompute every timer
  impl_->timers.clear();
  for (auto& st : impl_->customers) {
    st->timer_due = 0;
    impl_->Reschedule(st->key.str(), *st);
  }
  impl_->cold.ForEach([&](ColdStore::Entry& e) {  // decoded aside to find their timers; they stay cold
    auto st = impl_->DecodeCold(e);
    st->timer_due = 0;
    impl_->Reschedule(std::string(e.key()), *st);
    e.timer_due = st->timer_due;
  });
}
const Playbook& Engine::playbook() const { return *impl_->pb; }
const EngineStats& Engine::stats() const { return impl_->stats; }

}  // namespace concord::alignment::engine
