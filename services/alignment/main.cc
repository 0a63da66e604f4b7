// concord-alignment: wiring only. The logic lives in the engine (detection), the processor
// (Kafka in, findings out, checkpoints) and the API library.
#include <iostream>

#include "common/runtime/runtime.h"
#include "concord/alignment/v1/alignment.grpc.pb.h"
#include "services/alignment/engine_adapter.h"
#include "services/alignment/playbook_watcher.h"
#include "services/alignment/processor.h"

int main(int argc, char** argv) {
  using namespace concord;
  runtime::Main app("alignment", "Concord alignment service: finds duplicated work and conflicting customer messages",
                    {.grpc_listen = "0.0.0.0:50053", .admin_listen = "0.0.0.0:9103"});
  alignment::ProcessorOptions popts;
  std::string playbook_path = "/etc/concord/playbook.yaml";
  int reload_seconds = 5;
  int max_record_kib = 1024;
  auto& p = app.parser();
  p.Add("--playbook", &playbook_path, "Playbook YAML (price book, catalog, ownership, windows, SLAs); reloaded when it changes");
  p.Add("--playbook-reload-seconds", &reload_seconds, "How often the playbook file is checked for changes")->check(CLI::Range(1, 3600));
  p.Add("--group-id", &popts.group_id, "Kafka consumer group of the alignment instances");
  p.Add("--findings-topic", &popts.findings_topic, "Topic findings and their status changes are published to");
  p.Add("--dlq-topic", &popts.dlq_topic, "Dead-letter topic for records that cannot be decoded");
  p.Add("--max-batch", &popts.max_batch, "Records per processing batch (one publish + checkpoint)")->check(CLI::Range(1, 100000));
  p.Add("--max-record-kib", &max_record_kib, "Larger input records go to the dead-letter topic")->check(CLI::Range(1, 65536));

  namespace engine = alignment::engine;
  std::optional<engine::Playbook> playbook;
  app.AddValidator([&]() -> std::vector<std::string> {
    auto load = engine::LoadPlaybookFile(playbook_path, 1);
    if (!load.ok()) return {config::Problem("--playbook", playbook_path + " is not a valid playbook:\n    " + load.ErrorText())};
    playbook = std::move(*load.playbook);
    return {};
  });

  std::unique_ptr<alignment::EngineAdapter> adapter;
  std::unique_ptr<alignment::Processor> processor;
  std::unique_ptr<alignment::PlaybookWatcher> watcher;
  alignment::v1::AlignmentService::CallbackService service;
  return app.Run(argc, argv, [&](runtime::Runtime& rt) -> absl::Status {
    const auto& cfg = rt.config();
    adapter = std::make_unique<alignment::EngineAdapter>(std::move(*playbook));
    popts.brokers = cfg.kafka.brokers;
    popts.kafka_properties = cfg.kafka.Properties();
    popts.instance_id = cfg.instance_id;
    popts.source = rt.source();
    popts.limits.max_record_bytes = static_cast<size_t>(max_record_kib) * 1024;
    redis::Options ro{.host = cfg.redis.host,
                      .port = cfg.redis.port,
                      .password = cfg.redis.password,
                      .db = cfg.redis.db,
                      .connect_timeout = std::chrono::milliseconds(cfg.redis.connect_timeout_ms),
                      .command_timeout = std::chrono::milliseconds(cfg.redis.command_timeout_ms)};
    processor = std::make_unique<alignment::Processor>(popts, ro, rt.producer(), *adapter);
    watcher = std::make_unique<alignment::PlaybookWatcher>(
        playbook_path, adapter->playbook_version(), std::chrono::seconds(reload_seconds),
        [&](engine::Playbook pb) { adapter->ReplacePlaybook(std::move(pb)); });
    rt.server().AddService(&service, alignment::v1::AlignmentService::service_full_name());
    rt.server().AddReadinessCheck({"processor", [&] { return processor->Ping(); }});
    if (auto s = processor->Start(); !s.ok()) return s;
    watcher->Start();
    rt.OnShutdown([&] {
      watcher->Stop();
      processor->Stop();  // finishes the batch: published and checkpointed
    });
    return absl::OkStatus();
  });
}
