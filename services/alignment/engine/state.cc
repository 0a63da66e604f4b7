#include "services/alignment/engine/state.h"

#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <stdexcept>

namespace concord::alignment::engine {

namespace {
// 1: the original layout. 2: + customer view and scorecard fields (touch campaign, hand-off
// lead/times/owner/counted, opportunity name/owner/amount/close date, and the customer-level
// block at the end). 3: the raised-findings list holds raise keys, oldest first, followed by
// the count of leading legacy entries (format 2: a ring of Hash64(finding id) and its write
// position). DecodeState reads 1, 2 and 3; EncodeState writes 3.
constexpr uint64_t kFormat = 3;

size_t StrBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

void PutEv(Writer& w, const EvRef& r, const Interner& in) {
  w.S(r.event_id.str());
  w.S(r.record_id.str());
  w.I(r.at);
  w.I(r.offset);
  w.I(r.partition);
  w.S(in.Get(r.topic));
  w.S(in.Get(r.actor));
  w.U(r.team);
  w.U(r.payload);
}
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
    auto mark = [&](EvIx i) {
      if (i != kNoEv) map[i] = 0;
    };
    mark(stage_ev);
    for (const auto& t : touches) mark(t.ev);
    for (const auto& c : claims) mark(c.ev);
    for (const auto& x : records) mark(x.ev);
    for (const auto& o : opps) {
      mark(o.ev);
      mark(o.last_touch_ev);
    }
    if (handoff) {
      mark(handoff->ev);
      mark(handoff->accept_ev);
    }
    EvIx live = 0;
    for (size_t i = 0; i < map.size(); ++i) {
      if (map[i] == kNoEv) continue;
      if (live != i) events[live] = std::move(events[i]);
      map[i] = live++;
    }
    if (live < events.size()) {
      events.erase(events.begin() + live, events.end());
      auto remap = [&](EvIx& i) {
        if (i != kNoEv) i = map[i];
      };
      remap(stage_ev);
      for (auto& t : touches) remap(t.ev);
      for (auto& c : claims) remap(c.ev);
      for (auto& x : records) remap(x.ev);
      for (auto& o : opps) {
        remap(o.ev);
        remap(o.last_touch_ev);
      }
      if (handoff) {
        remap(handoff->ev);
        remap(handoff->accept_ev);
      }
    }
  }
  // Room for two more (a 64-byte entry: two fill a jemalloc size step above 512 bytes).
  if (events.size() == events.capacity()) events.reserve(std::min(events.size() + 2, CompactVec<EvRef>::kMaxSize - 1));
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

std::string EncodeState(const CustomerState& s, const Interner& in) {
  // The encoding is about as large as the state in memory: one allocation instead of a string
  // grown (and copied) a byte at a time through every capacity up to ~2 KiB.
  Writer w(s.ApproxBytes());
  w.U(kFormat);
  w.U(s.stage);
  w.U(s.has_stage_ev);
  if (s.has_stage_ev) PutEv(w, s.ev(s.stage_ev), in);
  w.U(s.ever_customer);
  w.I(s.last_event_at);
  w.I(s.last_handoff_accept_at);
  w.U(s.touches.size());
  for (const auto& t : s.touches) {
    PutEv(w, s.ev(t.ev), in);
    w.U(t.kind);
    w.U(t.purpose);
    w.U(t.channel);
    w.U(t.outreach);
    w.S(in.Get(t.campaign));
  }
  w.U(s.claims.size());
  for (const auto& c : s.claims) {
    PutEv(w, s.ev(c.ev), in);
    w.U(c.index);
    w.U(static_cast<uint8_t>(c.attr));
    w.U(c.structured);
    w.U(static_cast<uint8_t>(c.field));
    w.S(in.Get(c.product));
    w.S(in.Get(c.feature));
    w.I(c.v.micros);
    w.S(std::string_view(c.v.currency, strnlen(c.v.currency, 3)));
    w.U(c.v.period);
    w.D(c.v.qty);
    w.I(c.v.ymd);
    w.U(c.v.flag);
    w.U(static_cast<uint8_t>(c.v.avail));
    w.S(c.text.detail());
    w.S(c.text.span_text());
    w.U(c.text.begin());
    w.U(c.text.end());
    w.I(c.valid_until);
    w.D(c.text.confidence());
    w.S(c.text.offer_code());
    w.U(c.new_customers_only);
  }
  w.U(s.records.size());
  for (const auto& r : s.records) {
    PutEv(w, s.ev(r.ev), in);
    w.U(r.type);
    w.S(r.source_lead_id);
    PutId(w, r.id);
  }
  w.U(s.handoff != nullptr);
  if (s.handoff) {
    const auto& h = *s.handoff;
    PutEv(w, s.ev(h.ev), in);
    w.S(h.handoff_id());
    w.I(h.accept_due);
    w.I(h.touch_due);
    w.U(h.accepted | h.rejected << 1 | h.touched << 2 | h.accept_fired << 3 | h.touch_fired << 4);
    if (h.accepted) PutEv(w, s.ev(h.accept_ev), in);
    w.U(h.counted);
    w.S(h.lead_id());
    w.I(h.handed_off_at);
    w.I(h.accepted_at);
    w.I(h.first_touch_at);
    w.S(in.Get(h.owner));
  }
  w.U(s.opps.size());
  for (const auto& o : s.opps) {
    w.S(o.id);
    PutEv(w, s.ev(o.ev), in);
    w.U(o.stage);
    w.I(o.last_touch);
    w.U(o.has_touch_ev | o.stalled_fired << 1);
    if (o.has_touch_ev) PutEv(w, s.ev(o.last_touch_ev), in);
    w.S(o.name);
    w.S(in.Get(o.owner));
    w.I(o.amount_micros);
    w.S(std::string_view(o.currency, strnlen(o.currency, 3)));
    w.I(o.close_ymd);
  }
  w.U(s.seen.size());
  for (uint64_t h : s.seen) w.U(h);
  w.U(s.seen_pos);
  w.U(s.emitted.size());
  for (uint64_t h : s.emitted) w.U(h);
  w.U(s.emitted_legacy);
  w.U(s.suppress.size());
  for (const auto& x : s.suppress) {
    w.U(x.key);
    w.I(x.until);
  }
  // format 2: customer-level block
  w.I(s.first_event_at);
  w.S(in.Get(s.owner[0]));
  w.S(in.Get(s.owner[1]));
  w.U(s.lead_score);
  w.I(s.scored_at);
  w.U(s.score_reasons.size());
  for (const auto& x : s.score_reasons) {
    w.S(in.Get(x.code));
    w.I(x.points);
  }
  w.S(s.display_name);
  w.S(s.account_id);
  w.S(in.Get(s.industry));
  w.S(in.Get(s.region));
  w.S(in.Get(s.country));
  w.U(s.alias_keys.size());
  for (const auto& k : s.alias_keys) w.S(k);
  for (int32_t d : s.touch_day) w.I(d);
  return w.Take();
}

bool DecodeState(std::string_view bytes, CustomerState* s, Interner* in) {
  Reader r(bytes);
  const uint64_t version = r.U();
  if (version < 1 || version > kFormat) return false;
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
    std::string cur = r.S();
    std::snprintf(c.v.currency, 4, "%s", cur.c_str());
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
      std::string cur = r.S();
      std::snprintf(o.currency, 4, "%s", cur.c_str());
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
    s->lead_score = static_cast<uint8_t>(r.U());
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

}  // namespace concord::alignment::engine
