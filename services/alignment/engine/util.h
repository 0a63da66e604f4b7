#pragma once
// Small building blocks of the alignment engine: time, compact ids, interning, hashing and a
// compact binary writer/reader for per-customer checkpoints.

#include <malloc.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>

namespace concord::alignment::engine {

// Microseconds since the Unix epoch (UTC). The engine never reads a clock.
using Micros = int64_t;

// The input partition a customer is checkpointed under: that of its latest event with a
// position, or the one it was restored from (the service keeps a partition's customers in that
// partition's hash). Kept in the state and in a cold customer's summary, in two bytes:
// partitions above 65534 are not tracked (the service refuses to be assigned one).
inline constexpr uint16_t kNoPartition = 0xFFFF;
inline uint16_t PackPartition(int32_t p) { return p >= 0 && p < kNoPartition ? static_cast<uint16_t>(p) : kNoPartition; }
inline int32_t UnpackPartition(uint16_t p) { return p == kNoPartition ? -1 : p; }

inline constexpr Micros kSecond = 1'000'000;
inline constexpr Micros kMinute = 60 * kSecond;
inline constexpr Micros kHour = 60 * kMinute;
inline constexpr Micros kDay = 24 * kHour;

// Days since 1970-01-01 for a civil date, and back (Howard Hinnant's algorithms).
int64_t DaysFromCivil(int y, unsigned m, unsigned d);
void CivilFromDays(int64_t z, int* y, unsigned* m, unsigned* d);
// yyyymmdd <-> days.
inline int32_t Ymd(int y, int m, int d) { return y * 10000 + m * 100 + d; }
int64_t YmdToDays(int32_t ymd);
int32_t DaysToYmd(int64_t days);
std::string FormatYmd(int32_t ymd);  // "2026-03-01"
std::string FormatDuration(Micros d);  // "72h", "30d", "90m", "45s"
// A number as the findings show it: a whole number without decimals ("20"), else printf's %g
// ("12.5"). std::to_chars, not snprintf: the same text without the locale and format parsing.
std::string FormatNumber(double v);
std::string FormatFixed2(double v);  // printf's %.2f: "0.93"
// A currency code into a 4-byte field: at most 3 characters (up to a NUL), then a NUL, as
// snprintf(dst, 4, "%s", code) wrote them.
inline void CopyCurrency(char (&dst)[4], std::string_view code) {
  const size_t n = code.empty() ? 0 : strnlen(code.data(), std::min<size_t>(3, code.size()));
  if (n) std::memcpy(dst, code.data(), n);
  dst[n] = '\0';
}

// 64-bit FNV-1a. Hash64Append continues a hash: Hash64Append(Hash64(a), b) == Hash64(a + b).
inline constexpr uint64_t kHash64Seed = 1469598103934665603ull;
inline uint64_t Hash64Append(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
inline uint64_t Hash64(std::string_view s) { return Hash64Append(kHash64Seed, s); }
// The key of an event id in a customer's dedupe ring (CustomerState::seen): the top bit set,
// below it a mix of the 16 bytes of a canonical UUID (the Event.id format: no pass over 36
// characters), else Hash64 of the text. CompactId::DedupeKey gives the same for the same id, so
// a checkpoint can write a ring entry as a reference to the event table. Entries with the top bit
// clear came from a format 1-4 checkpoint: LegacyDedupeKey, Hash64 of the text.
inline constexpr uint64_t kDedupeKeyBit = 1ull << 63;
uint64_t DedupeKey(std::string_view id);
inline uint64_t LegacyDedupeKey(std::string_view id) { return Hash64(id) & ~kDedupeKeyBit; }
// Lower-case hex SHA-256 of the input.
std::string Sha256Hex(std::string_view s);
// Appends the first `hex_chars` (<= 64) characters of Sha256Hex(s) to *out.
void AppendSha256Hex(std::string_view s, size_t hex_chars, std::string* out);

class Writer;
class Reader;

// An id in 17 bytes and alignment 1 (so records pack tightly): a lower-case canonical UUID
// (the Event.id format) as its 16 bytes, any other id of up to 16 bytes inline, longer ones
// on the heap. Round-trips exactly; most ids never allocate.
class CompactId {
 public:
  CompactId() = default;
  explicit CompactId(std::string_view s) { Set(s); }
  CompactId(const CompactId& o) { CopyFrom(o); }
  CompactId& operator=(const CompactId& o);
  CompactId(CompactId&& o) noexcept { StealFrom(o); }
  CompactId& operator=(CompactId&& o) noexcept;
  ~CompactId() { Free(); }
  void Set(std::string_view s);
  std::string str() const;
  // Appends the id's text to `out` (no temporary string).
  void AppendTo(std::string* out) const;
  // DedupeKey(str()), without building the string.
  uint64_t DedupeKey() const;
  bool empty() const { return tag_ == kEmpty; }
  // Binary form (state format 4): a UUID as its 16 bytes, any other id as its text.
  void Encode(Writer& w) const;
  bool Decode(Reader& r);
  bool operator==(const CompactId& o) const;
  size_t HeapBytes() const;  // 0 unless the id is longer than 16 bytes

 private:
  // tag_: kEmpty, kUuid (b_ = 16 bytes, big-endian), kHeap (b_ = char* + uint64 length), or
  // kInline + n for an inline id of n (1..16) bytes.
  static constexpr uint8_t kEmpty = 0, kUuid = 1, kHeap = 2, kInline = 3;
  void Free();
  void CopyFrom(const CompactId& o);
  void StealFrom(CompactId& o) {
    std::memcpy(b_, o.b_, sizeof b_);
    tag_ = o.tag_;
    o.tag_ = kEmpty;
  }
  const char* heap() const {
    const char* p;
    std::memcpy(&p, b_, sizeof p);
    return p;
  }
  uint64_t heap_size() const {
    uint64_t n;
    std::memcpy(&n, b_ + 8, sizeof n);
    return n;
  }
  // The text of an id kept as text: every form but kUuid.
  std::string_view text() const {
    if (tag_ == kEmpty) return {};
    if (tag_ == kHeap) return {heap(), heap_size()};
    return {reinterpret_cast<const char*>(b_), tag_ - kInline + 1u};
  }
  unsigned char b_[16] = {};
  uint8_t tag_ = kEmpty;
};

// A string in one pointer: 8 bytes and no allocation when empty, one exact-size block
// otherwise (per-customer text that is rarely set or short: claim spans, offer codes).
class CompactStr {
 public:
  CompactStr() = default;
  CompactStr(std::string_view s) { Assign(s); }  // NOLINT: implicit, like std::string
  CompactStr(const CompactStr& o) { Assign(o.view()); }
  CompactStr(CompactStr&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  CompactStr& operator=(const CompactStr& o) {
    if (this != &o) Assign(o.view());
    return *this;
  }
  CompactStr& operator=(CompactStr&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  CompactStr& operator=(std::string_view s) {
    Assign(s);
    return *this;
  }
  ~CompactStr() { delete[] p_; }
  std::string_view view() const {
    if (!p_) return {};
    uint32_t n;
    std::memcpy(&n, p_, sizeof n);
    return {p_ + sizeof n, n};
  }
  operator std::string_view() const { return view(); }  // NOLINT
  std::string str() const { return std::string(view()); }
  bool empty() const { return p_ == nullptr; }
  bool operator==(std::string_view s) const { return view() == s; }
  size_t HeapBytes() const { return p_ ? sizeof(uint32_t) + view().size() : 0; }

 private:
  void Assign(std::string_view s) {
    char* p = nullptr;
    if (!s.empty()) {
      uint32_t n = static_cast<uint32_t>(s.size());
      p = new char[sizeof n + n];
      std::memcpy(p, &n, sizeof n);
      std::memcpy(p + sizeof n, s.data(), n);
    }
    delete[] p_;
    p_ = p;
  }
  char* p_ = nullptr;
};

// A string of up to 29 bytes kept inline (30 bytes, alignment 1), longer ones in one exact-size
// block. For the customer key: most keys fit, so the key needs no block of its own and the
// customer lookup compares it without a second pointer chase.
class InlineStr {
 public:
  InlineStr() { b_[kTag] = 0; }
  InlineStr(const InlineStr&) = delete;
  InlineStr& operator=(const InlineStr&) = delete;
  ~InlineStr() { Clear(); }
  InlineStr& operator=(std::string_view s) {
    // Built aside first: s may point into this string's own bytes.
    char nb[kTag + 1];
    if (s.size() < kTag) {
      if (!s.empty()) std::memcpy(nb, s.data(), s.size());
      nb[kTag] = static_cast<char>(s.size());
    } else {
      char* p = new char[s.size()];
      std::memcpy(p, s.data(), s.size());
      const auto n = static_cast<uint32_t>(s.size());
      std::memcpy(nb, &p, sizeof p);
      std::memcpy(nb + sizeof p, &n, sizeof n);
      nb[kTag] = kHeap;
    }
    Clear();
    std::memcpy(b_, nb, sizeof b_);
    return *this;
  }
  std::string_view view() const {
    if (b_[kTag] != kHeap) return {b_, static_cast<size_t>(static_cast<uint8_t>(b_[kTag]))};
    return {HeapPtr(), HeapLen()};
  }
  std::string str() const { return std::string(view()); }
  size_t HeapBytes() const { return b_[kTag] == kHeap ? HeapLen() : 0; }

 private:
  static constexpr size_t kTag = 29;  // last byte: the inline length, or kHeap
  static constexpr char kHeap = static_cast<char>(0xff);
  char* HeapPtr() const {
    char* p;
    std::memcpy(&p, b_, sizeof p);
    return p;
  }
  uint32_t HeapLen() const {
    uint32_t n;
    std::memcpy(&n, b_ + sizeof(char*), sizeof n);
    return n;
  }
  void Clear() {
    if (b_[kTag] == kHeap) delete[] HeapPtr();
    b_[kTag] = 0;
  }
  char b_[kTag + 1];
};

// Varint lengths inside the engine's compact blocks (CompactPair, ClaimText): 7 bits a byte.
inline uint32_t GetVar32(const char*& q) {
  uint32_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(*q++);
    v |= static_cast<uint32_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}
// A varint at q (at most 10 bytes); returns its end. The one writer of the engine's varints:
// compact blocks, checkpoints (Writer) and findings' wire bytes.
inline char* PutVar(char* q, uint64_t v) {
  while (v >= 0x80) {
    *q++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *q++ = static_cast<char>(v);
  return q;
}
inline size_t VarSize32(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

// Two strings in one pointer: null when both are empty, else one block of their varint lengths
// and bytes (a hand-off's id and lead id: one small block instead of two).
class CompactPair {
 public:
  CompactPair() = default;
  CompactPair(std::string_view a, std::string_view b) { Assign(a, b); }
  CompactPair(const CompactPair& o) { Assign(o.first(), o.second()); }
  CompactPair(CompactPair&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  CompactPair& operator=(const CompactPair& o) {
    if (this != &o) Assign(o.first(), o.second());
    return *this;
  }
  CompactPair& operator=(CompactPair&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~CompactPair() { delete[] p_; }
  std::string_view first() const { return Get(0); }
  std::string_view second() const { return Get(1); }
  size_t HeapBytes() const {
    if (!p_) return 0;
    const char* q = p_;
    uint32_t a = GetVar32(q), b = GetVar32(q);
    return static_cast<size_t>(q - p_) + a + b;
  }

 private:
  std::string_view Get(int i) const {
    if (!p_) return {};
    const char* q = p_;
    uint32_t a = GetVar32(q), b = GetVar32(q);
    return i == 0 ? std::string_view(q, a) : std::string_view(q + a, b);
  }
  void Assign(std::string_view a, std::string_view b) {
    char* p = nullptr;
    if (!a.empty() || !b.empty()) {
      const auto la = static_cast<uint32_t>(a.size()), lb = static_cast<uint32_t>(b.size());
      p = new char[VarSize32(la) + VarSize32(lb) + la + lb];
      char* q = PutVar(PutVar(p, la), lb);
      if (!a.empty()) std::memcpy(q, a.data(), a.size());
      if (!b.empty()) std::memcpy(q + a.size(), b.data(), b.size());
    }
    delete[] p_;
    p_ = p;
  }
  char* p_ = nullptr;
};

// Whether a T can move to a new address as its bytes (a memcpy, no constructor or destructor
// run): trivially copyable types, and types that own a block through a plain pointer and
// nothing that points back at them (specialized where they are defined, e.g. EvRef).
template <typename T>
struct Relocatable : std::is_trivially_copyable<T> {};

// A vector in 12 bytes and alignment 2 (std::vector: 24 and 8), for the per-customer arrays
// that nine of live in every customer's state: an unaligned pointer and 16-bit size and
// capacity (the state's arrays are bounded well below 65535). Same growth as std::vector
// (doubling on push_back, exact on reserve), except that the capacity is all the block holds:
// the allocator rounds a request up to its size class (jemalloc: 9 64-byte entries get a
// 640-byte block), and that room is used before the array moves again.
template <typename T>
class CompactVec {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;
  static constexpr size_t kMaxSize = 0xffff;

  CompactVec() = default;
  CompactVec(const CompactVec& o) {
    reserve(o.size());
    std::uninitialized_copy(o.begin(), o.end(), data());
    size_ = o.size_;
  }
  CompactVec(CompactVec&& o) noexcept { Steal(o); }
  CompactVec& operator=(const CompactVec& o) {
    if (this != &o) {
      CompactVec t(o);
      swap(t);
    }
    return *this;
  }
  CompactVec& operator=(CompactVec&& o) noexcept {
    if (this != &o) {
      Release();
      Steal(o);
    }
    return *this;
  }
  ~CompactVec() { Release(); }
  void swap(CompactVec& o) noexcept {
    CompactVec t;
    t.Steal(o);
    o.Steal(*this);
    Steal(t);
  }

  T* data() {
    T* p;
    std::memcpy(&p, p_, sizeof p);
    return p;
  }
  const T* data() const {
    T* p;
    std::memcpy(&p, p_, sizeof p);
    return p;
  }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= cap_) return;
    if (n > kMaxSize) throw std::length_error("CompactVec");
    T* q = static_cast<T*>(::operator new(n * sizeof(T)));
    T* old = data();
    if constexpr (Relocatable<T>::value) {
      if (size_) std::memcpy(static_cast<void*>(q), static_cast<const void*>(old), size_ * sizeof(T));
    } else {
      std::uninitialized_move(old, old + size_, q);
      std::destroy(old, old + size_);
    }
    ::operator delete(old);
    SetPtr(q);
    cap_ = static_cast<uint16_t>(std::clamp(malloc_usable_size(q) / sizeof(T), n, kMaxSize));
  }
  template <typename... A>
  T& emplace_back(A&&... a) {
    if (size_ == kMaxSize) throw std::length_error("CompactVec");  // like std::vector past max_size()
    if (size_ == cap_) reserve(std::min<size_t>(kMaxSize, size_ + std::max<size_t>(size_, 1)));
    T* slot = ::new (static_cast<void*>(data() + size_)) T(std::forward<A>(a)...);
    ++size_;
    return *slot;
  }
  void push_back(const T& x) { emplace_back(x); }
  void push_back(T&& x) { emplace_back(std::move(x)); }
  void pop_back() {
    --size_;
    std::destroy_at(data() + size_);
  }
  T* erase(const T* first, const T* last) {
    T* f = begin() + (first - begin());
    T* l = begin() + (last - begin());
    if (f == l) return f;
    T* new_end = std::move(l, end(), f);
    std::destroy(new_end, end());
    size_ = static_cast<uint16_t>(new_end - begin());
    return f;
  }
  T* erase(const T* pos) { return erase(pos, pos + 1); }
  void clear() { erase(begin(), end()); }
  void resize(size_t n) {
    if (n < size_) {
      erase(begin() + n, end());
      return;
    }
    reserve(n);
    while (size_ < n) emplace_back();
  }

 private:
  void SetPtr(T* q) { std::memcpy(p_, &q, sizeof q); }
  void Steal(CompactVec& o) {
    std::memcpy(p_, o.p_, sizeof p_);
    size_ = o.size_;
    cap_ = o.cap_;
    o.SetPtr(nullptr);
    o.size_ = o.cap_ = 0;
  }
  void Release() {
    T* p = data();
    std::destroy(p, p + size_);
    ::operator delete(p);
    SetPtr(nullptr);
    size_ = cap_ = 0;
  }
  unsigned char p_[sizeof(void*)] = {};  // T*, unaligned: keeps the class at 12 bytes
  uint16_t size_ = 0, cap_ = 0;
};

// Transparent hash and equality (absl containers) for a set of objects that carry their own
// string key: Key::K(x) gives the key of an element and of a lookup argument (string_view), so
// a lookup by string_view copies nothing.
template <class Key>
struct ByKey {
  using is_transparent = void;
  template <class A>
  size_t operator()(const A& a) const {
    return absl::Hash<std::string_view>{}(Key::K(a));
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return Key::K(a) == Key::K(b);
  }
};

// Maps strings to small integers and back (actors, topics, products). Append-only.
class Interner {
 public:
  uint32_t Intern(std::string_view s);
  const std::string& Get(uint32_t id) const { return strings_[id]; }
  size_t size() const { return strings_.size(); }
  size_t ApproxBytes() const;

 private:
  std::vector<std::string> strings_;
  absl::flat_hash_map<std::string, uint32_t> index_;
};

// Zig-zag: signed values near 0 as small unsigned ones (-1 -> 1, 1 -> 2), for varints.
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (0 - (u & 1))); }

// Compact binary encoding: varints, zig-zag signed, length-prefixed strings. Writes through a
// pointer into a buffer grown ahead (a push_back per varint byte was a fifth of a checkpoint).
class Writer {
 public:
  explicit Writer(size_t reserve = 0) { out_.resize(std::max<size_t>(reserve, 64)); }
  void U(uint64_t v) {
    char* p = Room(10);
    if (v < 0x80) {  // most of a checkpoint's varints: a short path measurably pays here
      *p = static_cast<char>(v);
      ++pos_;
      return;
    }
    pos_ += static_cast<size_t>(PutVar(p, v) - p);
  }
  void I(int64_t v) { U(ZigZag(v)); }
  void S(std::string_view s) {
    U(s.size());
    Raw(s.data(), s.size());
  }
  void D(double d) {
    uint64_t b;
    std::memcpy(&b, &d, 8);
    Fixed64(b);
  }
  // Fixed width, little-endian as on every platform this builds for: for hashes and float
  // bits, whose varints would be 10 and 5 bytes.
  void Fixed64(uint64_t v) { Raw(&v, 8); }
  void Fixed32(uint32_t v) { Raw(&v, 4); }
  void Raw(const void* p, size_t n) {
    if (n == 0) return;
    std::memcpy(Room(n), p, n);
    pos_ += n;
  }
  std::string Take() {
    out_.resize(pos_);
    pos_ = 0;
    return std::move(out_);
  }

 private:
  char* Room(size_t n) {
    if (out_.size() - pos_ < n) [[unlikely]]
      Grow(n);
    return out_.data() + pos_;
  }
  [[gnu::noinline]] void Grow(size_t n) { out_.resize(std::max(out_.size() * 2, pos_ + n)); }
  std::string out_;  // [0, pos_) written, the rest room
  size_t pos_ = 0;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  size_t left() const { return in_.size() - pos_; }
  uint64_t U() {
    uint64_t v = 0;
    int shift = 0;
    while (pos_ < in_.size() && shift < 64) {
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7;
    }
    ok_ = false;
    return 0;
  }
  int64_t I() { return UnZigZag(U()); }
  std::string S() { return std::string(View()); }
  // Like S, without a copy: valid as long as the input is.
  std::string_view View() {
    uint64_t n = U();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  double D() {
    uint64_t b = Fixed64();
    double d;
    std::memcpy(&d, &b, 8);
    return d;
  }
  uint64_t Fixed64() {
    uint64_t v = 0;
    if (const char* p = Raw(8)) std::memcpy(&v, p, 8);
    return v;
  }
  uint32_t Fixed32() {
    uint32_t v = 0;
    if (const char* p = Raw(4)) std::memcpy(&v, p, 4);
    return v;
  }
  // The next n bytes, or null (and not ok) when fewer are left.
  const char* Raw(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return nullptr;
    }
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace concord::alignment::engine
