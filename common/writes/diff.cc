#include "common/writes/diff.h"

#include <algorithm>

#include <google/protobuf/util/message_differencer.h>

namespace concord::writes {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::util::MessageDifferencer;

// Whether `f` holds the same value in both, as MessageDifferencer::Equals on messages holding
// only `f` would say (a field with presence set to its default differs from one not set), but
// without copying the messages: singular scalars and strings are compared directly (most
// fields), the rest by the differencer restricted to `f`.
bool SameField(MessageDifferencer& differ, const Message& a, const Message& b, const FieldDescriptor* f) {
  const Reflection* ra = a.GetReflection();
  const Reflection* rb = b.GetReflection();
  if (!f->is_repeated() && f->has_presence()) {  // (every singular message field has presence)
    bool ha = ra->HasField(a, f), hb = rb->HasField(b, f);
    if (ha != hb) return false;
    if (!ha) return true;
  }
  if (f->is_repeated() || f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return differ.CompareWithFields(a, b, {f}, {f});
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return ra->GetInt32(a, f) == rb->GetInt32(b, f);
    case FieldDescriptor::CPPTYPE_INT64: return ra->GetInt64(a, f) == rb->GetInt64(b, f);
    case FieldDescriptor::CPPTYPE_UINT32: return ra->GetUInt32(a, f) == rb->GetUInt32(b, f);
    case FieldDescriptor::CPPTYPE_UINT64: return ra->GetUInt64(a, f) == rb->GetUInt64(b, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return ra->GetDouble(a, f) == rb->GetDouble(b, f);
    case FieldDescriptor::CPPTYPE_FLOAT: return ra->GetFloat(a, f) == rb->GetFloat(b, f);
    case FieldDescriptor::CPPTYPE_BOOL: return ra->GetBool(a, f) == rb->GetBool(b, f);
    case FieldDescriptor::CPPTYPE_ENUM: return ra->GetEnumValue(a, f) == rb->GetEnumValue(b, f);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string sa, sb;
      return ra->GetStringReference(a, f, &sa) == rb->GetStringReference(b, f, &sb);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: break;  // above
  }
  return differ.CompareWithFields(a, b, {f}, {f});
}

void Collect(MessageDifferencer& differ, const Message& before, const Message& after, const std::string& prefix,
             const std::set<std::string>& ignore, const std::set<std::string>& expand, std::vector<std::string>* out) {
  const auto* d = before.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    std::string name = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (ignore.count(name)) continue;
    if (expand.count(name) && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      const auto* rb = before.GetReflection();
      const auto* ra = after.GetReflection();
      Collect(differ, rb->GetMessage(before, f), ra->GetMessage(after, f), name, ignore, expand, out);
      continue;
    }
    if (!SameField(differ, before, after, f)) out->push_back(std::move(name));
  }
}

}  // namespace

std::vector<std::string> ChangedFields(const Message& before, const Message& after, const std::set<std::string>& ignore,
                                       const std::set<std::string>& expand) {
  std::vector<std::string> out;
  MessageDifferencer differ;
  Collect(differ, before, after, "", ignore, expand, &out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace concord::writes
