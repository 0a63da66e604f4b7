#pragma once
// Formatting and parsing helpers of concordctl: aligned tables, durations, ages, money,
// enum names and the exit code of a failed call. Pure functions, unit-tested.

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/status.h>

namespace concord::ctl {

// Exit codes (also documented in tools/concordctl/README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitRejected = 4;     // INVALID_ARGUMENT, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE
inline constexpr int kExitUnavailable = 5;  // UNAVAILABLE, DEADLINE_EXCEEDED
inline constexpr int kExitRefused = 6;      // UNAUTHENTICATED, PERMISSION_DENIED (token, team, role)

int ExitCodeFor(grpc::StatusCode code);
// "NOT_FOUND", "UNAVAILABLE", ...
std::string StatusCodeName(grpc::StatusCode code);
// The one line printed on failure: "concordctl: NOT_FOUND: finding f-12 not found".
// Newlines in the message become "; ".
std::string ErrorLine(std::string_view code, std::string_view message);

// Display width of UTF-8 text (code points; invalid bytes count one each).
size_t DisplayWidth(std::string_view s);
// At most `width` columns; cut text ends with "…". Newlines and tabs become spaces.
std::string Truncate(std::string_view s, size_t width);

// A table with left-aligned columns separated by two spaces; a column may have a maximum
// width (longer cells are truncated). Numbers are not special: callers format them.
class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<size_t> max_widths = {});
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // Header line, then one line per row; trailing spaces are trimmed.
  void Render(std::ostream& out) const;
  std::string ToString() const;

 private:
  std::vector<std::string> headers_;
  std::vector<size_t> max_widths_;
  std::vector<std::vector<std::string>> rows_;
};

// Two columns "key  value", keys aligned; for single records.
std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& rows);

// Compact age: "0s", "45s", "12m", "3h", "2d", "5w" (rounded down); negative -> "0s".
std::string FormatAge(std::chrono::seconds age);
// Precise duration: "850ms", "12s", "1m05s", "2h03m", "3d04h".
std::string FormatDuration(std::chrono::milliseconds d);
// "90s", "15m", "1h30m", "7d", "500ms", "2.5h"; also a bare number of seconds.
// nullopt on anything else or a negative value.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

// Exact decimal money: "49", "44.10", "-3.5" -> units + nanos (nanos same sign as units).
struct MoneyParts {
  int64_t units = 0;
  int32_t nanos = 0;
};
std::optional<MoneyParts> ParseMoney(std::string_view s);
// "USD 44.10" (at least two decimals, more when the nanos need them).
std::string FormatMoney(std::string_view currency, int64_t units, int32_t nanos);

// Enum value names without their prefix, lower-case with dashes:
// (FindingType, "FINDING_TYPE_", 1) -> "conflicting-claim". Unknown numbers -> "<n>".
std::string ShortEnumName(const google::protobuf::EnumDescriptor* e, std::string_view prefix, int value);
// Inverse, forgiving: "conflicting-claim", "CONFLICTING_CLAIM", "FINDING_TYPE_CONFLICTING_CLAIM"
// all give 1. nullopt when unknown or when it names the *_UNSPECIFIED value.
std::optional<int> ParseEnum(const google::protobuf::EnumDescriptor* e, std::string_view prefix, std::string_view text);
// Valid names for error messages: "conflicting-claim, off-book-claim, ...".
std::string EnumChoices(const google::protobuf::EnumDescriptor* e, std::string_view prefix);

// Comma-separated list, items trimmed, empty items dropped.
std::vector<std::string> SplitList(std::string_view s);

// Finding ids are "f-" + 32 hex; tables show the first 10 characters.
std::string ShortId(std::string_view id, size_t n = 10);

}  // namespace concord::ctl

namespace concord::ctl {
// Cells padded (or truncated) to fixed widths, two spaces apart, for streamed rows whose
// column widths cannot be measured in advance. A width of 0 leaves the cell as it is.
std::string FixedRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths);
}  // namespace concord::ctl
