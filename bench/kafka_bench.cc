// concord-kafka-bench: the Kafka side of scripts/bench (issue 7). Subcommands:
//   fill       fill the two input topics with a realistic event mix (CloudEvents, keyed by customer)
//   relay      plain librdkafka consume -> produce loop over those topics (the baseline)
//   consume    the same records read with the service's read-ahead, nothing produced (what any
//              reader of these topics does on this machine)
//   latency    steady-rate producer of complete customer stories; reads the findings topic and
//              reports produce -> finding latency (finding.last_evidence_at = produce time)
//   roundtrip  steady-rate produce -> consume on one topic (the latency baseline)
// Every subcommand prints ONE JSON object on stdout (the harness parses it); logs go to stderr.
// latency and roundtrip measure the steady state the issue asks for: samples of the first
// --warmup-seconds (2) are counted apart (warmup_samples). Before the alignment service looked
// its output topics up at start, the first second of findings waited ~1 s for the findings
// topic's metadata, which alone made the p99 of a 10-20 s run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/cli.h"
#include "common/kafka/cloudevents.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "concord/alignment/v1/alignment.pb.h"
#include "services/alignment/engine/test_util.h"

namespace {

using concord::bench::Args;
using concord::bench::Die;


using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace eng = concord::alignment::engine;
namespace t = concord::alignment::engine::testing;
namespace kafka = concord::kafka;
namespace ev = concord::events::v1;

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::unique_ptr<kafka::Producer> MakeProducer(const std::string& brokers, int linger_ms) {
  auto p = kafka::Producer::Create({.brokers = brokers, .client_id = "concord-bench", .linger_ms = linger_ms});
  if (!p.ok()) Die(p.status().ToString());
  return std::move(*p);
}

// A fresh idempotent producer first acquires its producer id; one synchronous record (an
// empty value, which both readers skip) keeps that out of the measured figures.
void WarmUp(kafka::Producer& p, const std::string& topic) {
  auto r = p.ProduceSync(topic, "warm-up", "", {}, 30s);
  if (!r.ok()) Die("warm-up produce: " + r.error_text);
}

// One customer's story (the engine_bench mix): a lead, a marketing offer, a sales call, a
// hand-off and its acceptance, a quote (every 4th conflicting with the offer), a follow-up,
// a contact duplicating the lead's person (every 10th a second, near-duplicate contact), a
// newsletter. `at(i)` gives the event time of step i.
template <typename At>
std::vector<ev::Event> Story(size_t c, At at) {
  std::string cs = std::to_string(c);
  t::Events b("domain:customer" + cs + ".com");
  // Event ids must be unique across customers: the builder's ids restart per customer.
  std::vector<ev::Event> out;
  out.push_back(b.Lead(at(0), "lead-" + cs, "Dana", "Scully", "dana@customer" + cs + ".com",
                       "+1 415 555 " + std::to_string(1000 + c % 9000)));
  out.push_back(b.Message(at(1), ev::TEAM_MARKETING, "mkt-auto", ev::MESSAGE_PURPOSE_PROMOTION,
                          "Spring offer: get 20% off Concord Pro with a 30-day free trial.", "Your spring offer"));
  out.push_back(b.Call(at(2), "rep-" + std::to_string(c % 50), "Discussed pricing for 40 seats, asked about SSO."));
  out.push_back(b.HandOff(at(3), "ho-" + cs));
  out.push_back(b.Accept(at(4), "ho-" + cs));
  out.push_back(b.Quote(at(5), "rep-" + std::to_string(c % 50), "q-" + cs, "concord-pro", 44,
                        (c % 4 == 0) ? std::optional<double>(10) : std::optional<double>(20)));
  out.push_back(b.Message(at(6), ev::TEAM_SALES, "rep-" + std::to_string(c % 50), ev::MESSAGE_PURPOSE_FOLLOW_UP,
                          "Thanks for the call, the quote is attached. Delivery by March 30."));
  out.push_back(b.Contact(at(7), "ct-" + cs, "Dana", "Scully", "dana@customer" + cs + ".com", "+1 415 555 0199"));
  if (c % 10 == 0) {
    out.push_back(b.Contact(at(8), "ct2-" + cs, "Dana", "Scully", "d.scully@customer" + cs + ".com", "415-555-0199"));
  }
  out.push_back(b.Message(at(9), ev::TEAM_MARKETING, "mkt-auto", ev::MESSAGE_PURPOSE_NEWSLETTER,
                          "This month: audit log improvements and a webinar on SSO."));
  out.push_back(b.Call(at(10), "rep-" + std::to_string(c % 50), "Follow-up: security review scheduled."));
  for (size_t i = 0; i < out.size(); ++i) out[i].set_id(eng::testing::RandomUuid(c, i));
  return out;
}

struct Record {
  std::string topic, key, value;
  kafka::Headers headers;
};

Record Encode(const ev::Event& e, const std::string& mkt_topic, const std::string& sales_topic) {
  Record r;
  r.topic = e.producer().team() == ev::TEAM_SALES ? sales_topic : mkt_topic;
  r.key = e.customer().customer_key();
  r.value = e.SerializeAsString();
  kafka::CloudEvent ce{e.id(), "/concord/bench", "io.concord.bench.v1",
                       kafka::Rfc3339(std::chrono::system_clock::time_point(std::chrono::microseconds(eng::ToMicros(e.occurred_at())))),
                       r.key, "concord.events.v1.Event"};
  r.headers = kafka::ToHeaders(ce);
  return r;
}

// "a,b" -> {"a", "b"}.
std::vector<std::string> SplitTopics(const std::string& list) {
  std::vector<std::string> out;
  for (size_t p = 0; p <= list.size();) {
    size_t q = std::min(list.find(',', p), list.size());
    if (q > p) out.push_back(list.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

// Delivery accounting shared by the producing subcommands.
struct Deliveries {
  std::atomic<int64_t> ok{0}, failed{0};
  kafka::Producer::Callback cb() {
    return [this](const kafka::DeliveryResult& r) { (r.ok() ? ok : failed)++; };
  }
};

void Produce(kafka::Producer& p, const Record& r, Deliveries& d) {
  while (true) {
    auto s = p.Produce(r.topic, r.key, r.value, r.headers, d.cb());
    if (s.ok()) return;
    // Queue full: let deliveries drain.
    std::this_thread::sleep_for(1ms);
  }
}

// fill: N events over C customers, groups of 1000 customers interleaved step by step (many
// keys sharing a partition); every 50th record is sent twice (a producer retry's duplicate).
int Fill(const Args& a) {
  const std::string brokers = a.Get("brokers", "127.0.0.1:9092");
  const std::string mkt = a.Get("marketing"), sales = a.Get("sales");
  const long long events = a.Int("events", 200000);
  const long long first_customer = a.Int("first-customer", 0);
  long long customers = a.Int("customers", std::max<long long>(1, events / 10));
  if (mkt.empty() || sales.empty()) Die("fill needs --marketing and --sales");
  auto producer = MakeProducer(brokers, 20);
  Deliveries d;
  const long long group = 1000;
  long long produced = 0, duplicates = 0, story_events = 0;
  std::map<std::string, long long> per_topic;
  auto t0 = Clock::now();
  // Event times: a past window, one group after another, so every story is in the past.
  const eng::Micros base = WallMicros() - 60LL * 24 * 3600 * eng::kSecond;
  for (long long g0 = first_customer; produced < events; g0 += group) {
    std::vector<std::vector<ev::Event>> stories;
    for (long long c = g0; c < g0 + group && c < first_customer + customers; ++c) {
      // Relative to the first customer: a later fill (--first-customer) is in the past too.
      const eng::Micros tc = base + ((g0 - first_customer) / group) * 10 * eng::kHour + (c - g0) * eng::kSecond;
      stories.push_back(Story(static_cast<size_t>(c), [&](int i) { return tc + i * eng::kHour; }));
    }
    if (stories.empty()) {  // more events than customers' stories: wrap around with new ids
      Die("--events exceeds what --customers can hold (about 10 events per customer)");
    }
    for (size_t step = 0; step < 12 && produced < events; ++step) {
      for (auto& s : stories) {
        if (step >= s.size() || produced >= events) continue;
        auto r = Encode(s[step], mkt, sales);
        Produce(*producer, r, d);
        ++produced;
        ++story_events;
        per_topic[r.topic]++;
        if (produced % 50 == 0 && produced < events) {
          Produce(*producer, r, d);
          ++produced;
          ++duplicates;
          per_topic[r.topic]++;
        }
      }
    }
  }
  if (auto s = producer->Flush(120s); !s.ok()) Die("flush: " + s.ToString());
  double secs = Seconds(Clock::now() - t0);
  std::printf("{\"produced\":%lld,\"delivered\":%lld,\"failed\":%lld,\"duplicates\":%lld,\"customers\":%lld,"
              "\"marketing\":%lld,\"sales\":%lld,\"seconds\":%.3f,\"events_per_s\":%.1f}\n",
              produced, (long long)d.ok.load(), (long long)d.failed.load(), duplicates, customers, per_topic[mkt],
              per_topic[sales], secs, produced / secs);
  return d.failed.load() == 0 ? 0 : 1;
}

// relay: consume both topics from the start (own group), produce every record unchanged to
// --out, store each offset after its produce call. Rate = records from the first consumed
// record to the last delivery acknowledged.
int Relay(const Args& a) {
  const std::string brokers = a.Get("brokers", "127.0.0.1:9092");
  const std::string out = a.Get("out");
  const long long expect = a.Int("expect", 0);
  std::vector<std::string> topics = SplitTopics(a.Get("in"));
  if (out.empty() || topics.empty() || expect <= 0) Die("relay needs --in a,b --out t --expect N --group g");
  auto consumer = kafka::Consumer::Create({.brokers = brokers,
                                           .group_id = a.Get("group", "concord-bench-relay"),
                                           .client_id = "concord-bench-relay",
                                           .topics = topics,
                                           .properties = {{"partition.assignment.strategy", "range"}}});
  if (!consumer.ok()) Die(consumer.status().ToString());
  auto producer = MakeProducer(brokers, 5);
  WarmUp(*producer, out);
  Deliveries d;
  long long consumed = 0;
  Clock::time_point first{};
  auto deadline = Clock::now() + std::chrono::seconds(a.Int("timeout-s", 300));
  while (d.ok.load() < expect && Clock::now() < deadline) {
    auto m = (*consumer)->Poll(consumed < expect ? 50ms : 5ms);
    if (!m || m->error()) continue;
    if (consumed == 0) first = Clock::now();
    ++consumed;
    while (true) {
      auto s = producer->Produce(out, m->key(), m->value(), m->headers(), d.cb());
      if (s.ok()) break;
      std::this_thread::sleep_for(1ms);
    }
    (void)(*consumer)->Store(*m);
  }
  auto last = Clock::now();
  (void)(*consumer)->Commit();
  (void)(*consumer)->Close();
  double secs = Seconds(last - first);
  std::printf("{\"consumed\":%lld,\"delivered\":%lld,\"failed\":%lld,\"seconds\":%.3f,\"events_per_s\":%.1f}\n", consumed,
              (long long)d.ok.load(), (long long)d.failed.load(), secs, d.ok.load() / secs);
  return d.ok.load() >= expect ? 0 : 1;
}

// consume: what the relay does without producing: both topics from the start (own group), each
// record read and its offset stored, with the consumer settings of the alignment service's
// read-ahead (--queued-kbytes, 16384). Rate = records from the first to the last read. The
// ceiling of any reader of these topics on this machine (the relay adds the produce side).
int Consume(const Args& a) {
  const long long expect = a.Int("expect", 0);
  std::vector<std::string> topics = SplitTopics(a.Get("in"));
  if (topics.empty() || expect <= 0) Die("consume needs --in a,b --expect N --group g");
  auto consumer = kafka::Consumer::Create(
      {.brokers = a.Get("brokers", "127.0.0.1:9092"),
       .group_id = a.Get("group", "concord-bench-consume"),
       .client_id = "concord-bench-consume",
       .topics = topics,
       .properties = {{"partition.assignment.strategy", "range"},
                      {"queued.max.messages.kbytes", std::to_string(a.Int("queued-kbytes", 16384))}}});
  if (!consumer.ok()) Die(consumer.status().ToString());
  long long consumed = 0, bytes = 0;
  Clock::time_point first{}, last{};
  auto deadline = Clock::now() + std::chrono::seconds(a.Int("timeout-s", 300));
  while (consumed < expect && Clock::now() < deadline) {
    auto m = (*consumer)->Poll(50ms);
    if (!m || m->error()) continue;
    if (consumed == 0) first = Clock::now();
    ++consumed;
    bytes += static_cast<long long>(m->value().size());
    last = Clock::now();
    (void)(*consumer)->Store(*m);
  }
  (void)(*consumer)->Commit();
  (void)(*consumer)->Close();
  double secs = Seconds(last - first);
  std::printf("{\"consumed\":%lld,\"value_bytes\":%lld,\"seconds\":%.3f,\"events_per_s\":%.1f}\n", consumed, bytes,
              secs, consumed / secs);
  return consumed >= expect ? 0 : 1;
}

struct Percentiles {
  std::vector<double> v;
  double At(double q) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())) - (q > 0 ? 1 : 0));
    return v[i];
  }
};

void PrintLatency(const char* extra, Percentiles& p, long long produced, double secs) {
  double p50 = p.At(0.5), p99 = p.At(0.99), p999 = p.At(0.999), mx = p.At(1.0);
  std::printf("{%s\"produced\":%lld,\"samples\":%zu,\"seconds\":%.3f,\"rate\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
              extra, produced, p.v.size(), secs, produced / secs, p50, p99, p999, mx);
}

// Paces `total` calls of send(i) at `rate` per second, waking at most once per `tick`: a
// sleep per record (10k wake-ups a second) cost this tool ~45% of a core, taken from the broker
// and the service it measures. Each record's time is still taken when it is sent.
// `late` (optional) gets how late each sleep ended, in ms: time the thread waited for a core
// after its timer fired. It measures the machine, not Kafka: a stall that every process on it
// saw, the broker's and the service's threads included.
template <typename F>
double Paced(long long total, double rate, F send, Percentiles* late = nullptr,
             std::chrono::microseconds tick = std::chrono::milliseconds(1)) {
  auto t0 = Clock::now();
  for (long long i = 0; i < total; ++i) {
    auto due = t0 + std::chrono::nanoseconds(static_cast<long long>(i * 1e9 / rate));
    auto now = Clock::now();
    if (due > now) {
      const auto wake = std::max(due, now + tick);
      std::this_thread::sleep_until(wake);
      if (late) late->v.push_back(std::chrono::duration<double, std::milli>(Clock::now() - wake).count());
    }
    send(i);
  }
  return Seconds(Clock::now() - t0);
}

// The pacing thread's late wake-ups as JSON fields (a trailing comma, for PrintLatency's extra).
std::string PacerFields(Percentiles& late) {
  const auto over = std::count_if(late.v.begin(), late.v.end(), [](double ms) { return ms >= 5; });
  char out[160];
  std::snprintf(out, sizeof out, "\"pacer_late_p99_ms\":%.3f,\"pacer_late_max_ms\":%.3f,\"pacer_late_over_5ms\":%lld,",
                late.At(0.99), late.At(1.0), static_cast<long long>(over));
  return out;
}

// The latency runs' records: one customer's story after another, each event stamped with the
// time it is sent (as live events are).
class LiveStories {
 public:
  explicit LiveStories(long long first_customer) : first_(first_customer), next_(first_customer) {}
  ev::Event& Next() {
    if (step_ >= story_.size()) {
      story_ = Story(static_cast<size_t>(next_++), [](int) { return eng::Micros(0); });
      step_ = 0;
    }
    auto& e = story_[step_++];
    eng::SetTimestamp(WallMicros(), e.mutable_occurred_at());
    return e;
  }
  long long customers() const { return next_ - first_; }

 private:
  long long first_, next_;
  std::vector<ev::Event> story_;
  size_t step_ = 0;
};

std::unique_ptr<kafka::Consumer> TailConsumer(const std::string& brokers, std::vector<std::string> topics,
                                              const std::string& group) {
  auto c = kafka::Consumer::Create({.brokers = brokers,
                                    .group_id = group,
                                    .client_id = "concord-bench-tail",
                                    .topics = std::move(topics),
                                    .auto_offset_reset = "latest"});
  if (!c.ok()) Die(c.status().ToString());
  return std::move(*c);
}

// Waits until the consumer has its assignment (so "latest" is before anything we produce).
void AwaitAssignment(kafka::Consumer& c) {
  auto deadline = Clock::now() + 30s;
  while (c.Assignment().empty() && Clock::now() < deadline) (void)c.Poll(50ms);
  (void)c.Poll(200ms);
}

// latency: complete customer stories at --rate events/s for --seconds, every event stamped
// with the wall clock as its occurred_at; a finding's last_evidence_at is then the produce
// time of the event that completed its evidence, and latency = read time - last_evidence_at.
int Latency(const Args& a) {
  const std::string brokers = a.Get("brokers", "127.0.0.1:9092");
  const std::string mkt = a.Get("marketing"), sales = a.Get("sales"), findings = a.Get("findings");
  const double rate = static_cast<double>(a.Int("rate", 5000));
  const long long total = static_cast<long long>(rate * a.Int("seconds", 20));
  const long long first_customer = a.Int("first-customer", 10000000);
  if (mkt.empty() || sales.empty() || findings.empty()) Die("latency needs --marketing --sales --findings");
  auto tail = TailConsumer(brokers, {findings}, a.Get("group", "concord-bench-latency"));
  AwaitAssignment(*tail);
  auto producer = MakeProducer(brokers, static_cast<int>(a.Int("linger-ms", 0)));
  WarmUp(*producer, findings);
  // The input topics' metadata too: the first records to a topic the producer has not seen
  // wait about a second for it, which showed up in the service's histograms as events a second
  // old (no record is written: the service would dead-letter an empty one).
  for (const auto& t : {mkt, sales}) {
    if (auto s = producer->Prepare(t, 30s); !s.ok()) Die("metadata of " + t + ": " + s.ToString());
  }
  Deliveries d;
  std::atomic<bool> done{false};
  const int64_t start_us = WallMicros();
  const int64_t measure_from_us = start_us + a.Int("warmup-seconds", 2) * 1000000;
  long long warmup = 0;
  Percentiles lat, in_service, after_publish;
  std::map<std::string, Percentiles> by_type;  // diagnostics on stderr: which detector is slow
  // CONCORD_BENCH_LATENCY_DUMP=<file>: "<evidence time since start, s> <latency, ms> <evidence ->
  // published, ms> <published -> read, ms>" per finding (the last two -1 without a detected_at).
  FILE* dump = std::getenv("CONCORD_BENCH_LATENCY_DUMP") ? std::fopen(std::getenv("CONCORD_BENCH_LATENCY_DUMP"), "w") : nullptr;
  if (dump) std::fprintf(dump, "# start %.6f (wall clock, s)\n", start_us / 1e6);  // to line it up with other traces
  long long findings_seen = 0;
  std::thread reader([&] {
    auto quiet_since = Clock::now();
    while (true) {
      auto m = tail->Poll(20ms);
      if (!m || m->error()) {
        if (done && Clock::now() - quiet_since > 3s) break;
        continue;
      }
      int64_t now = WallMicros();
      quiet_since = Clock::now();
      concord::alignment::v1::FindingEvent fe;
      if (!fe.ParseFromArray(m->value().data(), static_cast<int>(m->value().size())) || !fe.has_raised()) continue;
      const auto& f = fe.raised();
      if (!f.has_last_evidence_at()) continue;
      int64_t ev_us = eng::ToMicros(f.last_evidence_at());
      if (ev_us < start_us) continue;  // not ours
      if (ev_us < measure_from_us) {     // steady state only (see --warmup-seconds)
        ++warmup;
        continue;
      }
      ++findings_seen;
      lat.v.push_back((now - ev_us) / 1000.0);
      // The split: evidence -> the service publishes (its detected_at), and publish -> read here.
      double to_publish = -1, after = -1;
      if (f.has_detected_at()) {
        int64_t at_us = eng::ToMicros(f.detected_at());
        to_publish = (at_us - ev_us) / 1000.0;
        after = (now - at_us) / 1000.0;
        in_service.v.push_back(to_publish);
        after_publish.v.push_back(after);
      }
      by_type[concord::alignment::v1::FindingType_Name(f.type())].v.push_back((now - ev_us) / 1000.0);
      if (dump) std::fprintf(dump, "%.3f %.3f %.3f %.3f\n", (ev_us - start_us) / 1e6, (now - ev_us) / 1000.0, to_publish, after);
    }
  });
  LiveStories stories(first_customer);
  Percentiles late;
  double secs = Paced(total, rate, [&](long long) { Produce(*producer, Encode(stories.Next(), mkt, sales), d); }, &late);
  (void)producer->Flush(30s);
  done = true;
  reader.join();
  (void)tail->Close();
  if (dump) std::fclose(dump);
  for (auto& [type, p] : by_type) {
    std::fprintf(stderr, "latency %s: %zu findings, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", type.c_str(), p.v.size(),
                 p.At(0.5), p.At(0.99), p.At(1.0));
  }
  char extra[512];
  std::snprintf(extra, sizeof extra,
                "\"findings\":%lld,\"warmup_samples\":%lld,\"customers\":%lld,\"to_publish_p50_ms\":%.3f,"
                "\"to_publish_p99_ms\":%.3f,\"after_publish_p50_ms\":%.3f,\"after_publish_p99_ms\":%.3f,",
                findings_seen, warmup, stories.customers(), in_service.At(0.5), in_service.At(0.99),
                after_publish.At(0.5), after_publish.At(0.99));
  PrintLatency((extra + PacerFields(late)).c_str(), lat, total, secs);
  return 0;
}

// roundtrip: the same records at the same rate to one topic, read back by a consumer with
// the same settings; latency = read time - produce call time (carried in a header).
int Roundtrip(const Args& a) {
  const std::string brokers = a.Get("brokers", "127.0.0.1:9092");
  // One topic, or two ("mkt,sales"): the latency run's layout, each team's records to its topic.
  const auto topics = SplitTopics(a.Get("topic"));
  const double rate = static_cast<double>(a.Int("rate", 5000));
  const long long total = static_cast<long long>(rate * a.Int("seconds", 20));
  if (topics.empty() || topics.size() > 2) Die("roundtrip needs --topic t or --topic marketing,sales");
  const std::string& mkt = topics.front();
  const std::string& sales = topics.back();
  auto tail = TailConsumer(brokers, topics, a.Get("group", "concord-bench-roundtrip"));
  AwaitAssignment(*tail);
  auto producer = MakeProducer(brokers, static_cast<int>(a.Int("linger-ms", 0)));
  for (const auto& t : topics) WarmUp(*producer, t);
  Deliveries d;
  std::atomic<bool> done{false};
  Percentiles lat;
  const int64_t measure_from_us = WallMicros() + a.Int("warmup-seconds", 2) * 1000000;
  long long warmup = 0;
  std::thread reader([&] {
    auto quiet_since = Clock::now();
    while (true) {
      auto m = tail->Poll(20ms);
      if (!m || m->error()) {
        if (done && Clock::now() - quiet_since > 2s) break;
        continue;
      }
      int64_t now = WallMicros();
      quiet_since = Clock::now();
      auto h = m->header("bench_ts_us");
      if (!h) continue;
      int64_t sent_us = std::stoll(*h);
      if (sent_us < measure_from_us) {
        ++warmup;
        continue;
      }
      lat.v.push_back((now - sent_us) / 1000.0);
    }
  });
  LiveStories stories(20000000);
  Percentiles late;
  double secs = Paced(
      total, rate,
      [&](long long) {
        auto r = Encode(stories.Next(), mkt, sales);
        r.headers.push_back({"bench_ts_us", std::to_string(WallMicros())});
        Produce(*producer, r, d);
      },
      &late);
  (void)producer->Flush(30s);
  done = true;
  reader.join();
  (void)tail->Close();
  char extra[64];
  std::snprintf(extra, sizeof extra, "\"warmup_samples\":%lld,", warmup);
  PrintLatency((extra + PacerFields(late)).c_str(), lat, total, secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = concord::bench::ParseArgs(argc, argv, "concord-kafka-bench fill|relay|consume|latency|roundtrip --key value ...");
  const std::string& cmd = a.command;
  if (cmd == "fill") return Fill(a);
  if (cmd == "relay") return Relay(a);
  if (cmd == "consume") return Consume(a);
  if (cmd == "latency") return Latency(a);
  if (cmd == "roundtrip") return Roundtrip(a);
  Die("unknown subcommand " + cmd);
}
