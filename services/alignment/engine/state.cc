#include "services/alignment/engine/state.h"

#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace concord::alignment::engine {

namespace {
// 1: the original layout. 2: + customer view and scorecard fields (touch campaign, hand-off
// lead/times/owner/counted, opportunity name/owner/amount/close date, and the customer-level
// block at the end). 3: the raised-findings list holds raise keys, oldest first, followed by
// the count of leading legacy entries (format 2: a ring of Hash64(finding id) and its write
// position). 4: the same fields, denser (EncodeState). 5: as 4, but the dedupe ring holds
// DedupeKeys (util.h), and an entry that is the key of an event in the table is written as that
// event's position (one byte instead of eight random ones that no compression shrinks); the
// ring of an older format is converted as it is read (ConvertLegacyRing). DecodeState reads 1
// to 5; EncodeState writes 5.
constexpr uint64_t kFormat = kStateFormat;

size_t StrBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

EvIx GetEv(Reader& rd, CustomerState* s, Interner* in) {
  EvRef ev;
  EvRef* r = &ev;
  r->event_id.Set(rd.S());
  r->record_id.Set(rd.S());
  r->at = rd.I();
  r->offset = rd.I();
  r->partition = static_cast<int32_t>(rd.I());
  r->topic = in->Intern(rd.S());
  r->actor = in->Intern(rd.S());
  r->team = static_cast<uint8_t>(rd.U());
  r->payload = static_cast<uint8_t>(rd.U());
  return s->AddDecodedEv(std::move(ev));
}
void PutId(Writer& w, const PackedIdentity& p) {
  IdentityView n = p.view();
  w.S(n.email);
  w.S(n.phone);
  w.S(n.name);
  w.S(n.domain);
  w.S(n.company);
}
void GetId(Reader& r, PackedIdentity* p) {
  NormalizedIdentity n;
  n.email = r.S();
  n.phone = r.S();
  n.name = r.S();
  n.domain = r.S();
  n.company = r.S();
  *p = PackedIdentity(n);
}
bool SameEv(const EvRef& a, const EvRef& b) {
  return a.event_id == b.event_id && a.record_id == b.record_id && a.team == b.team && a.payload == b.payload &&
         a.partition == b.partition && a.topic == b.topic && a.actor == b.actor && a.at == b.at && a.offset == b.offset;
}
}  // namespace

EvIx CustomerState::AddEv(EvRef r) {
  // A small table just grows: collecting it would chase every record's block for at most a
  // few dead 64-byte entries (a customer's first events are all still referred to).
  constexpr size_t kCollectFrom = 8;
  if (events.size() == events.capacity() && events.size() >= kCollectFrom) {
    // Full: keep the events something refers to, in order, and renumber the references.
    absl::InlinedVector<EvIx, 64> map(events.size(), kNoEv);
    ForEachEvRef([&](EvIx i) {
      if (i != kNoEv) map[i] = 0;
    });
    EvIx live = 0;
    for (size_t i = 0; i < map.size(); ++i) {
      if (map[i] == kNoEv) continue;
      if (live != i) events[live] = std::move(events[i]);
      map[i] = live++;
    }
    if (live < events.size()) {
      events.erase(events.begin() + live, events.end());
      ForEachEvRef([&](EvIx& i) {
        if (i != kNoEv) i = map[i];
      });
    }
  }
  // Grows by half (at least two entries): growing by two copied the whole table every second
  // event (~8% of the engine's time, page faults included). Only decoded customers keep the
  // spare room (a cold one is its checkpoint): no measurable change in live bytes per customer.
  if (events.size() == events.capacity())
    events.reserve(std::min(events.size() + std::max<size_t>(2, events.size() / 2), CompactVec<EvRef>::kMaxSize - 1));
  if (events.size() >= CompactVec<EvRef>::kMaxSize - 1) throw std::length_error("event table");
  events.push_back(std::move(r));
  return static_cast<EvIx>(events.size() - 1);
}

EvIx CustomerState::AddDecodedEv(EvRef r) {
  // Sharing only saves memory: look back a bounded window (a claim's event is among the last
  // touches), so that a checkpoint with thousands of entries does not decode in quadratic time.
  for (size_t i = events.size(), stop = events.size() > 256 ? events.size() - 256 : 0; i-- > stop;)
    if (SameEv(events[i], r)) return static_cast<EvIx>(i);
  if (events.size() >= CompactVec<EvRef>::kMaxSize - 1) throw std::length_error("event table");
  if (events.size() == events.capacity()) events.reserve(events.size() + 2);
  events.push_back(std::move(r));
  return static_cast<EvIx>(events.size() - 1);
}

size_t CustomerState::ApproxBytes() const {
  size_t n = sizeof(CustomerState) + key.HeapBytes();
  n += events.capacity() * sizeof(EvRef) + touches.capacity() * sizeof(TouchRec);
  for (const auto& e : events) n += e.record_id.HeapBytes();
  n += claims.capacity() * sizeof(StoredClaim);
  for (const auto& c : claims) n += c.text.HeapBytes();
  n += records.capacity() * sizeof(RecordRec);
  n += score_reasons.capacity() * sizeof(ScoreReasonRec) + display_name.HeapBytes() + account_id.HeapBytes();
  n += alias_keys.capacity() * sizeof(std::string);
  for (const auto& k : alias_keys) n += StrBytes(k);
  for (const auto& o : opps) n += StrBytes(o.name) + StrBytes(o.id);
  if (handoff) n += sizeof(HandoffRec) + handoff->ids.HeapBytes();
  for (const auto& r : records) n += r.id.HeapBytes() + r.source_lead_id.HeapBytes();
  n += opps.capacity() * sizeof(OppRec);
  n += (seen.capacity() + emitted.capacity()) * 8 + suppress.capacity() * sizeof(Suppress);
  return n;
}

namespace {

// Format 4: every field of format 3, about a third of its size and faster to write and read.
//  * Each event is written once, in a table after the header, and everything that refers to
//    one writes its position (format 3 wrote the whole event at each reference: a message's
//    touch and each of its claims).
//  * Interned strings (topics, actors, products, owners, codes) are written once per
//    checkpoint, then by position; UUIDs as their 16 bytes.
//  * Times relative to the customer's last event (a few bytes instead of eight); hashes in 8
//    fixed bytes (their varints take 10); a claim's fields only when they are not default.
constexpr uint64_t kStrEmpty = 0, kStrNew = 1;        // then k >= 2: the (k-2)th string written
constexpr uint64_t kTimeZero = 0, kTimeUnset = 1;     // 0 and -1; then 2 + zig-zag(t - base)

// Claim fields present (the mask after a claim's fixed fields).
constexpr uint32_t kStructured = 1u << 0, kNewCustomersOnly = 1u << 1, kFlag = 1u << 2, kProduct = 1u << 3,
                   kFeature = 1u << 4, kMicros = 1u << 5, kCurrency = 1u << 6, kPeriod = 1u << 7, kQty = 1u << 8,
                   kYmd = 1u << 9, kAvail = 1u << 10, kDetail = 1u << 11, kSpanText = 1u << 12, kSpan = 1u << 13,
                   kValidUntil = 1u << 14, kConfidence = 1u << 15, kOfferCode = 1u << 16, kAllClaimBits = (1u << 17) - 1;

std::string_view Currency(const char (&c)[4]) { return {c, strnlen(c, 3)}; }
void SetCurrency(std::string_view v, char (&c)[4]) {
  std::memset(c, 0, 4);
  if (!v.empty()) std::memcpy(c, v.data(), std::min<size_t>(v.size(), 3));
}

// Formats 4 and 5 (they differ only in the dedupe ring).
class Encoder4 {
 public:
  Encoder4(const CustomerState& s, const Interner& in, Writer& w) : s_(s), in_(in), w_(w), pos_(s.events.size(), kNoEv) {}

  void Run() {
    w_.U(kFormat);
    base_ = s_.last_event_at;
    w_.I(base_);
    // The table: the events something refers to, in table order.
    s_.ForEachEvRef([&](EvIx i) {
      if (i != kNoEv) pos_[i] = 0;
    });
    EvIx n = 0;
    for (auto& p : pos_)
      if (p != kNoEv) p = n++;
    w_.U(n);
    for (size_t i = 0; i < pos_.size(); ++i)
      if (pos_[i] != kNoEv) Event(s_.events[i]);

    w_.U(s_.stage);
    w_.U(s_.has_stage_ev | s_.ever_customer << 1);
    Ref(s_.stage_ev);
    Time(s_.last_handoff_accept_at);
    w_.U(s_.touches.size());
    for (const auto& t : s_.touches) {
      Ref(t.ev);
      w_.U(t.kind);
      w_.U(t.purpose);
      w_.U(t.channel);
      w_.U(t.outreach);
      Str(t.campaign);
    }
    w_.U(s_.claims.size());
    for (const auto& c : s_.claims) Claim(c);
    w_.U(s_.records.size());
    for (const auto& r : s_.records) {
      Ref(r.ev);
      w_.U(r.type);
      w_.S(r.source_lead_id);
      PutId(w_, r.id);
    }
    w_.U(s_.handoff != nullptr);
    if (const HandoffRec* h = s_.handoff.get()) {
      Ref(h->ev);
      Ref(h->accept_ev);
      w_.S(h->handoff_id());
      w_.S(h->lead_id());
      w_.U(h->accepted | h->rejected << 1 | h->touched << 2 | h->accept_fired << 3 | h->touch_fired << 4 |
           h->counted << 5);
      Time(h->accept_due);
      Time(h->touch_due);
      Time(h->handed_off_at);
      Time(h->accepted_at);
      Time(h->first_touch_at);
      Str(h->owner);
    }
    w_.U(s_.opps.size());
    for (const auto& o : s_.opps) {
      w_.S(o.id);
      Ref(o.ev);
      Ref(o.last_touch_ev);
      w_.U(o.stage);
      w_.U(o.has_touch_ev | o.stalled_fired << 1);
      Time(o.last_touch);
      w_.S(o.name);
      Str(o.owner);
      w_.I(o.amount_micros);
      w_.S(Currency(o.currency));
      w_.I(o.close_ymd);
    }
    Seen();
    w_.U(s_.seen_pos);
    w_.U(s_.emitted.size());
    for (uint64_t h : s_.emitted) w_.Fixed64(h);
    w_.U(s_.emitted_legacy);
    w_.U(s_.suppress.size());
    for (const auto& x : s_.suppress) {
      w_.Fixed64(x.key);
      Time(x.until);
    }
    Time(s_.first_event_at);
    Str(s_.owner[0]);
    Str(s_.owner[1]);
    w_.U(s_.lead_score);
    Time(s_.scored_at);
    w_.U(s_.score_reasons.size());
    for (const auto& x : s_.score_reasons) {
      Str(x.code);
      w_.I(x.points);
    }
    w_.S(s_.display_name);
    w_.S(s_.account_id);
    Str(s_.industry);
    Str(s_.region);
    Str(s_.country);
    w_.U(s_.alias_keys.size());
    for (const auto& k : s_.alias_keys) w_.S(k);
    for (int32_t d : s_.touch_day) w_.I(d);
  }

 private:
  void Event(const EvRef& r) {
    r.event_id.Encode(w_);
    r.record_id.Encode(w_);
    Time(r.at);
    w_.I(r.offset);
    w_.I(r.partition);
    Str(r.topic);
    Str(r.actor);
    w_.U(r.team);
    w_.U(r.payload);
  }
  void Claim(const StoredClaim& c) {
    const ClaimText& t = c.text;
    auto bit = [](bool set, uint32_t b) { return set ? b : 0u; };
    const uint32_t bits =
        bit(c.structured, kStructured) | bit(c.new_customers_only, kNewCustomersOnly) | bit(c.v.flag, kFlag) |
        bit(c.product, kProduct) | bit(c.feature, kFeature) | bit(c.v.micros, kMicros) |
        bit(c.v.currency[0], kCurrency) | bit(c.v.period, kPeriod) | bit(std::bit_cast<uint64_t>(c.v.qty), kQty) | bit(c.v.ymd, kYmd) |
        bit(c.v.avail != Avail::kAvailable, kAvail) | bit(!t.detail().empty(), kDetail) |
        bit(!t.span_text().empty(), kSpanText) | bit(t.begin() || t.end(), kSpan) | bit(c.valid_until, kValidUntil) |
        bit(std::bit_cast<uint32_t>(t.confidence()) != std::bit_cast<uint32_t>(1.0f), kConfidence) | bit(!t.offer_code().empty(), kOfferCode);
    Ref(c.ev);
    w_.U(c.index);
    w_.U(static_cast<uint8_t>(c.attr));
    w_.U(static_cast<uint8_t>(c.field));
    w_.U(bits);
    if (bits & kProduct) Str(c.product);
    if (bits & kFeature) Str(c.feature);
    if (bits & kMicros) w_.I(c.v.micros);
    if (bits & kCurrency) w_.S(Currency(c.v.currency));
    if (bits & kPeriod) w_.U(c.v.period);
    if (bits & kQty) w_.Fixed64(std::bit_cast<uint64_t>(c.v.qty));
    if (bits & kYmd) w_.I(c.v.ymd);
    if (bits & kAvail) w_.U(static_cast<uint8_t>(c.v.avail));
    if (bits & kDetail) w_.S(t.detail());
    if (bits & kSpanText) w_.S(t.span_text());
    if (bits & kSpan) {
      w_.U(t.begin());
      w_.U(t.end());
    }
    if (bits & kValidUntil) Time(c.valid_until);
    if (bits & kConfidence) w_.Fixed32(std::bit_cast<uint32_t>(t.confidence()));
    if (bits & kOfferCode) w_.S(t.offer_code());
  }
  void Ref(EvIx i) { w_.U(i == kNoEv ? 0 : pos_[i] + 1u); }
  // Each entry: the position + 1 of a written event whose DedupeKey it is, else 0 and the entry.
  void Seen() {
    w_.U(s_.seen.size());
    if (s_.seen.empty()) return;
    absl::InlinedVector<std::pair<uint64_t, uint32_t>, 32> by_key;  // (DedupeKey of the id, position)
    for (size_t i = 0; i < pos_.size(); ++i)
      if (pos_[i] != kNoEv) by_key.emplace_back(s_.events[i].event_id.DedupeKey(), pos_[i]);
    // A customer's table is short (tens of events): scan it; sort only a long one.
    const bool sorted = by_key.size() > 32;
    if (sorted) std::sort(by_key.begin(), by_key.end());
    for (uint64_t h : s_.seen) {
      auto it = sorted ? std::lower_bound(by_key.begin(), by_key.end(), std::pair<uint64_t, uint32_t>{h, 0})
                       : std::find_if(by_key.begin(), by_key.end(), [h](const auto& x) { return x.first == h; });
      if (it != by_key.end() && it->first == h) {
        w_.U(it->second + 1u);
      } else {
        w_.U(0);
        w_.Fixed64(h);
      }
    }
  }
  void Time(Micros t) {
    if (t == 0) return w_.U(kTimeZero);
    if (t == -1) return w_.U(kTimeUnset);
    // Unsigned: a difference of two times never overflows (a wrapped one still round-trips).
    w_.U(2 + ZigZag(static_cast<int64_t>(static_cast<uint64_t>(t) - static_cast<uint64_t>(base_))));
  }
  void Str(uint32_t id) {
    if (id == 0) return w_.U(kStrEmpty);  // the engine interns "" first
    for (size_t k = 0; k < written_.size(); ++k)
      if (written_[k] == id) return w_.U(2 + k);
    written_.push_back(id);
    w_.U(kStrNew);
    w_.S(in_.Get(id));
  }

  const CustomerState& s_;
  const Interner& in_;
  Writer& w_;
  Micros base_ = 0;
  absl::InlinedVector<EvIx, 32> pos_;  // table index -> position written (kNoEv: not written)
  absl::InlinedVector<uint32_t, 16> written_;  // interned ids, in the order written
};

}  // namespace

std::string EncodeState(const CustomerState& s, const Interner& in) {
  // Usually one allocation: ~110 bytes per event in the table covers the rest of the state
  // too (981 B for 9 events in engine_bench), without walking every block to measure it.
  Writer w(128 + 112 * s.events.size());
  Encoder4(s, in, w).Run();
  return w.Take();
}

namespace {

// Formats 4 and 5 (version: which of the two).
class Decoder4 {
 public:
  Decoder4(Reader& r, uint64_t version, CustomerState* s, Interner* in)
      : r_(r), s_(*s), in_(*in), empty_(in->Intern("")), seen_refs_(version >= 5) {}

  bool Run() {
    base_ = r_.I();
    s_.last_event_at = base_;
    const uint64_t n = r_.U();
    if (n >= CompactVec<EvRef>::kMaxSize) return false;
    s_.events.reserve(std::min<uint64_t>(n, r_.left() / 8));  // an event takes at least 8 bytes
    for (uint64_t i = 0; i < n && r_.ok(); ++i) {
      EvRef e;
      if (!e.event_id.Decode(r_) || !e.record_id.Decode(r_)) return false;
      e.at = Time();
      e.offset = r_.I();
      e.partition = static_cast<int32_t>(r_.I());
      e.topic = Str();
      e.actor = Str();
      e.team = static_cast<uint8_t>(r_.U());
      e.payload = static_cast<uint8_t>(r_.U());
      s_.events.push_back(std::move(e));
    }
    s_.stage = static_cast<uint8_t>(r_.U());
    const uint64_t f = r_.U();
    s_.has_stage_ev = f & 1;
    s_.ever_customer = f & 2;
    s_.stage_ev = Ref();
    s_.last_handoff_accept_at = Time();
    for (uint64_t k = Count(4096), i = 0; i < k && r_.ok(); ++i) {
      TouchRec t;
      t.ev = Ref();
      t.kind = static_cast<uint8_t>(r_.U());
      t.purpose = static_cast<uint8_t>(r_.U());
      t.channel = static_cast<uint8_t>(r_.U());
      t.outreach = r_.U();
      t.campaign = Str();
      s_.touches.push_back(t);
    }
    for (uint64_t k = Count(4096), i = 0; i < k && r_.ok(); ++i) Claim();
    for (uint64_t k = Count(4096), i = 0; i < k && r_.ok(); ++i) {
      RecordRec x;
      x.ev = Ref();
      x.type = static_cast<uint8_t>(r_.U());
      x.source_lead_id = r_.View();
      GetId(r_, &x.id);
      s_.records.push_back(std::move(x));
    }
    if (r_.U()) {
      auto h = std::make_unique<HandoffRec>();
      h->ev = Ref();
      h->accept_ev = Ref();
      std::string_view handoff_id = r_.View(), lead_id = r_.View();
      h->ids = CompactPair(handoff_id, lead_id);
      const uint64_t b = r_.U();
      h->accepted = b & 1;
      h->rejected = b & 2;
      h->touched = b & 4;
      h->accept_fired = b & 8;
      h->touch_fired = b & 16;
      h->counted = b & 32;
      h->accept_due = Time();
      h->touch_due = Time();
      h->handed_off_at = Time();
      h->accepted_at = Time();
      h->first_touch_at = Time();
      h->owner = Str();
      s_.handoff = std::move(h);
    }
    for (uint64_t k = Count(64), i = 0; i < k && r_.ok(); ++i) {
      OppRec o;
      o.id = r_.View();
      o.ev = Ref();
      o.last_touch_ev = Ref();
      o.stage = static_cast<uint8_t>(r_.U());
      const uint64_t b = r_.U();
      o.has_touch_ev = b & 1;
      o.stalled_fired = b & 2;
      o.last_touch = Time();
      o.name = r_.View();
      o.owner = Str();
      o.amount_micros = r_.I();
      SetCurrency(r_.View(), o.currency);
      o.close_ymd = static_cast<int32_t>(r_.I());
      s_.opps.push_back(std::move(o));
    }
    for (uint64_t k = Count(CompactVec<uint64_t>::kMaxSize), i = 0; i < k && r_.ok(); ++i) s_.seen.push_back(SeenEntry());
    const uint64_t seen_pos = r_.U();
    if (seen_pos > 0xffff) return false;  // no engine writes one: the ring holds <= 4096
    s_.seen_pos = static_cast<uint16_t>(seen_pos);
    for (uint64_t k = Count(kMaxEmitted), i = 0; i < k && r_.ok(); ++i) s_.emitted.push_back(r_.Fixed64());
    const uint64_t legacy = r_.U();
    if (legacy > s_.emitted.size()) return false;
    s_.emitted_legacy = static_cast<uint8_t>(legacy);
    for (uint64_t k = Count(1024), i = 0; i < k && r_.ok(); ++i) {
      Suppress x;
      x.key = r_.Fixed64();
      x.until = Time();
      s_.suppress.push_back(x);
    }
    s_.first_event_at = Time();
    s_.owner[0] = Str();
    s_.owner[1] = Str();
    const uint64_t score = r_.U();
    if (score > 100) return false;  // no engine writes one (0..100; the state keeps 7 bits)
    s_.lead_score = static_cast<uint8_t>(score);
    s_.scored_at = Time();
    for (uint64_t k = Count(64), i = 0; i < k && r_.ok(); ++i) {
      ScoreReasonRec x;
      x.code = Str();
      x.points = static_cast<int8_t>(r_.I());
      s_.score_reasons.push_back(x);
    }
    s_.display_name = r_.View();
    s_.account_id = r_.View();
    s_.industry = Str();
    s_.region = Str();
    s_.country = Str();
    for (uint64_t k = Count(64), i = 0; i < k && r_.ok(); ++i) s_.alias_keys.emplace_back(r_.View());
    for (int32_t& d : s_.touch_day) d = static_cast<int32_t>(r_.I());
    return ok_ && r_.ok() && r_.done();
  }

 private:
  void Claim() {
    StoredClaim c;
    c.ev = Ref();
    c.index = static_cast<uint16_t>(r_.U());
    c.attr = static_cast<Attr>(r_.U());
    c.field = static_cast<SpanField>(r_.U());
    const uint64_t bits = r_.U();
    if (bits & ~uint64_t{kAllClaimBits}) ok_ = false;
    c.structured = bits & kStructured;
    c.new_customers_only = bits & kNewCustomersOnly;
    c.v.flag = bits & kFlag;
    if (bits & kProduct) c.product = Str();
    if (bits & kFeature) c.feature = Str();
    if (bits & kMicros) c.v.micros = r_.I();
    if (bits & kCurrency) SetCurrency(r_.View(), c.v.currency);
    if (bits & kPeriod) c.v.period = static_cast<uint8_t>(r_.U());
    if (bits & kQty) c.v.qty = std::bit_cast<double>(r_.Fixed64());
    if (bits & kYmd) c.v.ymd = static_cast<int32_t>(r_.I());
    if (bits & kAvail) c.v.avail = static_cast<Avail>(r_.U());
    ClaimText::Fields t;
    if (bits & kDetail) t.detail = r_.View();
    if (bits & kSpanText) t.span_text = r_.View();
    if (bits & kSpan) {
      t.begin = static_cast<uint32_t>(r_.U());
      t.end = static_cast<uint32_t>(r_.U());
    }
    if (bits & kValidUntil) c.valid_until = Time();
    if (bits & kConfidence) t.confidence = std::bit_cast<float>(r_.Fixed32());
    if (bits & kOfferCode) t.offer_code = r_.View();
    c.text = ClaimText(t);
    s_.claims.push_back(std::move(c));
  }
  uint64_t SeenEntry() {
    if (!seen_refs_) return r_.Fixed64();
    const uint64_t v = r_.U();
    if (v == 0) return r_.Fixed64();
    if (v > s_.events.size()) {
      ok_ = false;
      return 0;
    }
    return s_.events[v - 1].event_id.DedupeKey();
  }
  uint64_t Count(uint64_t max) {
    const uint64_t n = r_.U();
    if (n > max) ok_ = false;
    return ok_ ? n : 0;
  }
  EvIx Ref() {
    const uint64_t v = r_.U();
    if (v == 0) return kNoEv;
    if (v > s_.events.size()) {
      ok_ = false;
      return kNoEv;
    }
    return static_cast<EvIx>(v - 1);
  }
  Micros Time() {
    const uint64_t v = r_.U();
    if (v == kTimeZero) return 0;
    if (v == kTimeUnset) return -1;
    return static_cast<Micros>(static_cast<uint64_t>(base_) + static_cast<uint64_t>(UnZigZag(v - 2)));
  }
  uint32_t Str() {
    const uint64_t v = r_.U();
    if (v == kStrEmpty) return empty_;
    if (v == kStrNew) {
      std::string_view text = r_.View();
      if (!r_.ok()) return empty_;
      read_.push_back(in_.Intern(text));
      return read_.back();
    }
    if (v - 2 >= read_.size()) {
      ok_ = false;
      return empty_;
    }
    return read_[v - 2];
  }

  Reader& r_;
  CustomerState& s_;
  Interner& in_;
  const uint32_t empty_;
  Micros base_ = 0;
  bool ok_ = true;
  const bool seen_refs_;  // format 5: dedupe-ring entries may refer to the event table
  absl::InlinedVector<uint32_t, 16> read_;  // interned ids, in the order read
};

// Formats 1 to 3.
bool DecodeLegacy(Reader& r, uint64_t version, CustomerState* s, Interner* in) {
  const bool v2 = version >= 2;
  s->stage = static_cast<uint8_t>(r.U());
  s->has_stage_ev = r.U();
  if (s->has_stage_ev) s->stage_ev = GetEv(r, s, in);
  s->ever_customer = r.U();
  s->last_event_at = r.I();
  s->last_handoff_accept_at = r.I();
  auto count = [&](size_t max) {
    uint64_t n = r.U();
    if (n > max) {
      return static_cast<uint64_t>(0);
    }
    return n;
  };
  for (uint64_t n = count(4096), i = 0; i < n && r.ok(); ++i) {
    TouchRec t;
    t.ev = GetEv(r, s, in);
    t.kind = static_cast<uint8_t>(r.U());
    t.purpose = static_cast<uint8_t>(r.U());
    t.channel = static_cast<uint8_t>(r.U());
    t.outreach = r.U();
    if (v2) t.campaign = in->Intern(r.S());
    s->touches.push_back(std::move(t));
  }
  for (uint64_t n = count(4096), i = 0; i < n && r.ok(); ++i) {
    StoredClaim c;
    c.ev = GetEv(r, s, in);
    c.index = static_cast<uint16_t>(r.U());
    c.attr = static_cast<Attr>(r.U());
    c.structured = r.U();
    c.field = static_cast<SpanField>(r.U());
    c.product = in->Intern(r.S());
    c.feature = in->Intern(r.S());
    c.v.micros = r.I();
    CopyCurrency(c.v.currency, r.View());
    c.v.period = static_cast<uint8_t>(r.U());
    c.v.qty = r.D();
    c.v.ymd = static_cast<int32_t>(r.I());
    c.v.flag = r.U();
    c.v.avail = static_cast<Avail>(r.U());
    std::string detail = r.S(), span = r.S();
    ClaimText::Fields t;
    t.detail = detail;
    t.span_text = span;
    t.begin = static_cast<uint32_t>(r.U());
    t.end = static_cast<uint32_t>(r.U());
    c.valid_until = r.I();
    t.confidence = static_cast<float>(r.D());
    std::string offer = r.S();
    t.offer_code = offer;
    c.text = ClaimText(t);
    c.new_customers_only = r.U();
    s->claims.push_back(std::move(c));
  }
  for (uint64_t n = count(4096), i = 0; i < n && r.ok(); ++i) {
    RecordRec x;
    x.ev = GetEv(r, s, in);
    x.type = static_cast<uint8_t>(r.U());
    x.source_lead_id = r.S();
    GetId(r, &x.id);
    s->records.push_back(std::move(x));
  }
  if (r.U()) {
    HandoffRec h;
    h.ev = GetEv(r, s, in);
    std::string handoff_id = r.S(), lead_id;
    h.accept_due = r.I();
    h.touch_due = r.I();
    uint64_t f = r.U();
    h.accepted = f & 1;
    h.rejected = f & 2;
    h.touched = f & 4;
    h.accept_fired = f & 8;
    h.touch_fired = f & 16;
    if (h.accepted) h.accept_ev = GetEv(r, s, in);
    if (v2) {
      h.counted = r.U();
      lead_id = r.S();
      h.handed_off_at = r.I();
      h.accepted_at = r.I();
      h.first_touch_at = r.I();
      h.owner = in->Intern(r.S());
    } else {
      // Format 1 kept none of these: derive what can be derived. A hand-off already decided
      // is treated as counted (its outcome predates the scorecard counters).
      h.counted = h.accepted || h.rejected || h.touched || h.accept_fired;
      h.handed_off_at = s->ev(h.ev).at;
      h.accepted_at = h.accepted ? s->ev(h.accept_ev).at : 0;
    }
    h.ids = CompactPair(handoff_id, lead_id);
    s->handoff = std::make_unique<HandoffRec>(std::move(h));
  }
  for (uint64_t n = count(64), i = 0; i < n && r.ok(); ++i) {
    OppRec o;
    o.id = r.S();
    o.ev = GetEv(r, s, in);
    o.stage = static_cast<uint8_t>(r.U());
    o.last_touch = r.I();
    uint64_t f = r.U();
    o.has_touch_ev = f & 1;
    o.stalled_fired = f & 2;
    if (o.has_touch_ev) o.last_touch_ev = GetEv(r, s, in);
    if (v2) {
      o.name = r.S();
      o.owner = in->Intern(r.S());
      o.amount_micros = r.I();
      CopyCurrency(o.currency, r.View());
      o.close_ymd = static_cast<int32_t>(r.I());
    }
    s->opps.push_back(std::move(o));
  }
  for (uint64_t n = count(CompactVec<uint64_t>::kMaxSize), i = 0; i < n && r.ok(); ++i) s->seen.push_back(r.U());
  const uint64_t seen_pos = r.U();
  if (seen_pos > 0xffff) return false;  // no engine writes one: the ring holds <= 4096
  s->seen_pos = static_cast<uint16_t>(seen_pos);
  for (uint64_t n = count(CompactVec<uint64_t>::kMaxSize), i = 0; i < n && r.ok(); ++i) s->emitted.push_back(r.U());
  if (version >= 3) {
    uint64_t legacy = r.U();
    if (legacy > s->emitted.size() || s->emitted.size() > kMaxEmitted) return false;
    s->emitted_legacy = static_cast<uint8_t>(legacy);
  } else {
    // A ring of Hash64(finding id): oldest first from its write position (0 until full).
    uint64_t pos = r.U();
    if (pos < s->emitted.size()) std::rotate(s->emitted.begin(), s->emitted.begin() + static_cast<long>(pos), s->emitted.end());
    if (s->emitted.size() > kMaxEmitted)
      s->emitted.erase(s->emitted.begin(), s->emitted.end() - static_cast<long>(kMaxEmitted));
    s->emitted_legacy = static_cast<uint8_t>(s->emitted.size());
  }
  for (uint64_t n = count(1024), i = 0; i < n && r.ok(); ++i) {
    Suppress x;
    x.key = r.U();
    x.until = r.I();
    s->suppress.push_back(x);
  }
  if (v2) {
    s->first_event_at = r.I();
    s->owner[0] = in->Intern(r.S());
    s->owner[1] = in->Intern(r.S());
    const uint64_t score = r.U();
    if (score > 100) return false;  // as in format 4
    s->lead_score = static_cast<uint8_t>(score);
    s->scored_at = r.I();
    for (uint64_t n = count(64), i = 0; i < n && r.ok(); ++i) {
      ScoreReasonRec x;
      x.code = in->Intern(r.S());
      x.points = static_cast<int8_t>(r.I());
      s->score_reasons.push_back(x);
    }
    s->display_name = r.S();
    s->account_id = r.S();
    s->industry = in->Intern(r.S());
    s->region = in->Intern(r.S());
    s->country = in->Intern(r.S());
    for (uint64_t n = count(64), i = 0; i < n && r.ok(); ++i) s->alias_keys.push_back(r.S());
    for (int32_t& d : s->touch_day) d = static_cast<int32_t>(r.I());
  } else {
    // Format 1: the earliest time the state still remembers.
    Micros first = s->last_event_at;
    auto consider = [&](Micros t) {
      if (t > 0 && t < first) first = t;
    };
    if (s->has_stage_ev) consider(s->ev(s->stage_ev).at);
    for (const auto& t : s->touches) consider(s->ev(t.ev).at);
    for (const auto& c : s->claims) consider(s->ev(c.ev).at);
    for (const auto& x : s->records) consider(s->ev(x.ev).at);
    for (const auto& o : s->opps) consider(s->ev(o.ev).at);
    if (s->handoff) consider(s->ev(s->handoff->ev).at);
    s->first_event_at = first;
  }
  return r.ok() && r.done();
}

// A format 1-4 ring holds Hash64 of each event id. An entry that is that of an event in the
// table becomes the event's DedupeKey; the others (events no longer referred to) keep the hash
// with the top bit cleared (LegacyDedupeKey), which the engine also looks for while any is left.
void ConvertLegacyRing(CustomerState* s) {
  if (s->seen.empty()) return;
  absl::InlinedVector<std::pair<uint64_t, uint64_t>, 32> keys;  // (Hash64 of the id text, DedupeKey)
  std::string id;
  for (const EvRef& e : s->events) {
    id.clear();
    e.event_id.AppendTo(&id);
    keys.emplace_back(Hash64(id), e.event_id.DedupeKey());
  }
  for (uint64_t& v : s->seen) {
    auto it = std::find_if(keys.begin(), keys.end(), [v](const auto& k) { return k.first == v; });
    v = it != keys.end() ? it->second : v & ~kDedupeKeyBit;
  }
}

}  // namespace

bool DecodeState(std::string_view bytes, CustomerState* s, Interner* in) {
  Reader r(bytes);
  const uint64_t version = r.U();
  if (version == 5) return Decoder4(r, version, s, in).Run();
  bool ok = false;
  if (version == 4) ok = Decoder4(r, version, s, in).Run();
  else if (version >= 1 && version <= 3) ok = DecodeLegacy(r, version, s, in);
  if (ok) ConvertLegacyRing(s);
  return ok;
}

}  // namespace concord::alignment::engine
