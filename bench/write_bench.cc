// concord-write-bench: the write path of scripts/bench (issue 7, benchmark 6). Subcommands:
//   load    gRPC callback-API client: a mix of marketing and sales writes (CaptureLead,
//           ScoreLead, CreateAccount, UpdateAccount; half creates, half updates of entities
//           seeded first), closed loop (--mode saturate: --concurrency calls in flight) or open
//           loop (--mode rate: --rate calls/s, latency from each call's INTENDED send time, so a
//           stall is charged to every call it delayed: no coordinated omission; it also reports
//           how late its sender woke). Writes the event id of every acknowledged write to
//           --ids-out, and each measured call's intended time and latency to --latency-dump.
//   noop    the baseline: MarketingService and SalesService on common/grpc's server (callback
//           API, same message types) answering the same RPCs at once, without storage.
//           --api async (gRPC's completion-queue API) and --finish-via thread (the response
//           sent from another thread) are the grpc-api stage's variants.
//   verify  reads the two event topics (a consumer group the harness placed where the run
//           began) until every event id of --ids is found, or nothing new arrives for --idle-s.
// load and verify print ONE JSON object on stdout (the harness parses it); logs go to stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "bench/cli.h"
#include "common/grpc/server.h"
#include "common/kafka/consumer.h"
#include "concord/marketing/v1/marketing.grpc.pb.h"
#include "concord/sales/v1/sales.grpc.pb.h"

namespace {

using concord::bench::Args;
using concord::bench::Die;


using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace ev = concord::events::v1;
namespace mv1 = concord::marketing::v1;
namespace sv1 = concord::sales::v1;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// =============================================================================================
// load
// =============================================================================================

enum Kind { kCaptureLead, kCreateAccount, kScoreLead, kUpdateAccount, kKinds };
constexpr const char* kKindName[kKinds] = {"CaptureLead", "CreateAccount", "ScoreLead", "UpdateAccount"};
constexpr const char* kIndustries[] = {"Software", "Manufacturing", "Retail", "Healthcare", "Finance", "Logistics"};
constexpr const char* kRegions[] = {"EMEA", "NA", "APAC", "LATAM"};
constexpr const char* kCountries[] = {"DE", "US", "FR", "JP", "BR", "GB"};

// Ids of created entities that updates pick from; creates add to it.
class IdPool {
 public:
  void Add(std::string id) {
    std::lock_guard lock(mu_);
    ids_.push_back(std::move(id));
  }
  std::string Pick(uint64_t r) {
    std::lock_guard lock(mu_);
    return ids_.empty() ? std::string() : ids_[r % ids_.size()];
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return ids_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ids_;
};

// Latencies (microseconds), status codes and acknowledged event ids of one phase.
struct Recorder {
  std::mutex mu;
  std::vector<float> latency_us;
  std::map<std::string, uint64_t> errors;  // code name -> count
  uint64_t ok = 0;
  uint64_t by_kind[kKinds] = {};
  std::vector<std::string> marketing_events, sales_events;
  // Open loop: how late the sender woke for each call of the window that it slept for, in us.
  // Its timer had fired, so this is time spent waiting for a core: the machine's stalls, which
  // every process on it (the services, Redis, the broker) saw too.
  std::vector<float> sender_late_us;
  // --latency-dump: each measured call's intended time (ms into the window), latency (ms), kind.
  bool timeline = false;
  struct Point {
    float at_ms, latency_ms;
    Kind kind;
  };
  std::vector<Point> points;
};

class Load;

// One call in flight. Owns the context, request and response; deleted when it completes.
struct Call {
  Load* load = nullptr;
  Kind kind{};
  Clock::time_point intended;  // when it should have been sent (open loop) or was sent
  bool measured = false;       // inside the measurement window
  grpc::ClientContext ctx;
  mv1::CaptureLeadRequest capture;
  mv1::CaptureLeadResponse capture_resp;
  mv1::ScoreLeadRequest score;
  mv1::ScoreLeadResponse score_resp;
  sv1::CreateAccountRequest create_account;
  sv1::CreateAccountResponse create_account_resp;
  sv1::UpdateAccountRequest update_account;
  sv1::UpdateAccountResponse update_account_resp;
};

std::string CodeName(grpc::StatusCode c) {
  static const char* names[] = {"OK",       "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
                                "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i < 17 ? names[i] : std::to_string(i);
}

class Load {
 public:
  Load(const std::string& marketing, const std::string& sales, int channels, std::string tag)
      : tag_(std::move(tag)) {
    for (int i = 0; i < std::max(1, channels); ++i) {
      grpc::ChannelArguments args;
      args.SetInt("concord.bench.channel", i);  // distinct arguments: a connection per channel
      mkt_.push_back(mv1::MarketingService::NewStub(grpc::CreateCustomChannel(marketing, grpc::InsecureChannelCredentials(), args)));
      sales_.push_back(sv1::SalesService::NewStub(grpc::CreateCustomChannel(sales, grpc::InsecureChannelCredentials(), args)));
    }
  }

  // One write each way proves both services answer (and opens the connections).
  bool WaitConnected(std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      Recorder r;
      SeedBlocking(kCaptureLead, 1, &r);
      SeedBlocking(kCreateAccount, 1, &r);
      if (r.ok == 2) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Creates n leads and n accounts (closed loop, 32 in flight) so updates have targets.
  void Seed(int n, Recorder* rec) {
    SeedBlocking(kCaptureLead, n, rec);
    SeedBlocking(kCreateAccount, n, rec);
  }

  // Closed loop: `concurrency` calls always in flight for warmup + seconds.
  void Saturate(int concurrency, double warmup_s, double seconds, Recorder* rec) {
    rec_ = rec;
    auto t0 = Clock::now();
    window_start_ = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
    window_end_ = window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    closed_loop_ = true;
    for (int i = 0; i < concurrency; ++i) Issue(Clock::now());
    WaitDrained();
  }

  // Open loop: call i is due at t0 + i / rate, sent then (or at once when the sender is
  // late) and timed from when it was due. At most max_in_flight outstanding; calls that would
  // exceed it are not sent and count as errors ("CLIENT_OVERLOAD").
  void Rate(double rate, double warmup_s, double seconds, int max_in_flight, Recorder* rec) {
    rec_ = rec;
    closed_loop_ = false;
    auto t0 = Clock::now() + 10ms;
    window_start_ = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
    window_end_ = window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const auto total = static_cast<uint64_t>(rate * (warmup_s + seconds));
    for (uint64_t i = 0; i < total; ++i) {
      auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
      auto now = Clock::now();
      if (due > now) {
        std::this_thread::sleep_until(due);
        if (due >= window_start_ && due < window_end_) {
          rec_->sender_late_us.push_back(
              static_cast<float>(std::chrono::duration<double, std::micro>(Clock::now() - due).count()));
        }
      }
      if (in_flight_.load() >= max_in_flight) {
        if (due >= window_start_ && due < window_end_) {
          std::lock_guard lock(rec_->mu);
          rec_->errors["CLIENT_OVERLOAD"]++;
        }
        continue;
      }
      Issue(due);
    }
    WaitDrained();
  }

  int64_t sent() const { return sent_.load(); }

 private:
  // n creates of one kind, at most 32 in flight (not timed: it only prepares targets).
  void SeedBlocking(Kind kind, int n, Recorder* rec) {
    rec_ = rec;
    closed_loop_ = false;
    window_start_ = Clock::now() - 1h;  // every call counted: a failed seed is reported
    window_end_ = Clock::now() + 24h;
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    for (int i = 0; i < n; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return outstanding < 32; });
        ++outstanding;
      }
      IssueKind(kind, Clock::now(), [&] {
        std::lock_guard lock(mu);
        --outstanding;
        cv.notify_all();
      });
    }
    WaitDrained();
  }

  Kind NextKind() {
    // Cycles through the four kinds: half marketing, half sales, half creates, half updates.
    return static_cast<Kind>(seq_.fetch_add(1) % kKinds);
  }

  void Issue(Clock::time_point intended) { IssueKind(NextKind(), intended, nullptr); }

  // `on_done` runs before the call counts as completed (WaitDrained returns after it).
  void IssueKind(Kind kind, Clock::time_point intended, std::function<void()> on_done) {
    auto* c = new Call;
    c->load = this;
    c->kind = kind;
    c->intended = intended;
    c->measured = intended >= window_start_ && intended < window_end_;
    c->ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    uint64_t n = counter_.fetch_add(1);
    uint64_t r = rng_mix(n);
    std::string rid = tag_ + "-" + std::to_string(n);
    in_flight_++;
    sent_++;
    auto& ch_m = *mkt_[n % mkt_.size()];
    auto& ch_s = *sales_[n % sales_.size()];
    auto done = [this, c, on_done = std::move(on_done)](grpc::Status s) {
      if (on_done) on_done();
      Complete(c, s);
    };
    switch (kind) {
      case kCaptureLead: {
        auto& q = c->capture;
        q.set_request_id(rid);
        auto* a = q.mutable_actor();
        a->set_id("mkt-rep-" + std::to_string(r % 40));
        a->set_team(ev::TEAM_MARKETING);
        auto* p = q.mutable_person();
        std::string company = "customer" + std::to_string(r % 50000);
        p->set_first_name("Ada");
        p->set_last_name("Lovelace " + std::to_string(n));
        p->set_email("ada." + std::to_string(n) + "@" + company + ".com");
        p->set_company("Customer " + std::to_string(r % 50000) + " Inc.");
        p->set_website("https://www." + company + ".com");
        p->set_title("Head of Operations");
        q.set_industry(kIndustries[r % 6]);
        q.set_region(kRegions[r % 4]);
        q.set_country(kCountries[r % 6]);
        q.set_source_channel(ev::CHANNEL_WEBINAR);
        ch_m.async()->CaptureLead(&c->ctx, &q, &c->capture_resp, done);
        break;
      }
      case kScoreLead: {
        auto& q = c->score;
        q.set_request_id(rid);
        auto* a = q.mutable_actor();
        a->set_id("mkt-rep-" + std::to_string(r % 40));
        a->set_team(ev::TEAM_MARKETING);
        q.set_lead_id(leads_.Pick(r));
        q.set_score(static_cast<int>(r % 101));
        auto* x = q.add_reasons();
        x->set_code("visited_pricing_page");
        x->set_description("Visited the pricing page three times this week");
        x->set_points(20);
        x = q.add_reasons();
        x->set_code("webinar_attended");
        x->set_points(15);
        ch_m.async()->ScoreLead(&c->ctx, &q, &c->score_resp, done);
        break;
      }
      case kCreateAccount: {
        auto& q = c->create_account;
        q.set_request_id(rid);
        auto* a = q.mutable_actor();
        a->set_id("sales-rep-" + std::to_string(r % 40));
        a->set_team(ev::TEAM_SALES);
        q.set_name("Account " + std::to_string(n) + " GmbH");
        q.set_website("https://acct" + std::to_string(n) + ".example.com");
        q.set_industry(kIndustries[r % 6]);
        q.set_region(kRegions[r % 4]);
        q.set_country(kCountries[r % 6]);
        q.set_employee_count(static_cast<uint32_t>(10 + r % 5000));
        ch_s.async()->CreateAccount(&c->ctx, &q, &c->create_account_resp, done);
        break;
      }
      case kUpdateAccount: {
        auto& q = c->update_account;
        q.set_request_id(rid);
        auto* a = q.mutable_actor();
        a->set_id("sales-rep-" + std::to_string(r % 40));
        a->set_team(ev::TEAM_SALES);
        q.set_account_id(accounts_.Pick(r));
        q.set_employee_count(static_cast<uint32_t>(10 + r % 5000));
        q.set_industry(kIndustries[(r >> 8) % 6]);
        ch_s.async()->UpdateAccount(&c->ctx, &q, &c->update_account_resp, done);
        break;
      }
      case kKinds:
        break;
    }
  }

  static uint64_t rng_mix(uint64_t x) {  // splitmix64: cheap, well spread
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  void Complete(Call* c, const grpc::Status& s) {
    auto now = Clock::now();
    std::string event_id;
    bool marketing = c->kind == kCaptureLead || c->kind == kScoreLead;
    if (s.ok()) {
      switch (c->kind) {
        case kCaptureLead:
          event_id = c->capture_resp.event_id();
          leads_.Add(c->capture_resp.lead().id());
          break;
        case kScoreLead:
          event_id = c->score_resp.event_id();
          break;
        case kCreateAccount:
          event_id = c->create_account_resp.event_id();
          accounts_.Add(c->create_account_resp.account().id());
          break;
        case kUpdateAccount:
          event_id = c->update_account_resp.event_id();
          break;
        case kKinds:
          break;
      }
    }
    {
      std::lock_guard lock(rec_->mu);
      // Every acknowledged write must reach the topic, measured or not.
      if (s.ok()) (marketing ? rec_->marketing_events : rec_->sales_events).push_back(std::move(event_id));
      if (c->measured) {
        rec_->latency_us.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(now - c->intended).count()));
        if (rec_->timeline) {
          rec_->points.push_back({static_cast<float>(std::chrono::duration<double, std::milli>(c->intended - window_start_).count()),
                                  rec_->latency_us.back() / 1000.0f, c->kind});
        }
        if (s.ok()) {
          rec_->ok++;
          rec_->by_kind[c->kind]++;
        } else {
          rec_->errors[CodeName(s.error_code())]++;
          if (errors_logged_++ < 5) {
            std::fprintf(stderr, "write_bench: %s failed: %s %s\n", kKindName[c->kind], CodeName(s.error_code()).c_str(),
                         s.error_message().c_str());
          }
        }
      }
    }
    delete c;
    // Closed loop: the completion starts the next call until the window ends.
    if (closed_loop_ && now < window_end_) Issue(Clock::now());
    if (--in_flight_ == 0) {
      std::lock_guard lock(drain_mu_);
      drain_cv_.notify_all();
    }
  }

  void WaitDrained() {
    std::unique_lock lock(drain_mu_);
    drain_cv_.wait(lock, [&] { return in_flight_.load() == 0; });
  }

  std::string tag_;
  std::vector<std::unique_ptr<mv1::MarketingService::Stub>> mkt_;
  std::vector<std::unique_ptr<sv1::SalesService::Stub>> sales_;
  IdPool leads_, accounts_;
  Recorder* rec_ = nullptr;
  bool closed_loop_ = false;
  Clock::time_point window_start_, window_end_;
  std::atomic<uint64_t> seq_{0}, counter_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int64_t> sent_{0};
  int errors_logged_ = 0;
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
};

double Quantile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i] / 1000.0;
}

int LoadCmd(const Args& a) {
  const std::string mode = a.Get("mode", "saturate");
  const double seconds = a.Num("seconds", 10), warmup = a.Num("warmup", 2);
  Load load(a.Get("marketing"), a.Get("sales"), static_cast<int>(a.Int("channels", 1)), a.Get("tag", "wb") + "-" + mode);
  if (a.Get("marketing").empty() || a.Get("sales").empty()) Die("--marketing and --sales are required");
  if (!load.WaitConnected(30s)) Die("the services did not accept a write within 30 s");

  Recorder seed;
  load.Seed(static_cast<int>(a.Int("seed", 500)), &seed);
  if (seed.errors.size()) Die("seeding failed: " + seed.errors.begin()->first);

  Recorder rec;
  const std::string dump = a.Get("latency-dump");
  rec.timeline = !dump.empty();
  auto t0 = Clock::now();
  if (mode == "saturate") {
    load.Saturate(static_cast<int>(a.Int("concurrency", 64)), warmup, seconds, &rec);
  } else if (mode == "rate") {
    load.Rate(a.Num("rate", 1000), warmup, seconds, static_cast<int>(a.Int("max-in-flight", 20000)), &rec);
  } else {
    Die("--mode saturate|rate");
  }
  double elapsed = Seconds(Clock::now() - t0);

  uint64_t errors = 0;
  nlohmann::json errs = nlohmann::json::object();
  for (auto& [code, n] : rec.errors) {
    errors += n;
    errs[code] = n;
  }
  nlohmann::json kinds = nlohmann::json::object();
  for (int k = 0; k < kKinds; ++k) kinds[kKindName[k]] = rec.by_kind[k];

  if (!dump.empty()) {
    std::ofstream out(dump);
    out << "# intended_ms latency_ms kind (ms from the measured window's start)\n";
    for (const auto& p : rec.points) out << p.at_ms << " " << p.latency_ms << " " << kKindName[p.kind] << "\n";
  }
  if (auto path = a.Get("ids-out"); !path.empty()) {
    std::ofstream out(path, std::ios::app);
    for (auto* v : {&seed.marketing_events, &rec.marketing_events}) for (auto& id : *v) out << "m " << id << "\n";
    for (auto* v : {&seed.sales_events, &rec.sales_events}) for (auto& id : *v) out << "s " << id << "\n";
  }
  size_t acked = seed.marketing_events.size() + rec.marketing_events.size() + seed.sales_events.size() +
                 rec.sales_events.size();
  uint64_t completed = rec.latency_us.size();
  nlohmann::json j = {
      {"mode", mode},
      {"seconds", seconds},
      {"warmup", warmup},
      {"elapsed", elapsed},
      {"completed", completed},
      {"ok", rec.ok},
      {"errors", errors},
      {"error_codes", errs},
      {"by_kind", kinds},
      {"req_per_s", static_cast<double>(rec.ok) / seconds},
      {"p50_ms", Quantile(rec.latency_us, 0.50)},
      {"p99_ms", Quantile(rec.latency_us, 0.99)},
      {"p999_ms", Quantile(rec.latency_us, 0.999)},
      {"max_ms", Quantile(rec.latency_us, 1.0)},
      {"acked_events", acked},
      {"sent", load.sent()},
  };
  if (mode == "rate") {
    j["rate"] = a.Num("rate", 1000);
    auto& late = rec.sender_late_us;
    j["sender_late_p99_ms"] = Quantile(late, 0.99);
    j["sender_late_max_ms"] = Quantile(late, 1.0);
    j["sender_late_over_5ms"] = std::count_if(late.begin(), late.end(), [](float us) { return us >= 5000; });
  }
  if (mode == "saturate") j["concurrency"] = a.Int("concurrency", 64);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

// =============================================================================================
// noop: the same RPCs answered at once (a response of the same shape, built from the request)
// =============================================================================================

// --finish-via thread: every call is finished from one other thread, as the services finish
// theirs from their Redis I/O thread (the grpc-api stage measures what that hand-over costs).
class Finisher {
 public:
  void Start() {
    thread_ = std::thread([this] {
      std::vector<std::function<void()>> batch;
      for (;;) {
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
          if (stop_ && queue_.empty()) return;
          batch.swap(queue_);
        }
        for (auto& f : batch) f();
        batch.clear();
      }
    });
    on_ = true;
  }
  void Stop() {
    if (!on_) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  // Runs f on the finisher's thread when it was started, here otherwise.
  void Run(std::function<void()> f) {
    if (!on_) {
      f();
      return;
    }
    bool wake;
    {
      std::lock_guard lock(mu_);
      wake = queue_.empty();
      queue_.push_back(std::move(f));
    }
    if (wake) cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> queue_;
  bool stop_ = false, on_ = false;
  std::thread thread_;
};
Finisher g_finisher;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx) {
  auto* r = ctx->DefaultReactor();
  g_finisher.Run([r] { r->Finish(grpc::Status::OK); });
  return r;
}

void Answer(const mv1::CaptureLeadRequest* req, mv1::CaptureLeadResponse* resp) {
  auto* l = resp->mutable_lead();
  l->set_id("lead-" + req->request_id());
  *l->mutable_person() = req->person();
  l->set_industry(req->industry());
  l->set_region(req->region());
  l->set_country(req->country());
  l->set_version(1);
  resp->set_event_id(req->request_id());
}

void Answer(const mv1::ScoreLeadRequest* req, mv1::ScoreLeadResponse* resp) {
  auto* l = resp->mutable_lead();
  l->set_id(req->lead_id());
  l->set_score(req->score());
  *l->mutable_score_reasons() = req->reasons();
  resp->set_event_id(req->request_id());
}

void Answer(const sv1::CreateAccountRequest* req, sv1::CreateAccountResponse* resp) {
  auto* acct = resp->mutable_account();
  acct->set_id("acct-" + req->request_id());
  acct->set_name(req->name());
  acct->set_website(req->website());
  acct->set_industry(req->industry());
  acct->set_region(req->region());
  acct->set_country(req->country());
  acct->set_employee_count(req->employee_count());
  acct->set_version(1);
  resp->set_event_id(req->request_id());
}

void Answer(const sv1::UpdateAccountRequest* req, sv1::UpdateAccountResponse* resp) {
  auto* acct = resp->mutable_account();
  acct->set_id(req->account_id());
  acct->set_industry(req->industry());
  acct->set_employee_count(req->employee_count());
  resp->set_event_id(req->request_id());
}

class NoopMarketing final : public mv1::MarketingService::CallbackService {
 public:
  grpc::ServerUnaryReactor* CaptureLead(grpc::CallbackServerContext* ctx, const mv1::CaptureLeadRequest* req,
                                        mv1::CaptureLeadResponse* resp) override {
    Answer(req, resp);
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* ScoreLead(grpc::CallbackServerContext* ctx, const mv1::ScoreLeadRequest* req,
                                      mv1::ScoreLeadResponse* resp) override {
    Answer(req, resp);
    return Done(ctx);
  }
};

class NoopSales final : public sv1::SalesService::CallbackService {
 public:
  grpc::ServerUnaryReactor* CreateAccount(grpc::CallbackServerContext* ctx, const sv1::CreateAccountRequest* req,
                                          sv1::CreateAccountResponse* resp) override {
    Answer(req, resp);
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* UpdateAccount(grpc::CallbackServerContext* ctx, const sv1::UpdateAccountRequest* req,
                                          sv1::UpdateAccountResponse* resp) override {
    Answer(req, resp);
    return Done(ctx);
  }
};

std::atomic<bool> g_stop{false};

// --api async: the same no-op on gRPC's asynchronous completion-queue API, served by
// --cq-threads threads of its own (no callback threads handing the poller to each other), with
// the server options of common/grpc that bear on speed (Abseil's deadlock detection off).
class AsyncNoop {
 public:
  struct Tag {
    virtual ~Tag() = default;
    virtual void Proceed(bool ok) = 0;
  };

  template <typename Service, typename Req, typename Resp>
  using RequestFn = void (Service::*)(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);

  template <typename Service, typename Req, typename Resp>
  struct Call final : Tag {
    Call(Service* service, RequestFn<Service, Req, Resp> request, grpc::ServerCompletionQueue* cq)
        : service(service), request(request), cq(cq), writer(&ctx) {
      (service->*request)(&ctx, &req, &writer, cq, cq, this);
    }
    void Proceed(bool ok) override {
      if (finished || !ok) {
        delete this;
        return;
      }
      new Call(service, request, cq);  // the next call of this method
      Answer(&req, &resp);
      finished = true;
      g_finisher.Run([this] { writer.Finish(resp, grpc::Status::OK, this); });
    }
    Service* service;
    RequestFn<Service, Req, Resp> request;
    grpc::ServerCompletionQueue* cq;
    grpc::ServerContext ctx;
    Req req;
    Resp resp;
    grpc::ServerAsyncResponseWriter<Resp> writer;
    bool finished = false;
  };

  int Run(const std::string& listen, int threads, int posted) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as grpcserver::Server
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&marketing_);
    b.RegisterService(&sales_);
    std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
    for (int i = 0; i < threads; ++i) cqs.push_back(b.AddCompletionQueue());
    auto server = b.BuildAndStart();
    if (!server) Die("cannot listen on " + listen);
    for (auto& cq : cqs) {
      for (int i = 0; i < posted; ++i) {
        using M = mv1::MarketingService::AsyncService;
        using S = sv1::SalesService::AsyncService;
        new Call<M, mv1::CaptureLeadRequest, mv1::CaptureLeadResponse>(&marketing_, &M::RequestCaptureLead, cq.get());
        new Call<M, mv1::ScoreLeadRequest, mv1::ScoreLeadResponse>(&marketing_, &M::RequestScoreLead, cq.get());
        new Call<S, sv1::CreateAccountRequest, sv1::CreateAccountResponse>(&sales_, &S::RequestCreateAccount, cq.get());
        new Call<S, sv1::UpdateAccountRequest, sv1::UpdateAccountResponse>(&sales_, &S::RequestUpdateAccount, cq.get());
      }
    }
    std::vector<std::thread> workers;
    for (auto& cq : cqs) {
      workers.emplace_back([q = cq.get()] {
        void* tag;
        bool ok;
        while (q->Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
      });
    }
    std::printf("{\"port\":%d}\n", port);
    std::fflush(stdout);
    while (!g_stop) std::this_thread::sleep_for(50ms);
    server->Shutdown(std::chrono::system_clock::now() + 1s);
    g_finisher.Stop();
    for (auto& cq : cqs) cq->Shutdown();
    for (auto& t : workers) t.join();
    return 0;
  }

 private:
  mv1::MarketingService::AsyncService marketing_;
  sv1::SalesService::AsyncService sales_;
};

int NoopCmd(const Args& a) {
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  if (a.Get("finish-via", "handler") == "thread") g_finisher.Start();
  if (a.Get("api", "callback") == "async") {
    return AsyncNoop().Run(a.Get("listen", "127.0.0.1:0"), a.Int("cq-threads", 1), a.Int("posted", 16));
  }
  NoopMarketing marketing;
  NoopSales sales;
  concord::grpcserver::Server server({.listen = a.Get("listen", "127.0.0.1:0")});
  server.AddService(&marketing, mv1::MarketingService::service_full_name());
  server.AddService(&sales, sv1::SalesService::service_full_name());
  if (auto s = server.Start(); !s.ok()) Die(s.ToString());
  std::printf("{\"port\":%d}\n", server.port());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(50ms);
  server.Shutdown(1s);
  g_finisher.Stop();
  return 0;
}

// =============================================================================================
// verify
// =============================================================================================

int VerifyCmd(const Args& a) {
  std::unordered_set<std::string> want;
  std::ifstream in(a.Get("ids"));
  if (!in) Die("cannot read --ids " + a.Get("ids"));
  std::string tag, id;
  size_t lines = 0;
  while (in >> tag >> id) {
    want.insert(id);
    ++lines;
  }
  const size_t expected = want.size();
  auto consumer = concord::kafka::Consumer::Create({.brokers = a.Get("brokers"),
                                                    .group_id = a.Get("group"),
                                                    .client_id = "concord-write-bench-verify",
                                                    .topics = {a.Get("marketing"), a.Get("sales")},
                                                    .auto_commit = false});
  if (!consumer.ok()) Die(consumer.status().ToString());
  const auto idle = std::chrono::duration<double>(a.Num("idle-s", 10));
  auto t0 = Clock::now(), last = Clock::now();
  uint64_t read = 0, duplicates = 0;
  std::unordered_set<std::string> seen;
  while (!want.empty() && Clock::now() - last < idle) {
    auto m = (*consumer)->Poll(200ms);
    if (!m || m->error()) continue;
    last = Clock::now();
    ++read;
    auto ce = m->header("ce_id");
    if (!ce) continue;
    if (!seen.insert(*ce).second) ++duplicates;
    want.erase(*ce);
  }
  (void)(*consumer)->Close();
  nlohmann::json j = {{"expected", expected},         {"found", expected - want.size()},
                      {"missing", want.size()},       {"records_read", read},
                      {"duplicates", duplicates},     {"duplicate_ids_in_file", lines - expected},
                      {"seconds", Seconds(Clock::now() - t0)}};
  if (!want.empty()) j["missing_example"] = *want.begin();
  std::printf("%s\n", j.dump().c_str());
  return want.empty() && lines == expected ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = concord::bench::ParseArgs(argc, argv, "concord-write-bench load|noop|verify --key value ...");
  const std::string& cmd = a.command;
  if (cmd == "load") return LoadCmd(a);
  if (cmd == "noop") return NoopCmd(a);
  if (cmd == "verify") return VerifyCmd(a);
  Die("unknown subcommand " + cmd);
}
