#include "services/alignment/engine/state.h"

namespace concord::alignment::engine {

namespace {
constexpr uint64_t kFormat = 1;

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
void GetEv(Reader& rd, EvRef* r, Interner* in) {
  r->event_id.Set(rd.S());
  r->record_id.Set(rd.S());
  r->at = rd.I();
  r->offset = rd.I();
  r->partition = static_cast<int32_t>(rd.I());
  r->topic = in->Intern(rd.S());
  r->actor = in->Intern(rd.S());
  r->team = static_cast<uint8_t>(rd.U());
  r->payload = static_cast<uint8_t>(rd.U());
}
void PutId(Writer& w, const NormalizedIdentity& n) {
  w.S(n.email);
  w.S(n.phone);
  w.S(n.name);
  w.S(n.domain);
  w.S(n.company);
}
void GetId(Reader& r, NormalizedIdentity* n) {
  n->email = r.S();
  n->phone = r.S();
  n->name = r.S();
  n->domain = r.S();
  n->company = r.S();
}
}  // namespace

size_t CustomerState::ApproxBytes() const {
  size_t n = sizeof(CustomerState);
  n += touches.capacity() * sizeof(TouchRec);
  n += claims.capacity() * sizeof(StoredClaim);
  for (const auto& c : claims) n += StrBytes(c.span_text) + StrBytes(c.detail) + StrBytes(c.offer_code);
  n += records.capacity() * sizeof(RecordRec);
  for (const auto& r : records)
    n += StrBytes(r.id.email) + StrBytes(r.id.name) + StrBytes(r.id.domain) + StrBytes(r.id.company) + StrBytes(r.source_lead_id);
  if (handoff) n += sizeof(HandoffRec);
  n += opps.capacity() * sizeof(OppRec);
  n += (seen.capacity() + emitted.capacity()) * 8 + suppress.capacity() * sizeof(Suppress);
  return n;
}

std::string EncodeState(const CustomerState& s, const Interner& in) {
  Writer w;
  w.U(kFormat);
  w.U(s.stage);
  w.U(s.has_stage_ev);
  if (s.has_stage_ev) PutEv(w, s.stage_ev, in);
  w.U(s.ever_customer);
  w.I(s.last_event_at);
  w.I(s.last_handoff_accept_at);
  w.U(s.touches.size());
  for (const auto& t : s.touches) {
    PutEv(w, t.ev, in);
    w.U(t.kind);
    w.U(t.purpose);
    w.U(t.channel);
    w.U(t.outreach);
  }
  w.U(s.claims.size());
  for (const auto& c : s.claims) {
    PutEv(w, c.ev, in);
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
    w.S(c.detail);
    w.S(c.span_text);
    w.U(c.begin);
    w.U(c.end);
    w.I(c.valid_until);
    w.D(c.confidence);
    w.S(c.offer_code);
    w.U(c.new_customers_only);
  }
  w.U(s.records.size());
  for (const auto& r : s.records) {
    PutEv(w, r.ev, in);
    w.U(r.type);
    w.S(r.source_lead_id);
    PutId(w, r.id);
  }
  w.U(s.handoff.has_value());
  if (s.handoff) {
    const auto& h = *s.handoff;
    PutEv(w, h.ev, in);
    w.S(h.handoff_id);
    w.I(h.accept_due);
    w.I(h.touch_due);
    w.U(h.accepted | h.rejected << 1 | h.touched << 2 | h.accept_fired << 3 | h.touch_fired << 4);
    if (h.accepted) PutEv(w, h.accept_ev, in);
  }
  w.U(s.opps.size());
  for (const auto& o : s.opps) {
    w.S(o.id);
    PutEv(w, o.ev, in);
    w.U(o.stage);
    w.I(o.last_touch);
    w.U(o.has_touch_ev | o.stalled_fired << 1);
    if (o.has_touch_ev) PutEv(w, o.last_touch_ev, in);
  }
  w.U(s.seen.size());
  for (uint64_t h : s.seen) w.U(h);
  w.U(s.seen_pos);
  w.U(s.emitted.size());
  for (uint64_t h : s.emitted) w.U(h);
  w.U(s.emitted_pos);
  w.U(s.suppress.size());
  for (const auto& x : s.suppress) {
    w.U(x.key);
    w.I(x.until);
  }
  return w.Take();
}

bool DecodeState(std::string_view bytes, CustomerState* s, Interner* in) {
  Reader r(bytes);
  if (r.U() != kFormat) return false;
  s->stage = static_cast<uint8_t>(r.U());
  s->has_stage_ev = r.U();
  if (s->has_stage_ev) GetEv(r, &s->stage_ev, in);
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
    GetEv(r, &t.ev, in);
    t.kind = static_cast<uint8_t>(r.U());
    t.purpose = static_cast<uint8_t>(r.U());
    t.channel = static_cast<uint8_t>(r.U());
    t.outreach = r.U();
    s->touches.push_back(std::move(t));
  }
  for (uint64_t n = count(4096), i = 0; i < n && r.ok(); ++i) {
    StoredClaim c;
    GetEv(r, &c.ev, in);
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
    c.detail = r.S();
    c.span_text = r.S();
    c.begin = static_cast<uint32_t>(r.U());
    c.end = static_cast<uint32_t>(r.U());
    c.valid_until = r.I();
    c.confidence = static_cast<float>(r.D());
    c.offer_code = r.S();
    c.new_customers_only = r.U();
    s->claims.push_back(std::move(c));
  }
  for (uint64_t n = count(4096), i = 0; i < n && r.ok(); ++i) {
    RecordRec x;
    GetEv(r, &x.ev, in);
    x.type = static_cast<uint8_t>(r.U());
    x.source_lead_id = r.S();
    GetId(r, &x.id);
    s->records.push_back(std::move(x));
  }
  if (r.U()) {
    HandoffRec h;
    GetEv(r, &h.ev, in);
    h.handoff_id = r.S();
    h.accept_due = r.I();
    h.touch_due = r.I();
    uint64_t f = r.U();
    h.accepted = f & 1;
    h.rejected = f & 2;
    h.touched = f & 4;
    h.accept_fired = f & 8;
    h.touch_fired = f & 16;
    if (h.accepted) GetEv(r, &h.accept_ev, in);
    s->handoff = std::move(h);
  }
  for (uint64_t n = count(64), i = 0; i < n && r.ok(); ++i) {
    OppRec o;
    o.id = r.S();
    GetEv(r, &o.ev, in);
    o.stage = static_cast<uint8_t>(r.U());
    o.last_touch = r.I();
    uint64_t f = r.U();
    o.has_touch_ev = f & 1;
    o.stalled_fired = f & 2;
    if (o.has_touch_ev) GetEv(r, &o.last_touch_ev, in);
    s->opps.push_back(std::move(o));
  }
  for (uint64_t n = count(65536), i = 0; i < n && r.ok(); ++i) s->seen.push_back(r.U());
  s->seen_pos = static_cast<uint32_t>(r.U());
  for (uint64_t n = count(65536), i = 0; i < n && r.ok(); ++i) s->emitted.push_back(r.U());
  s->emitted_pos = static_cast<uint32_t>(r.U());
  for (uint64_t n = count(1024), i = 0; i < n && r.ok(); ++i) {
    Suppress x;
    x.key = r.U();
    x.until = r.I();
    s->suppress.push_back(x);
  }
  return r.ok() && r.done();
}

}  // namespace concord::alignment::engine
