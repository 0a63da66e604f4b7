#include "services/alignment/engine/util.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace concord::alignment::engine {

int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int>(yy + (*m <= 2));
}

int64_t YmdToDays(int32_t ymd) { return DaysFromCivil(ymd / 10000, (ymd / 100) % 100, ymd % 100); }

int32_t DaysToYmd(int64_t days) {
  int y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  return Ymd(y, static_cast<int>(m), static_cast<int>(d));
}

std::string FormatYmd(int32_t ymd) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", ymd / 10000, (ymd / 100) % 100, ymd % 100);
  return buf;
}

std::string FormatNumber(double v) {
  char buf[32];
  std::to_chars_result r;
  if (std::fabs(v - std::round(v)) < 1e-9) r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(std::llround(v)));
  else r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

std::string FormatFixed2(double v) {
  char buf[352];  // room for any double in fixed notation
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
  return std::string(buf, r.ptr);
}

std::string FormatDuration(Micros d) {
  if (d % kDay == 0) return std::to_string(d / kDay) + "d";
  if (d % kHour == 0) return std::to_string(d / kHour) + "h";
  if (d % kMinute == 0) return std::to_string(d / kMinute) + "m";
  if (d % kSecond == 0) return std::to_string(d / kSecond) + "s";
  return std::to_string(d) + "us";
}

namespace {
// A byte's two lower-case hex digits.
constexpr std::array<std::array<char, 2>, 256> kHexPair = [] {
  std::array<std::array<char, 2>, 256> t{};
  for (int b = 0; b < 256; ++b) t[b] = {"0123456789abcdef"[b >> 4], "0123456789abcdef"[b & 15]};
  return t;
}();
}  // namespace

void AppendSha256Hex(std::string_view s, size_t hex_chars, std::string* out) {
  // SHA256() fetches the algorithm and allocates a digest context on every call (OpenSSL 3),
  // which costs more than hashing a finding's ~100 bytes: fetch once, one context per thread.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!md || !ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 || EVP_DigestUpdate(ctx.get(), s.data(), s.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1 || len != SHA256_DIGEST_LENGTH) {
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  }
  char hex[2 * SHA256_DIGEST_LENGTH];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::memcpy(hex + 2 * i, kHexPair[digest[i]].data(), 2);
  out->append(hex, std::min(hex_chars, sizeof hex));
}

std::string Sha256Hex(std::string_view s) {
  std::string out;
  AppendSha256Hex(s, 2 * SHA256_DIGEST_LENGTH, &out);
  return out;
}

namespace {
// Lower-case hex digit -> its value, anything else -> 0x80: a UUID's 32 digits decode without
// a branch per digit (random digits mispredict a 0-9 / a-f test about half the time).
constexpr std::array<uint8_t, 256> kHexVal = [] {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0x80;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 10);
  return t;
}();
// Where each byte's two digits are in the canonical 8-4-4-4-12 form.
constexpr uint8_t kUuidDigit[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
}  // namespace

void CompactId::Free() {
  if (tag_ == kHeap) delete[] heap();
  tag_ = kEmpty;
}

void CompactId::CopyFrom(const CompactId& o) {
  tag_ = o.tag_;
  std::memcpy(b_, o.b_, sizeof b_);
  if (tag_ == kHeap) {
    uint64_t n = o.heap_size();
    char* p = new char[n];
    std::memcpy(p, o.heap(), n);
    std::memcpy(b_, &p, sizeof p);
  }
}

CompactId& CompactId::operator=(const CompactId& o) {
  if (this == &o) return *this;
  Free();
  CopyFrom(o);
  return *this;
}

CompactId& CompactId::operator=(CompactId&& o) noexcept {
  if (this == &o) return *this;
  Free();
  StealFrom(o);
  return *this;
}

namespace {
// A lower-case canonical UUID's 16 bytes into out; false for any other text.
bool ParseUuid(std::string_view s, unsigned char (&out)[16]) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  uint8_t bad = 0;
  for (int i = 0; i < 16; ++i) {
    const uint8_t hi = kHexVal[static_cast<unsigned char>(s[kUuidDigit[i]])];
    const uint8_t lo = kHexVal[static_cast<unsigned char>(s[kUuidDigit[i] + 1])];
    bad |= hi | lo;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return !(bad & 0x80);
}

uint64_t Mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t TextKey(std::string_view s) { return Hash64(s) | kDedupeKeyBit; }

uint64_t UuidKey(const unsigned char* b) {
  uint64_t hi, lo;
  std::memcpy(&hi, b, 8);
  std::memcpy(&lo, b + 8, 8);
  return Mix64(hi ^ Mix64(lo + 0x9e3779b97f4a7c15ULL)) | kDedupeKeyBit;
}
}  // namespace

uint64_t DedupeKey(std::string_view id) {
  unsigned char b[16];
  return ParseUuid(id, b) ? UuidKey(b) : TextKey(id);
}

void CompactId::Set(std::string_view s) {
  Free();
  std::memset(b_, 0, sizeof b_);
  unsigned char out[16];
  if (ParseUuid(s, out)) {
    std::memcpy(b_, out, 16);
    tag_ = kUuid;
    return;
  }
  if (s.empty()) return;
  if (s.size() <= sizeof b_) {
    std::memcpy(b_, s.data(), s.size());
    tag_ = static_cast<uint8_t>(kInline + s.size() - 1);
    return;
  }
  char* p = new char[s.size()];
  std::memcpy(p, s.data(), s.size());
  uint64_t n = s.size();
  std::memcpy(b_, &p, sizeof p);
  std::memcpy(b_ + 8, &n, sizeof n);
  tag_ = kHeap;
}

void CompactId::AppendTo(std::string* out) const {
  if (tag_ != kUuid) {
    out->append(text());
    return;
  }
  // Two digits a byte from one table, at fixed places: no branch per byte.
  char buf[36];
  buf[8] = buf[13] = buf[18] = buf[23] = '-';
  for (int i = 0; i < 16; ++i) std::memcpy(buf + kUuidDigit[i], kHexPair[b_[i]].data(), 2);
  out->append(buf, 36);
}

uint64_t CompactId::DedupeKey() const { return tag_ == kUuid ? UuidKey(b_) : TextKey(text()); }

std::string CompactId::str() const {
  std::string out;
  AppendTo(&out);
  return out;
}

bool CompactId::operator==(const CompactId& o) const {
  if (tag_ != o.tag_) return false;
  if (tag_ != kHeap) return std::memcmp(b_, o.b_, sizeof b_) == 0;  // unused bytes are zero
  return heap_size() == o.heap_size() && std::memcmp(heap(), o.heap(), heap_size()) == 0;
}

void CompactId::Encode(Writer& w) const {
  if (tag_ == kUuid) {
    w.U(1);
    w.Raw(b_, 16);
    return;
  }
  w.U(0);
  w.S(text());
}

bool CompactId::Decode(Reader& r) {
  const uint64_t kind = r.U();
  if (kind == 1) {
    const char* p = r.Raw(16);
    if (!p) return false;
    Free();
    std::memcpy(b_, p, 16);
    tag_ = kUuid;
    return true;
  }
  // Text that reads as a UUID takes the UUID form here too, as in Set: the same id either way.
  std::string_view text = r.View();
  if (kind != 0 || !r.ok()) return false;
  Set(text);
  return true;
}

size_t CompactId::HeapBytes() const { return tag_ == kHeap ? heap_size() : 0; }

uint32_t Interner::Intern(std::string_view s) {
  auto it = index_.find(absl::string_view(s.data(), s.size()));
  if (it != index_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  index_.emplace(std::string(s), id);
  return id;
}

size_t Interner::ApproxBytes() const {
  size_t n = 0;
  for (const auto& s : strings_) n += 2 * (sizeof(std::string) + (s.size() > 15 ? s.size() : 0)) + 8;
  return n;
}

}  // namespace concord::alignment::engine
