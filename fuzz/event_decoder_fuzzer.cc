// libFuzzer target: services/alignment/event_codec.h DecodeEvent on arbitrary record key,
// CloudEvents headers and value bytes (layout in event_input.h).
// Invariants: never crashes; an accepted event has an id equal to ce_id, a payload, an
// occurred_at, and the record key as its customer key (when it has one); re-serializing an
// accepted event decodes again.

#include <cstdio>
#include <cstdlib>

#include "fuzz/event_input.h"
#include "services/alignment/event_codec.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "event_decoder invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using concord::alignment::DecodeEvent;
  auto in = concord::fuzz::SplitEventInput(data, size);
  auto ev = DecodeEvent(in.key, in.value, in.headers);
  if (!ev.ok()) {
    if (ev.status().message().empty()) Fail("a rejected record has no reason");
    return 0;
  }
  if (ev->id().empty()) Fail("accepted event without id");
  if (ev->payload_case() == concord::events::v1::Event::PAYLOAD_NOT_SET) Fail("accepted event without payload");
  if (!ev->has_occurred_at()) Fail("accepted event without occurred_at");
  if (!ev->customer().customer_key().empty() && ev->customer().customer_key() != in.key)
    Fail("accepted event whose customer key differs from the record key");
  std::string again = ev->SerializeAsString();
  auto ev2 = DecodeEvent(in.key, again, in.headers, {.max_record_bytes = again.size() + 1});
  if (!ev2.ok()) Fail("re-serialized accepted event is rejected");
  if (ev2->id() != ev->id()) Fail("re-serialized event has another id");
  return 0;
}
