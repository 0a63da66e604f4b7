#pragma once
// changed_fields of the *Updated / *Revised payloads: proto field names of an entity whose
// values differ between two versions, dotted for the nested messages listed in `expand`
// (e.g. "person" -> "person.email"), sorted, without duplicates. Fields in `ignore`
// (typically "version", "updated_at") are skipped.

#include <set>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

namespace concord::writes {

std::vector<std::string> ChangedFields(const google::protobuf::Message& before, const google::protobuf::Message& after,
                                       const std::set<std::string>& ignore = {"version", "updated_at"},
                                       const std::set<std::string>& expand = {});

}  // namespace concord::writes
