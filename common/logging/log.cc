#include "common/logging/log.h"

#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace concord::log {
namespace {

struct State {
  std::string service = "concord";
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State* state = [] {
    auto* s = new State();
    s->logger = std::make_shared<spdlog::logger>("concord", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    s->logger->set_pattern("%v");
    s->logger->set_level(spdlog::level::info);
    s->logger->flush_on(spdlog::level::debug);  // logs are for humans and collectors: no buffering
    return s;
  }();
  return *state;
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* Name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

bool ParseLevel(std::string_view name, Level* out) {
  if (name == "debug") *out = Level::kDebug;
  else if (name == "info") *out = Level::kInfo;
  else if (name == "warn" || name == "warning") *out = Level::kWarn;
  else if (name == "error") *out = Level::kError;
  else return false;
  return true;
}

bool Init(std::string_view service, std::string_view level) {
  Level l;
  if (!ParseLevel(level, &l)) return false;
  auto& s = GetState();
  s.service = std::string(service);
  s.logger->set_level(ToSpd(l));
  return true;
}

std::string Format(Level level, std::string_view msg, const Fields& fields) {
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = Rfc3339(std::chrono::system_clock::now());
  line["level"] = Name(level);
  line["service"] = GetState().service;
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (!line.contains(it.key())) line[it.key()] = it.value();
    }
  }
  // Replace invalid UTF-8 rather than throwing: a log line must never take the service down.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Write(Level level, std::string_view msg, const Fields& fields) {
  auto& s = GetState();
  if (!s.logger->should_log(ToSpd(level))) return;
  s.logger->log(ToSpd(level), Format(level, msg, fields));
}

}  // namespace concord::log
