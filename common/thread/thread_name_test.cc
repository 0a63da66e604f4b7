#include "common/thread/thread_name.h"

#include <thread>

#include <gtest/gtest.h>

namespace concord::thread {
namespace {

// The name a new thread has after SetName(name).
std::string NamedInANewThread(std::string_view name) {
  std::string inside;
  std::thread([&] {
    SetName(name);
    inside = Name();
  }).join();
  return inside;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = Name();
  EXPECT_EQ(NamedInANewThread("align-read"), "align-read");
  EXPECT_EQ(Name(), before);
}

TEST(ThreadNameTest, KeepsTheFirstFifteenBytesOfALongerName) {
  EXPECT_EQ(NamedInANewThread("a-name-longer-than-fifteen-bytes"), "a-name-longer-t");
}

}  // namespace
}  // namespace concord::thread
