// Writes the event decoder's seed corpus (fuzz/corpus/event_decoder/): realistic records as
// the services publish them, in the layout of event_input.h. Regenerate after a schema change:
//   build-fuzz/bin/concord_fuzz_seed_events fuzz/corpus/event_decoder

#include <google/protobuf/text_format.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/kafka/cloudevents.h"
#include "concord/events/v1/events.pb.h"
#include "fuzz/event_input.h"

namespace {

using concord::events::v1::Event;

Event Parse(const char* text) {
  Event e;
  if (!google::protobuf::TextFormat::ParseFromString(text, &e)) {
    std::fprintf(stderr, "bad text proto: %s\n", text);
    std::exit(1);
  }
  return e;
}

concord::kafka::Headers Headers(const Event& e, const char* type) {
  return concord::kafka::ToHeaders({e.id(), "/concord/sales/sales-0", type, "2026-01-15T10:00:00.000Z",
                                    e.customer().customer_key(), "concord.events.v1.Event"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out dir>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int n = 0;
  auto write = [&](const std::string& name, const concord::fuzz::EventInput& in) {
    std::ofstream(dir + "/" + name, std::ios::binary) << concord::fuzz::JoinEventInput(in);
    ++n;
  };

  struct Seed {
    const char* name;
    const char* type;
    const char* text;
  } seeds[] = {
      {"message_sent", "io.concord.marketing.message-sent.v1",
       R"(id: "ev-1" occurred_at { seconds: 1768471200 } customer { customer_key: "domain:globex.io" account_id: "A-1" }
          request_id: "r-1" message_sent { delivery_id: "d-1" recipient { customer_key: "domain:globex.io" } })"},
      {"quote_issued", "io.concord.sales.quote-issued.v1",
       R"(id: "ev-2" occurred_at { seconds: 1768471300 nanos: 5000 } customer { customer_key: "domain:acme.com" }
          quote_issued { quote { id: "Q-1" version: 2 account_id: "A-7" currency_code: "USD"
                                 notes: "Concord Pro at 10% off, 14-day trial" } })"},
      {"lead_captured", "io.concord.marketing.lead-captured.v1",
       R"(id: "ev-3" occurred_at { seconds: 1768471400 } customer { customer_key: "email:dana@gmail.com" }
          lead_captured { })"},
      {"campaign", "io.concord.marketing.campaign-launched.v1",
       R"(id: "ev-4" occurred_at { seconds: 1768471500 } campaign_launched { })"},
  };
  for (const auto& s : seeds) {
    Event e = Parse(s.text);
    std::string key = e.customer().customer_key().empty() ? "campaign:C-1" : e.customer().customer_key();
    write(s.name, {key, Headers(e, s.type), e.SerializeAsString()});
  }
  // Rejected records: the reasons the dead-letter topic knows.
  Event e = Parse(seeds[0].text);
  write("bad_garbage", {"domain:globex.io", Headers(e, seeds[0].type), "\xff\xff garbage"});
  write("bad_no_headers", {"domain:globex.io", {}, e.SerializeAsString()});
  write("bad_key", {"domain:other.io", Headers(e, seeds[0].type), e.SerializeAsString()});
  Event unknown = e;
  unknown.clear_payload();
  write("bad_unknown_payload", {"domain:globex.io", Headers(e, seeds[0].type),
                                unknown.SerializeAsString() + std::string("\xba\x3e\x02\x08\x01", 5)});
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}
