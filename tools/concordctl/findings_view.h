#pragma once
// How findings look in concordctl, and finding-id prefix resolution.

#include <ostream>
#include <string>

#include "concord/alignment/v1/alignment.grpc.pb.h"
#include "tools/concordctl/context.h"
#include "tools/concordctl/format.h"

namespace concord::ctl {

std::string FindingTypeName(int type);     // "conflicting-claim"
std::string SeverityName(int severity);    // "high"
std::string StatusName(int status);        // "open"
std::string TeamName(int team);            // "sales"
std::string ActorName(const events::v1::Actor& a);  // "sales/rep-li"

// ID, TYPE, SEVERITY, STATUS, CUSTOMER, TITLE, AGE.
Table FindingsTable(bool wide);
void AddFindingRow(Table& t, const alignment::v1::Finding& f, bool wide);
// Header, summary, evidence, action, status history, details.
void PrintFinding(std::ostream& out, const alignment::v1::Finding& f);

// GetFinding by id; when that is NOT_FOUND and `id` is shorter than a full id, the unique
// finding whose id starts with it (ListFindings scan). CallError NOT_FOUND / UsageError
// (ambiguous) otherwise.
alignment::v1::Finding ResolveFinding(Context& ctx, alignment::v1::AlignmentService::Stub& stub, const std::string& id);

}  // namespace concord::ctl
