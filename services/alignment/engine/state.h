#pragma once
// Per-customer state of the alignment engine. Compact, bounded and serializable (state.cc).
// Internal to the engine; the wiring only sees the bytes of Engine::SerializeCustomer.

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/alignment/engine/claims.h"
#include "services/alignment/engine/identity_match.h"
#include "services/alignment/engine/util.h"

namespace concord::alignment::engine {

// An event, as much of it as evidence needs. 64 bytes: ids first (alignment 1), then the
// 4- and 8-byte fields, so there is no padding.
struct EvRef {
  CompactId event_id;
  CompactId record_id;
  uint8_t team = 0;
  uint8_t payload = 0;  // Event payload field number
  int32_t partition = -1;
  uint32_t topic = 0;  // interned ("" = 0)
  uint32_t actor = 0;  // interned actor id
  Micros at = 0;
  int64_t offset = -1;
};
static_assert(sizeof(EvRef) == 64);
// Its two CompactIds hold their text inline or through a plain owning pointer.
template <>
struct Relocatable<EvRef> : std::true_type {};

// A customer's events are kept once each, in its event table (CustomerState::events), and
// touches, claims, records, the hand-off, opportunities and the stage refer to them by index:
// a message's touch and its claims share one reference instead of holding a copy each.
using EvIx = uint16_t;
inline constexpr EvIx kNoEv = 0xffff;  // no event (an unset optional reference)
inline const EvRef kEmptyEv{};

// Where a claim's text came from (TextSpan.field).
enum class SpanField : uint8_t {
  kNone, kMessageSubject, kMessageBody, kOfferText, kActivitySubject, kActivityNotes, kQuoteNotes, kQuoteTermsText,
  kCommitmentText, kConcessionText, kLineDescription, kStructured
};

// A claim's text fields and span in one block, null when all are default (structured claims
// without an offer code): most claims carry at most one of them, and this keeps StoredClaim at
// 128 bytes (five claims fit a 640-byte block instead of 896 with three inline CompactStr).
class ClaimText {
 public:
  struct Fields {
    uint32_t begin = 0, end = 0;  // UTF-8 byte span in the source text
    float confidence = 1;
    std::string_view detail, span_text, offer_code;
  };
  ClaimText() = default;
  explicit ClaimText(const Fields& f) { Assign(f); }
  ClaimText(const ClaimText& o) { Copy(o); }
  ClaimText(ClaimText&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  ClaimText& operator=(const ClaimText& o) {
    if (this != &o) Copy(o);
    return *this;
  }
  ClaimText& operator=(ClaimText&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ClaimText() { delete[] p_; }

  uint32_t begin() const { return Head(0); }
  uint32_t end() const { return Head(1); }
  float confidence() const {
    if (!p_) return 1;
    float f;
    std::memcpy(&f, p_ + 2 * 4, 4);
    return f;
  }
  std::string_view detail() const { return Str(0); }
  std::string_view span_text() const { return Str(1); }
  std::string_view offer_code() const { return Str(2); }
  size_t HeapBytes() const {
    if (!p_) return 0;
    const char* q = p_ + kFixed;
    size_t n = 0;
    for (int k = 0; k < 3; ++k) n += GetVar32(q);
    return static_cast<size_t>(q - p_) + n;
  }

 private:
  // [begin][end][confidence] (4 bytes each), the three lengths as varints (one byte each for
  // short texts: a 16-byte span is a 32-byte block), then detail, span text and offer code.
  static constexpr size_t kFixed = 3 * 4;
  uint32_t Head(int i) const {
    if (!p_) return 0;
    uint32_t v;
    std::memcpy(&v, p_ + i * 4, 4);
    return v;
  }
  std::string_view Str(int i) const {
    if (!p_) return {};
    const char* q = p_ + kFixed;
    uint32_t len[3];
    for (uint32_t& l : len) l = GetVar32(q);
    for (int k = 0; k < i; ++k) q += len[k];
    return {q, len[i]};
  }
  void Assign(const Fields& f) {
    delete[] p_;
    p_ = nullptr;
    if (f.begin == 0 && f.end == 0 && f.confidence == 1 && f.detail.empty() && f.span_text.empty() && f.offer_code.empty())
      return;
    const std::string_view texts[3] = {f.detail, f.span_text, f.offer_code};
    size_t n = kFixed;
    for (std::string_view t : texts) n += VarSize32(static_cast<uint32_t>(t.size())) + t.size();
    char* p = new char[n];
    std::memcpy(p, &f.begin, 4);
    std::memcpy(p + 4, &f.end, 4);
    std::memcpy(p + 8, &f.confidence, 4);
    char* q = p + kFixed;
    for (std::string_view t : texts) q = PutVar(q, t.size());
    for (std::string_view t : texts) {
      if (!t.empty()) std::memcpy(q, t.data(), t.size());
      q += t.size();
    }
    p_ = p;
  }
  void Copy(const ClaimText& o) {
    char* p = nullptr;
    if (o.p_) {
      p = new char[o.HeapBytes()];
      std::memcpy(p, o.p_, o.HeapBytes());
    }
    delete[] p_;
    p_ = p;
  }
  char* p_ = nullptr;
};

// 64 bytes: the value, the rarely-set text in one pointer, and the event's index.
struct StoredClaim {
  ClaimVal v;
  Micros valid_until = 0;
  ClaimText text;  // span (free text: the claimed text, at most 160 bytes), detail, offer code
  uint32_t product = 0;  // interned
  uint32_t feature = 0;  // interned
  uint16_t index = 0;  // claim index within the event: claim id = event id + "#" + index
  Attr attr = Attr::kNone;
  bool structured = false;
  SpanField field = SpanField::kNone;
  bool new_customers_only = false;
  EvIx ev = kNoEv;
};
static_assert(sizeof(StoredClaim) == 64);

struct TouchRec {
  EvIx ev = kNoEv;
  uint8_t kind = 0;     // concord.alignment.v1.TouchKind
  uint8_t purpose = 0;  // MessagePurpose
  uint8_t channel = 0;
  bool outreach = false;
  uint32_t campaign = 0;  // interned MessageSent campaign id (format 2)
};

struct RecordRec {
  EvIx ev = kNoEv;
  uint8_t type = 0;  // RecordType: 1 lead, 2 contact, 3 account
  CompactStr source_lead_id;
  PackedIdentity id;
};

// 64 bytes (was 192): the ids in one block, the event indices and flags last.
struct HandoffRec {
  CompactPair ids;  // hand-off id, then (format 2) the marketing lead handed off
  Micros accept_due = 0, touch_due = 0;
  // Format 2 (customer view, scorecard):
  Micros handed_off_at = 0;   // format 1: the hand-off event's time
  Micros accepted_at = 0;     // format 1: accept_ev.at
  Micros first_touch_at = 0;  // first sales touch at or after the hand-off (0 = none)
  uint32_t owner = 0;         // interned actor id: accepting owner, else the suggested owner
  EvIx ev = kNoEv;            // LeadHandedOff
  EvIx accept_ev = kNoEv;     // set when accepted
  bool accepted = false, rejected = false, touched = false;
  bool accept_fired = false, touch_fired = false;
  bool counted = false;       // the accept SLA outcome is in the scorecard counters

  std::string_view handoff_id() const { return ids.first(); }
  std::string_view lead_id() const { return ids.second(); }
};
static_assert(sizeof(HandoffRec) == 64);

struct OppRec {
  std::string id;
  EvIx ev = kNoEv;  // created / last stage change
  uint8_t stage = 0;
  Micros last_touch = 0;
  EvIx last_touch_ev = kNoEv;
  bool has_touch_ev = false;
  bool stalled_fired = false;  // for this last touch
  // Format 2 (customer view):
  std::string name;            // <= 120 bytes
  uint32_t owner = 0;          // interned actor id
  int64_t amount_micros = 0;
  char currency[4] = {};
  int32_t close_ymd = 0;       // yyyymmdd, 0 = unknown
};

struct ScoreReasonRec {
  uint32_t code = 0;  // interned ScoreReason.code
  int8_t points = 0;
};

inline constexpr size_t kMaxEmitted = 64;

// Scorecard scopes counted per customer per UTC day: overall, marketing, sales.
inline constexpr int kActivityScopes = 3;

struct Suppress {
  uint64_t key;
  Micros until;
};

struct CustomerState {
  InlineStr key;  // the customer key (the engine's set of states is keyed by it), inline up to 29 bytes
  uint16_t seen_pos = 0;  // < limits.dedupe_ids (<= 4096); here, it packs with the key
  Micros last_event_at = 0;
  Micros last_handoff_accept_at = -1;
  std::unique_ptr<HandoffRec> handoff;  // most customers never have one: no inline space
  Micros timer_due = 0;                 // the timer registered in the engine (0 = none)
  // Format 2: customer view and scorecard.
  Micros first_event_at = 0;            // format 1: earliest time still in the state
  Micros scored_at = 0;
  CompactStr display_name;              // account name, else the company as written (<= 120 bytes)
  CompactStr account_id;
  uint32_t owner[2] = {0, 0};           // interned actor ids: [0] marketing owner, [1] sales owner
  uint32_t industry = 0, region = 0, country = 0;  // interned, as written
  int32_t touch_day[kActivityScopes] = {-1, -1, -1};  // last UTC day counted in customers_touched

  // The arrays in CompactVec (12 bytes each, alignment 2), together so they pack.
  CompactVec<EvRef> events;        // the event table: every event referred to below, once (AddEv)
  CompactVec<TouchRec> touches;    // oldest first, <= max_touches
  CompactVec<StoredClaim> claims;  // oldest first, <= max_claims
  CompactVec<RecordRec> records;   // <= max_records
  CompactVec<OppRec> opps;         // open opportunities, <= 4
  CompactVec<uint64_t> seen;       // ring of event id hashes (dedupe)
  // Findings already raised (repeat suppression), oldest first, <= kMaxEmitted: the raise key
  // of each (Engine: FNV-1a of the text the finding id hashes, so SHA-256 runs only for new
  // findings). The first emitted_legacy entries came from a format-1/2 checkpoint and are
  // Hash64 of the finding id instead.
  CompactVec<uint64_t> emitted;
  CompactVec<Suppress> suppress;   // time-boxed repeat suppression keys
  CompactVec<ScoreReasonRec> score_reasons;  // <= 8 (codes and points; descriptions are not kept)
  CompactVec<std::string> alias_keys;  // former customer keys merged into this one, <= 8

  EvIx stage_ev = kNoEv;
  uint8_t stage = 0;  // LifecycleStage
  // Bit fields: the 256-byte block has no spare byte, and partition needs two.
  uint8_t lead_score : 7 = 0;  // 0..100, 0 = never scored
  bool has_stage_ev : 1 = false;
  uint8_t emitted_legacy : 7 = 0;  // <= kMaxEmitted
  bool ever_customer : 1 = false;
  uint8_t use_gen = 0;  // the engine's use generation when last used (which customers are cold); not checkpointed
  uint16_t partition = kNoPartition;  // see kNoPartition; not checkpointed

  // kNoEv reads as an empty reference: a hand-off accepted before it was seen (the acceptance
  // arrived first) has no acceptance event, and its evidence and checkpoint show an empty one.
  const EvRef& ev(EvIx i) const { return i == kNoEv ? kEmptyEv : events[i]; }
  EvRef& mutable_ev(EvIx i) { return events[i]; }  // i != kNoEv
  // Adds an event to the table and returns its index. When the table is full (from 8 entries
  // on), first drops the events nothing refers to any more and renumbers the rest, so every
  // index held outside the state is invalid afterwards: call it before building records that
  // refer to the event (Engine: once per event, in Ref).
  EvIx AddEv(EvRef r);
  // For decoding: reuses an identical entry (a touch and its claims), never renumbers.
  EvIx AddDecodedEv(EvRef r);
  // Calls f(EvIx&) (f(const EvIx&) on a const state) for every reference into the event
  // table, kNoEv included: what AddEv keeps and renumbers, and what a checkpoint writes.
  template <class F>
  void ForEachEvRef(F&& f) {
    ForEachEvRefOf(*this, f);
  }
  template <class F>
  void ForEachEvRef(F&& f) const {
    ForEachEvRefOf(*this, f);
  }

  size_t ApproxBytes() const;

 private:
  template <class S, class F>
  static void ForEachEvRefOf(S& s, F& f) {
    f(s.stage_ev);
    for (auto& t : s.touches) f(t.ev);
    for (auto& c : s.claims) f(c.ev);
    for (auto& x : s.records) f(x.ev);
    for (auto& o : s.opps) {
      f(o.ev);
      f(o.last_touch_ev);
    }
    if (s.handoff) {
      f(s.handoff->ev);
      f(s.handoff->accept_ev);
    }
  }
};
// 10 arrays at 12 bytes instead of 24, the key inline, event indices instead of a 64-byte
// stage reference: a 256-byte block (was 448 + 32).
static_assert(sizeof(CustomerState) <= 256);

// Encoding: version byte + fields; strings for interned values (topics, actors, products).
inline constexpr uint8_t kStateFormat = 5;  // the version EncodeState writes (the first byte)
class Interner;
std::string EncodeState(const CustomerState& s, const Interner& strings);
bool DecodeState(std::string_view bytes, CustomerState* s, Interner* strings);

}  // namespace concord::alignment::engine
