// Against real redis-server processes. The restart test runs its own server on a free port
// so that it can kill and restart it without disturbing the shared one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/redis/redis.h"

namespace concord::redis {
namespace {

using namespace std::chrono_literals;

using concord::testenv::RedisPort;

std::string UniqueKey(const std::string& prefix) { return concord::testenv::Unique("concord:test:" + prefix); }

// A private redis-server on a free port.
class RedisProcess {
 public:
  explicit RedisProcess(int port) : port_(port) { Start(); }
  ~RedisProcess() { Kill(); }

  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--enable-debug-command", "yes", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    Connection probe({.port = port_, .connect_timeout = 200ms});
    for (int i = 0; i < 100 && !probe.Ping().ok(); ++i) std::this_thread::sleep_for(50ms);
  }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

int FreePort() {
  std::random_device rd;
  return 20000 + static_cast<int>(rd() % 20000);
}

TEST(RedisTest, CommandsRepliesAndPipelining) {
  Connection c({.port = RedisPort()});
  ASSERT_TRUE(c.Ping().ok());
  std::string key = UniqueKey("kv");
  std::string binary("a\0b\r\n", 5);
  auto set = c.Command({"SET", key, binary, "PX", "60000"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  auto get = c.Command({"GET", key});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, binary) << "values are binary-safe";

  auto replies = c.Pipeline({{"INCR", key + ":n"}, {"INCR", key + ":n"}, {"LPUSH", key, "x"}, {"DEL", key, key + ":n"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 4u);
  EXPECT_EQ((*replies)[0].integer, 1);
  EXPECT_EQ((*replies)[1].integer, 2);
  EXPECT_TRUE((*replies)[2].is_error()) << "WRONGTYPE is a reply, not a broken connection";
  EXPECT_EQ((*replies)[3].integer, 2);
  EXPECT_TRUE(c.connected());
  EXPECT_TRUE(c.Command({"GET", key})->is_nil());
}

TEST(RedisTest, PipelinedArgumentsOfEverySizeArriveIntact) {
  // Short arguments are copied into the pipeline's buffer, long ones sent from the caller's
  // strings: sizes around the boundary, far more pieces than one writev takes, a value larger
  // than the socket's buffer (partial writes), binary bytes, and a second call reusing it all.
  Connection c({.port = RedisPort()});
  const std::string key = UniqueKey("sizes");
  std::mt19937 rng(7);
  std::vector<std::string> values;
  for (size_t size : {0, 1, 255, 256, 257, 1000, 70000, 5000000}) values.emplace_back(size, '\0');
  for (int i = 0; i < 3000; ++i) values.emplace_back(200 + rng() % 200, '\0');
  for (auto& v : values) {
    for (auto& ch : v) ch = static_cast<char>(rng());
  }
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> mset = {"MSET"}, mget = {"MGET"};
    for (size_t i = 0; i < values.size(); ++i) {
      mset.push_back(key + ":" + std::to_string(i));
      mset.push_back(values[i]);
      mget.push_back(mset[mset.size() - 2]);
    }
    std::vector<std::vector<std::string>> cmds = {mset};
    for (size_t i = 0; i < 600; ++i) cmds.push_back({"SET", key + ":one:" + std::to_string(i), values[i % values.size()]});
    cmds.push_back(mget);
    auto replies = c.Pipeline(cmds);
    ASSERT_TRUE(replies.ok()) << replies.status();
    ASSERT_EQ(replies->size(), cmds.size());
    for (size_t i = 0; i + 1 < replies->size(); ++i) ASSERT_FALSE((*replies)[i].is_error()) << i << ": " << (*replies)[i].str;
    const auto& got = replies->back().elements;
    ASSERT_EQ(got.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(got[i].str, values[i]) << "value " << i << " of " << values[i].size() << " bytes";
    auto one = c.Command({"GET", key + ":one:599"});
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->str, values[599 % values.size()]);
    std::rotate(values.begin(), values.begin() + 1, values.end());
  }
  std::vector<std::string> del = {"DEL"};
  for (size_t i = 0; i < values.size(); ++i) del.push_back(key + ":" + std::to_string(i));
  for (size_t i = 0; i < 600; ++i) del.push_back(key + ":one:" + std::to_string(i));
  (void)c.Command(del);
}

TEST(RedisTest, MultiExecIsAtomicThroughThePipeline) {
  Connection c({.port = RedisPort()});
  std::string key = UniqueKey("tx");
  auto replies = c.Pipeline({{"MULTI"}, {"SET", key, "v"}, {"XADD", key + ":outbox", "*", "event", "e1"}, {"EXEC"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->back().type, Reply::Type::kArray);
  EXPECT_EQ(replies->back().elements.size(), 2u);
  (void)c.Command({"DEL", key, key + ":outbox"});
}

TEST(RedisTest, ServerRestartedMidTestFailsFastThenReconnects) {
  int port = FreePort();
  auto server = std::make_unique<RedisProcess>(port);
  Connection c({.port = port, .connect_timeout = 300ms, .command_timeout = 500ms});
  ASSERT_TRUE(c.Ping().ok());
  ASSERT_TRUE(c.Command({"SET", "k", "v"}).ok());

  server->Kill();
  auto start = std::chrono::steady_clock::now();
  auto failed = c.Command({"GET", "k"});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(absl::IsUnavailable(failed.status()) || absl::IsDeadlineExceeded(failed.status())) << failed.status();
  EXPECT_LT(took, 2s) << "a call to a dead server returns within its timeouts";
  EXPECT_FALSE(c.Ping().ok());  // still down: reconnect is refused, quickly

  server->Start();
  absl::Status s;
  for (int i = 0; i < 50; ++i) {
    s = c.Ping();
    if (s.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(s.ok()) << "the same Connection reconnects by itself: " << s;
  EXPECT_TRUE(c.Command({"SET", "k", "v2"}).ok());
}

TEST(RedisTest, CommandTimeoutOnAStalledServer) {
  int port = FreePort();
  RedisProcess server(port);
  Connection c({.port = port, .command_timeout = 300ms});
  ASSERT_TRUE(c.Ping().ok());
  Connection other({.port = port, .command_timeout = 5s});
  // DEBUG SLEEP stalls the single-threaded server beyond our command timeout.
  std::thread staller([&] { (void)other.Command({"DEBUG", "SLEEP", "1.5"}); });
  std::this_thread::sleep_for(100ms);
  auto r = c.Command({"PING"});
  staller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_TRUE(c.Ping().ok()) << "reconnects after the timeout";
}

TEST(RedisTest, PoolHandsOutAndTakesBackConnections) {
  Pool pool({.port = RedisPort()}, 2);
  {
    auto a = pool.Acquire(100ms);
    auto b = pool.Acquire(100ms);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(b.ok());
    auto c = pool.Acquire(50ms);
    EXPECT_TRUE(absl::IsResourceExhausted(c.status()));
    EXPECT_TRUE((*a)->Ping().ok());
  }
  EXPECT_TRUE(pool.Acquire(50ms).ok());
  EXPECT_TRUE(pool.Ping().ok());
}

}  // namespace
}  // namespace concord::redis
