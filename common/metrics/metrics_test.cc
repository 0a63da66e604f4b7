#include "common/metrics/metrics.h"
#include "common/metrics/process_metrics.h"

#include <chrono>

#include <httplib.h>

#include <gtest/gtest.h>

#include "common/metrics/admin_server.h"

namespace concord::metrics {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInTextFormat) {
  Registry r;
  auto& events = r.AddCounter("concord_events_total", "Events consumed", {"topic"});
  events.With({"a\"b"}).Inc();
  events.With({"a\"b"}).Inc(2);
  r.AddGauge("concord_lag", "Lag").With({}).Set(7);
  auto& h = r.AddHistogram("concord_latency_seconds", "Latency", {"type"}, {0.1, 1});
  h.With({"x"}).Observe(0.05);
  h.With({"x"}).Observe(0.5);
  h.With({"x"}).Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE concord_events_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("concord_events_total{topic=\"a\\\"b\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("concord_lag 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("concord_latency_seconds_bucket{type=\"x\",le=\"0.10000000000000001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("concord_latency_seconds_bucket{type=\"x\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("concord_latency_seconds_count{type=\"x\"} 3\n"), std::string::npos) << text;
}

TEST(MetricsTest, CountersNeverGoDown) {
  Counter c;
  c.Inc(5);
  c.Inc(-3);
  EXPECT_EQ(c.Value(), 5);
}

TEST(MetricsTest, CollectHooksRunBeforeEachScrape) {
  Registry r;
  auto& g = r.AddGauge("concord_state_customers", "Customers in memory").With({});
  int calls = 0;
  r.AddCollectHook([&] { g.Set(++calls); });
  EXPECT_NE(r.Render().find("concord_state_customers 1\n"), std::string::npos);
  EXPECT_NE(r.Render().find("concord_state_customers 2\n"), std::string::npos);
}

TEST(MetricsTest, ProcessMetricsAreReadAtEachScrape) {
  Registry r;
  AddProcessMetrics(r);
  auto value = [](const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  auto first = r.Render();
  EXPECT_GT(value(first, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value(first, "process_threads"), 1);
  ASSERT_GE(value(first, "process_cpu_seconds_total"), 0);
  // Burn some CPU (the clock reads themselves): the counter must move.
  for (auto start = std::chrono::steady_clock::now(); std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200);) {
  }
  EXPECT_GT(value(r.Render(), "process_cpu_seconds_total"), value(first, "process_cpu_seconds_total"));
  EXPECT_NE(first.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
}

TEST(AdminServerTest, ServesMetricsAndHealthOverHttp) {
  Registry r;
  r.AddCounter("concord_up_total", "x").With({}).Inc();
  std::atomic<bool> serving{false};
  AdminServer server(r, [&] { return serving.load(); });
  ASSERT_TRUE(server.Start("127.0.0.1:0"));
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("concord_up_total 1"), std::string::npos);
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  serving = true;
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  server.Stop();
}

}  // namespace
}  // namespace concord::metrics
