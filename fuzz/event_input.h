#pragma once
// Input layout of the event decoder fuzz target, shared with the seed generator
// (seed_events.cc) so that the committed seeds stay meaningful:
//   [1 byte key length k][k bytes record key]
//   [1 byte header count n (mod 16)]
//   n x ([1 byte name length][name][1 byte value length][value])
//   [the rest: the record value]
// A truncated input just yields fewer headers / a shorter key: every input is valid.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/kafka/handle.h"

namespace concord::fuzz {

struct EventInput {
  std::string key;
  kafka::Headers headers;
  std::string value;
};

inline EventInput SplitEventInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto take = [&in](size_t n) {
    n = n < in.size() ? n : in.size();
    std::string out(in.substr(0, n));
    in.remove_prefix(n);
    return out;
  };
  auto byte = [&in]() -> size_t {
    if (in.empty()) return 0;
    size_t b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    return b;
  };
  EventInput ev;
  ev.key = take(byte());
  size_t n = byte() % 16;
  for (size_t i = 0; i < n && !in.empty(); ++i) {
    kafka::Header h;
    h.key = take(byte());
    h.value = take(byte());
    ev.headers.push_back(std::move(h));
  }
  ev.value = std::string(in);
  return ev;
}

// The inverse, for the seed generator (strings longer than 255 bytes are cut).
inline std::string JoinEventInput(const EventInput& ev) {
  std::string out;
  auto put = [&out](std::string_view s) {
    if (s.size() > 255) s = s.substr(0, 255);
    out.push_back(static_cast<char>(s.size()));
    out.append(s);
  };
  put(ev.key);
  out.push_back(static_cast<char>(ev.headers.size() % 16));
  for (const auto& h : ev.headers) {
    put(h.key);
    put(h.value);
  }
  out += ev.value;
  return out;
}

}  // namespace concord::fuzz
