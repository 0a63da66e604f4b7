// concord-alignment: wiring only. The logic lives in the engine (detection), the processor
// (Kafka in, findings out, checkpoints) and the API library (findings, views, playbook).
#include <fstream>
#include <sstream>

#include "common/logging/log.h"
#include "common/runtime/runtime.h"
#include "services/alignment/api/alignment_api.h"
#include "services/alignment/engine_adapter.h"
#include "services/alignment/playbook_watcher.h"
#include "services/alignment/processor.h"

int main(int argc, char** argv) {
  using namespace concord;
  namespace engine = alignment::engine;
  runtime::Main app("alignment", "Concord alignment service: finds duplicated work and conflicting customer messages",
                    // Findings go out 1 ms after they are raised, not 5: the latency runs' p50
                    // fell from ~6 to ~2.4 ms, and a 1M replay's throughput did not drop.
                    {.grpc_listen = "0.0.0.0:50053", .admin_listen = "0.0.0.0:9103", .producer_linger_ms = 1});
  alignment::ProcessorOptions popts;
  std::string playbook_path = "/etc/concord/playbook.yaml";
  int reload_seconds = 5;
  int max_record_kib = 1024;
  int reorder_grace_ms = 100;
  int checkpoint_interval_ms = 200;
  int hot_customers = 10000;
  int hot_idle_seconds = static_cast<int>(popts.hot_idle.count() / 1000);
  int max_inflight_mib = static_cast<int>(popts.max_sealed_bytes >> 20);
  auto& p = app.parser();
  p.Add("--playbook", &playbook_path,
        "Playbook YAML (price book, catalog, ownership, windows, SLAs); installed as a new version when it changes");
  p.Add("--playbook-reload-seconds", &reload_seconds, "How often the playbook file and the stored version are checked")
      ->check(CLI::Range(1, 3600));
  p.Add("--group-id", &popts.group_id, "Kafka consumer group of the alignment instances");
  p.Add("--redis-prefix", &popts.redis_prefix, "Prefix of this deployment's Redis keys (findings, state, playbook)");
  p.Add("--input-topics", &popts.input_topics,
        "Marketing's and sales' event topics (two, comma-separated; same partition count, keyed by customer)")
      ->delimiter(',');
  p.Add("--findings-topic", &popts.findings_topic, "Topic findings and their status changes are published to");
  p.Add("--dlq-topic", &popts.dlq_topic, "Dead-letter topic for records that cannot be decoded");
  p.Add("--max-batch", &popts.max_batch, "Records read per engine pass")->check(CLI::Range(1, 100000));
  p.Add("--checkpoint-interval-ms", &checkpoint_interval_ms,
        "How often state, findings and offsets are checkpointed (findings are published at once; a crash replays "
        "at most this much)")
      ->check(CLI::Range(1, 60000));
  p.Add("--max-record-kib", &max_record_kib, "Larger input records go to the dead-letter topic")->check(CLI::Range(1, 65536));
  p.Add("--reorder-grace-ms", &reorder_grace_ms,
        "Hold each event this long (by event time) so the other team's slightly later records are ordered before it")
      ->check(CLI::Range(0, 60000));
  p.Add("--reorder-held-per-partition", &popts.held_per_partition,
        "Stop fetching a partition while this many of its events wait for the other team's partition (a backlog; "
        "0 = never)")
      ->check(CLI::Range(0, 1000000));
  p.Add("--hot-customers", &hot_customers,
        "Customers kept decoded in memory; the least recently used beyond are kept as their checkpoint bytes (about "
        "half the memory) and decoded again on their next event (~2 us). 0 = all decoded")
      ->check(CLI::Range(0, 100000000));
  p.Add("--hot-idle-seconds", &hot_idle_seconds,
        "Decoded customers with no event or timer for one to two of these periods go cold too, so that memory "
        "follows activity (0 = only the --hot-customers limit)")
      ->check(CLI::Range(0, 86400));
  p.Add("--max-inflight-mib", &max_inflight_mib,
        "Memory for findings, dead letters and checkpoints on their way to Kafka and Redis; past it, reading waits "
        "until Redis has taken a checkpoint (bounds a replay's peak: see the README's memory sizing)")
      ->check(CLI::Range(1, 65536));

  app.AddValidator([&]() -> std::vector<std::string> {
    // Partition N of one topic is ordered against partition N of the other (see processor.h).
    if (popts.input_topics.size() != 2 || popts.input_topics[0].empty() || popts.input_topics[1].empty() ||
        popts.input_topics[0] == popts.input_topics[1]) {
      std::string got;
      for (const auto& t : popts.input_topics) got += (got.empty() ? "" : ",") + t;
      return {config::Problem("--input-topics", "must name two different topics (marketing's, sales'), got \"" + got + "\"")};
    }
    return {};
  });
  std::optional<engine::Playbook> playbook;
  std::string playbook_yaml;
  app.AddValidator([&]() -> std::vector<std::string> {
    std::ifstream in(playbook_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    playbook_yaml = ss.str();
    auto load = engine::LoadPlaybook(playbook_yaml, 1);
    if (!in || !load.ok()) {
      return {config::Problem("--playbook", playbook_path + " is not a valid playbook:\n    " +
                                                (in ? load.ErrorText() : std::string("cannot be read")))};
    }
    playbook = std::move(*load.playbook);
    return {};
  });

  std::unique_ptr<alignment::EngineAdapter> adapter;
  std::unique_ptr<alignment::Processor> processor;
  std::unique_ptr<alignment::api::AlignmentApi> api;
  std::unique_ptr<alignment::PlaybookWatcher> watcher;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) -> absl::Status {
    const auto& cfg = rt.config();
    adapter = std::make_unique<alignment::EngineAdapter>(std::move(*playbook));
    adapter->SetMaxHotCustomers(static_cast<size_t>(hot_customers));
    popts.brokers = cfg.kafka.brokers;
    popts.kafka_properties = cfg.kafka.Properties();
    popts.instance_id = cfg.instance_id;
    popts.source = rt.source();
    popts.limits.max_record_bytes = static_cast<size_t>(max_record_kib) * 1024;
    popts.reorder_grace = std::chrono::milliseconds(reorder_grace_ms);
    popts.checkpoint_interval = std::chrono::milliseconds(checkpoint_interval_ms);
    popts.hot_idle = std::chrono::seconds(hot_idle_seconds);
    popts.max_sealed_bytes = static_cast<size_t>(max_inflight_mib) << 20;

    alignment::api::AlignmentApiOptions aopts;
    aopts.redis_prefix = popts.redis_prefix;
    aopts.findings_topic = popts.findings_topic;
    aopts.source = rt.source();
    aopts.authz = &rt.authorizer();
    aopts.on_playbook_installed = [&](const engine::Playbook& pb) { adapter->ReplacePlaybook(pb); };
    // The engine's in-memory picture of a customer (this instance's partitions only).
    aopts.customer_view = [&](const std::string& key,
                              uint32_t max_touches) -> absl::StatusOr<std::optional<alignment::v1::CustomerView>> {
      auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
      std::optional<alignment::v1::CustomerView> view;
      adapter->WithEngine([&](const engine::Engine& e) { view = e.CustomerView(key, max_touches, now.count()); });
      return view;
    };
    // Scorecard activity from the engine's per-day counters (team / overall) or per-customer
    // state (segments); covers the events this instance processed.
    aopts.scorecard_activity = [&](const alignment::v1::ScorecardScope& scope, std::chrono::system_clock::time_point start,
                                   std::chrono::system_clock::time_point end) -> absl::StatusOr<alignment::api::ScorecardActivity> {
      auto us = [](std::chrono::system_clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
      };
      engine::ActivitySummary a;
      adapter->WithEngine([&](const engine::Engine& e) {
        a = scope.has_segment() ? e.ScorecardActivity(scope.segment(), us(start), us(end))
                                : e.ScorecardActivity(scope.team(), us(start), us(end));
      });
      alignment::api::ScorecardActivity out;
      out.customers_touched = a.customers_touched;
      out.touches = a.touches;
      out.claims = a.claims;
      out.handoffs_due = a.handoffs_due;
      out.handoffs_within_sla = a.handoffs_within_sla;
      out.handoffs_accepted = a.handoffs_accepted;
      if (a.median_time_to_accept) out.median_time_to_accept = std::chrono::milliseconds(*a.median_time_to_accept / 1000);
      return out;
    };
    api = std::make_unique<alignment::api::AlignmentApi>(aopts, rt.redis(), rt.producer(), rt.metrics());

    // The playbook: versions in Redis; the file installs a new one when it differs.
    alignment::PlaybookSource source;
    source.apply = [&](engine::Playbook pb) { adapter->ReplacePlaybook(std::move(pb)); };
    source.current = [&]() -> absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> {
      auto lease = rt.redis().Acquire(std::chrono::seconds(2));
      if (!lease.ok()) return lease.status();
      auto pb = api->playbooks().Get(**lease, 0);
      if (!pb.ok()) return pb.status();
      if (!pb->has_value()) return std::optional<std::pair<uint64_t, std::string>>();
      return std::make_optional(std::make_pair((*pb)->version(), (*pb)->yaml()));
    };
    source.install = [&](const std::string& yaml, const std::string& from) -> absl::StatusOr<uint64_t> {
      auto lease = rt.redis().Acquire(std::chrono::seconds(2));
      if (!lease.ok()) return lease.status();
      auto cur = api->playbooks().Current(**lease);
      if (!cur.ok()) return cur.status();
      alignment::v1::Playbook pb;
      pb.set_yaml(yaml);
      pb.set_sha256(alignment::api::Sha256Hex(yaml));
      pb.set_source(from);
      pb.mutable_loaded_by()->set_id("system:alignment-" + cfg.instance_id);
      pb.mutable_loaded_by()->set_team(events::v1::TEAM_ALIGNMENT);
      pb.mutable_loaded_by()->set_kind(events::v1::ACTOR_KIND_SYSTEM);
      auto now = std::chrono::system_clock::now().time_since_epoch();
      pb.mutable_loaded_at()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
      auto r = api->playbooks().Install(**lease, pb, *cur, "", "");
      if (!r.ok()) return r.status();
      if (!r->applied) return absl::AbortedError("another version was installed meanwhile");
      return r->current;
    };
    watcher = std::make_unique<alignment::PlaybookWatcher>(playbook_path, std::chrono::seconds(reload_seconds), source);
    if (auto s = watcher->Sync(); !s.ok()) {
      // Redis not there yet: run on the file's playbook; the watcher installs it later.
      log::Warn("playbook versions not reachable yet; using the file", {{"error", s.ToString()}});
    }
    if (auto s = api->Start(); !s.ok()) return s;

    redis::Options ro{.host = cfg.redis.host,
                      .port = cfg.redis.port,
                      .password = cfg.redis.password,
                      .db = cfg.redis.db,
                      .connect_timeout = std::chrono::milliseconds(cfg.redis.connect_timeout_ms),
                      .command_timeout = std::chrono::milliseconds(cfg.redis.command_timeout_ms)};
    processor = std::make_unique<alignment::Processor>(popts, ro, rt.producer(), *adapter);
    rt.server().AddService(api.get(), alignment::api::AlignmentApi::service_full_name());
    rt.server().AddReadinessCheck({"processor", [&] { return processor->Ping(); }});
    if (auto s = processor->Start(); !s.ok()) return s;
    watcher->Start();
    rt.OnDrainStart([&] { api->Shutdown(); });  // watch streams end now, telling clients to resume
    rt.OnShutdown([&] {
      watcher->Stop();
      processor->Stop();  // finishes the batch: published and checkpointed
    });
    return absl::OkStatus();
  });
}
