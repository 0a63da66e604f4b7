#pragma once
// Redis layout of the sales service, under the Store prefix P ("concord:sales" in production):
//
//   P:e:<type>:<id>           hash {v, d}: the entity (serialized concord.events.v1.<Type>)
//       types: account contact handoff activity quote commitment opportunity message
//   P:ix:<index>              sorted set of ids, score = created_at in ms (activities:
//                             occurred_at; messages: sent_at), newest first when listed
//   P:req:<request_id>        idempotency record (fingerprint + serialized response), 24 h
//   P:outbox                  stream of events waiting for the relay
//
// Indexes are append-only supersets: a record is added under every value it ever had
// (e.g. each owner), and List re-checks every filter on the entity itself, so a stale
// membership costs a skipped row, never a wrong one.

#include <string>
#include <string_view>

namespace concord::sales::layout {

inline constexpr std::string_view kAccount = "account";
inline constexpr std::string_view kContact = "contact";
inline constexpr std::string_view kHandoff = "handoff";
inline constexpr std::string_view kActivity = "activity";
inline constexpr std::string_view kQuote = "quote";
inline constexpr std::string_view kCommitment = "commitment";
inline constexpr std::string_view kOpportunity = "opportunity";
inline constexpr std::string_view kMessage = "message";

// "<type>s" lists every record of a type; "<type>s:<field>:<value>" those with that value.
inline std::string All(std::string_view type) { return std::string(type) + "s"; }
inline std::string By(std::string_view type, std::string_view field, std::string_view value) {
  return std::string(type) + "s:" + std::string(field) + ":" + std::string(value);
}

}  // namespace concord::sales::layout
