#include "common/writes/diff.h"

#include <algorithm>
#include <memory>

#include <google/protobuf/util/message_differencer.h>

namespace concord::writes {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// A message of the same type holding only `field` of `m`.
std::unique_ptr<Message> OnlyField(const Message& m, const FieldDescriptor* field) {
  std::unique_ptr<Message> copy(m.New());
  copy->CopyFrom(m);
  std::unique_ptr<Message> out(m.New());
  copy->GetReflection()->SwapFields(copy.get(), out.get(), {field});
  return out;
}

void Collect(const Message& before, const Message& after, const std::string& prefix,
             const std::set<std::string>& ignore, const std::set<std::string>& expand, std::vector<std::string>* out) {
  const auto* d = before.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    std::string name = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (ignore.count(name)) continue;
    if (expand.count(name) && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      const auto* rb = before.GetReflection();
      const auto* ra = after.GetReflection();
      Collect(rb->GetMessage(before, f), ra->GetMessage(after, f), name, ignore, expand, out);
      continue;
    }
    auto a = OnlyField(before, f);
    auto b = OnlyField(after, f);
    if (!google::protobuf::util::MessageDifferencer::Equals(*a, *b)) out->push_back(name);
  }
}

}  // namespace

std::vector<std::string> ChangedFields(const Message& before, const Message& after, const std::set<std::string>& ignore,
                                       const std::set<std::string>& expand) {
  std::vector<std::string> out;
  Collect(before, after, "", ignore, expand, &out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace concord::writes
