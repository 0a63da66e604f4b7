#include "common/grpc/server.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"

namespace concord::grpcserver {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus Check(Health::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  HealthCheckRequest req;
  HealthCheckResponse resp;
  auto s = stub.Check(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.status();
}

TEST(ServerTest, HealthFollowsReadinessChecksAndShutdown) {
  std::atomic<bool> redis_up{false};
  Server server({.listen = "127.0.0.1:0", .readiness_interval = std::chrono::milliseconds(50)});
  server.AddReadinessCheck({"redis", [&] { return redis_up ? absl::OkStatus() : absl::UnavailableError("down"); }});
  std::vector<bool> transitions;
  server.OnReadinessChange([&](bool serving, const absl::Status&) { transitions.push_back(serving); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  EXPECT_EQ(Check(*stub), HealthCheckResponse::NOT_SERVING);

  redis_up = true;
  EXPECT_TRUE(server.CheckReadiness());
  EXPECT_EQ(Check(*stub), HealthCheckResponse::SERVING);

  redis_up = false;  // a dependency lost later flips health back
  EXPECT_FALSE(server.CheckReadiness());
  EXPECT_EQ(Check(*stub), HealthCheckResponse::NOT_SERVING);

  redis_up = true;
  EXPECT_TRUE(server.CheckReadiness());
  auto start = std::chrono::steady_clock::now();
  server.Shutdown(std::chrono::seconds(2));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_FALSE(server.serving());
  ASSERT_GE(transitions.size(), 4u);
  EXPECT_FALSE(transitions.back()) << "shutdown reports NOT_SERVING";
}

TEST(ServerTest, ListenFailureIsReported) {
  Server first({.listen = "127.0.0.1:0"});
  ASSERT_TRUE(first.Start().ok());
  Server second({.listen = "127.0.0.1:" + std::to_string(first.port())});
  EXPECT_FALSE(second.Start().ok());
}

}  // namespace
}  // namespace concord::grpcserver
