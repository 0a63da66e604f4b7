#pragma once
// Structured logging: one JSON object per line on stdout
// {"ts":"2026-11-26T22:41:09.123Z","level":"info","service":"sales","msg":"...",<fields>}.
// spdlog does the thread-safe sink and level filtering; nlohmann::json does the escaping.

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace concord::log {

using Fields = nlohmann::json;  // an object; keys become top-level fields of the line

enum class Level { kDebug, kInfo, kWarn, kError };

// Sets the service name stamped on every line and the minimum level ("debug", "info",
// "warn", "error"). Returns false for an unknown level name.
bool Init(std::string_view service, std::string_view level);
bool ParseLevel(std::string_view name, Level* out);

// RFC 3339, UTC, milliseconds: 2026-11-26T22:41:09.123Z (log lines, CloudEvents ce_time).
std::string Rfc3339(std::chrono::system_clock::time_point t);

// Renders one log line (without the newline); exposed for tests.
std::string Format(Level level, std::string_view msg, const Fields& fields);

void Write(Level level, std::string_view msg, const Fields& fields = Fields::object());
inline void Debug(std::string_view m, const Fields& f = Fields::object()) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const Fields& f = Fields::object()) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const Fields& f = Fields::object()) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const Fields& f = Fields::object()) { Write(Level::kError, m, f); }

}  // namespace concord::log
