#include "common/thread/thread_name.h"

#include <thread>

#include <gtest/gtest.h>

namespace concord::thread {
namespace {

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = Name();
  std::string inside;
  std::thread([&] {
    SetName("align-read");
    inside = Name();
  }).join();
  EXPECT_EQ(inside, "align-read");
  EXPECT_EQ(Name(), before);
}

TEST(ThreadNameTest, KeepsTheFirstFifteenBytesOfALongerName) {
  std::string inside;
  std::thread([&] {
    SetName("a-name-longer-than-fifteen-bytes");
    inside = Name();
  }).join();
  EXPECT_EQ(inside, "a-name-longer-t");
}

}  // namespace
}  // namespace concord::thread
