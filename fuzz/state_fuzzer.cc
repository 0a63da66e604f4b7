// libFuzzer target: the alignment engine's checkpoint decoder (state.cc, formats 1 to 5).
// Checkpoints come back from Redis, so damaged or foreign bytes must be refused or decode to a
// state the engine can hold.
// Invariants: DecodeState never crashes or leaks on any input; a state it accepts encodes to
// bytes that decode again, and encoding that state gives the same bytes (one round reaches the
// fixpoint: nothing is lost between the encoder and the decoder).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "services/alignment/engine/state.h"

namespace engine = concord::alignment::engine;

namespace {

void Fail(const char* what, size_t a, size_t b) {
  std::fprintf(stderr, "state invariant violated: %s (%zu vs %zu bytes)\n", what, a, b);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  engine::Interner strings;
  strings.Intern("");  // as the engine does: interned id 0 is the empty string
  engine::CustomerState s;
  if (!engine::DecodeState(std::string_view(reinterpret_cast<const char*>(data), size), &s, &strings)) return 0;
  const std::string once = engine::EncodeState(s, strings);
  engine::CustomerState t;
  if (!engine::DecodeState(once, &t, &strings)) Fail("the encoding of a decoded state does not decode", once.size(), 0);
  const std::string twice = engine::EncodeState(t, strings);
  if (twice != once) Fail("encode(decode(encode(state))) differs", once.size(), twice.size());
  return 0;
}
