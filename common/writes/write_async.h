#pragma once
// VersionedWrite without a blocked thread: the same steps as write.h (idempotency lookup and
// first read in one round trip, expected_version, mutation, one atomic commit, re-read and
// retry on conflicts; a create skips the lookup, see Start), each Redis step sent through outbox::Store's pipelining client and the
// next step run from its reply callback on the Store's I/O thread. The mutation runs on that
// thread too, so it must not block: when it tries a blocking Store call anyway (a rule that
// reads another record), the call is refused there, the mutation's result is dropped and the
// whole write runs again as the blocking VersionedWrite through `offload` (a worker). The
// mutation is re-runnable by contract (it already runs again after a conflict).
//
// `done` is called exactly once: on the I/O thread, on a worker after an offload, or at once
// on the caller's thread (past deadline). Whatever the mutation captures by reference (the
// request) must live until then.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "common/writes/write.h"

namespace concord::writes {

// Runs a task on a thread that may block (the service's worker pool).
using Offload = std::function<void(std::function<void()>)>;

template <typename T>
struct Async {
  Offload offload;
  std::function<void(absl::StatusOr<T>)> done;
};

// The blocking form of an async call: starts it, then runs what it offloads on this thread
// until it is done. Not on the Store's I/O thread.
template <typename T, typename Start>
absl::StatusOr<T> Wait(Start&& start) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;
    std::optional<absl::StatusOr<T>> result;
  };
  auto st = std::make_shared<State>();
  Async<T> async;
  async.offload = [st](std::function<void()> task) {
    std::lock_guard lock(st->mu);
    st->tasks.push_back(std::move(task));
    st->cv.notify_one();
  };
  async.done = [st](absl::StatusOr<T> r) {
    std::lock_guard lock(st->mu);
    st->result = std::move(r);
    st->cv.notify_one();
  };
  start(std::move(async));
  std::unique_lock lock(st->mu);
  while (true) {
    st->cv.wait(lock, [&] { return st->result.has_value() || !st->tasks.empty(); });
    if (st->result) return std::move(*st->result);
    auto task = std::move(st->tasks.front());
    st->tasks.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

// Async<Response> from an Async<WriteResult<Response>> consumer: the RPCs answer the response.
template <typename Response>
Async<WriteResult<Response>> ResponseOnly(Async<Response> async) {
  return {async.offload, [done = std::move(async.done)](absl::StatusOr<WriteResult<Response>> r) {
            if (!r.ok()) return done(r.status());
            done(std::move(r->response));
          }};
}

namespace internal {

template <typename Entity, typename Response>
class AsyncWrite : public std::enable_shared_from_this<AsyncWrite<Entity, Response>> {
 public:
  using Outcome = outbox::CommitResult::Outcome;

  AsyncWrite(outbox::Store& store, WriteTarget t, Mutation<Entity, Response> mutate, Async<WriteResult<Response>> async)
      : store_(store), t_(std::move(t)), key_(store.EntityKey(t_.entity_type, t_.entity_id)),
        mutate_(std::move(mutate)), async_(std::move(async)) {}

  void Start() {
    auto self = this->shared_from_this();
    if (t_.create) {
      // No lookup first: the commit script answers a replay (or a reused id) before it writes
      // anything, so a create takes one round trip. Only a refused mutation looks the request
      // up (RefusedCreate), so that a replay still gets its stored answer.
      Attempt(std::nullopt, true);
    } else {
      store_.LookupRequestAndGetAsync(t_.request_id, t_.fingerprint, key_,
                                      [self](absl::StatusOr<outbox::RequestAndEntity> r) {
                                        if (!r.ok()) return self->Finish(StorageError(r.status()));
                                        self->OnLookup(std::move(r->request), std::move(r->entity));
                                      });
    }
  }

 private:
  void Finish(absl::StatusOr<WriteResult<Response>> r) { async_.done(std::move(r)); }

  void OnLookup(std::optional<outbox::CommitResult> prior, std::optional<outbox::Versioned> first_read) {
    if (prior) {
      if (prior->outcome == Outcome::kRequestIdReused) return Finish(RequestIdReused(t_.request_id));
      return Finish(ParseReplay<Response>(prior->response, 0));
    }
    Attempt(std::move(first_read), true);
  }

  // One attempt: `read` is the entity when already read (the first attempt of an update).
  void Attempt(std::optional<outbox::Versioned> read, bool have_read) {
    ++attempt_;
    if (auto s = CheckDeadline(t_.deadline); !s.ok()) return Finish(s);
    if (t_.create || have_read) return Mutate(std::move(read));
    auto self = this->shared_from_this();
    store_.GetManyAsync({key_}, [self](absl::StatusOr<std::vector<std::optional<outbox::Versioned>>> r) {
      if (!r.ok()) return self->Finish(StorageError(r.status()));
      self->Mutate(std::move((*r)[0]));
    });
  }

  void Mutate(std::optional<outbox::Versioned> got) {
    Entity entity;
    uint64_t current = 0;
    if (!t_.create) {
      if (!got) return Finish(NotFound(t_.entity_type, t_.entity_id));
      current = got->version;
      if (!entity.ParseFromString(got->data)) {
        return Finish(absl::InternalError(Cat("stored ", t_.entity_type, " '", t_.entity_id, "' is corrupt")));
      }
      if (t_.expected_version != 0 && t_.expected_version != current) {
        return Finish(VersionMismatch(t_.expected_version, current));
      }
    }
    SetVersion(entity, current + 1);

    Changes<Response> changes;
    outbox::Store::ResetBlockingRefusals();
    absl::Status s = mutate_(entity, current, changes);
    if (outbox::Store::BlockingRefused()) return OffloadAll();
    if (!s.ok()) return t_.create && attempt_ == 1 ? RefusedCreate(std::move(s)) : Finish(s);

    auto req = CommitOf(t_, key_, current, entity, changes);
    auto self = this->shared_from_this();
    store_.CommitAsync(req, [self, response = std::make_shared<Response>(std::move(changes.response))](
                                absl::StatusOr<outbox::CommitResult> r) { self->OnCommit(std::move(r), *response); });
  }

  void OnCommit(absl::StatusOr<outbox::CommitResult> committed, Response& response) {
    if (!committed.ok()) return Finish(StorageError(committed.status()));
    switch (committed->outcome) {
      case Outcome::kCommitted: {
        WriteResult<Response> r;
        r.response = std::move(response);
        r.attempts = attempt_;
        return Finish(std::move(r));
      }
      case Outcome::kReplayed:
        return Finish(ParseReplay<Response>(committed->response, attempt_));
      case Outcome::kRequestIdReused:
        return Finish(RequestIdReused(t_.request_id));
      case Outcome::kConflict:
        last_conflict_version_ = committed->current_version;
        if (t_.create && committed->conflict_key == key_) {
          return Finish(absl::AlreadyExistsError(Cat(t_.entity_type, " '", t_.entity_id, "' already exists")));
        }
        if (t_.expected_version != 0 && committed->conflict_key == key_) {
          return Finish(VersionMismatch(t_.expected_version, committed->current_version));
        }
        break;  // someone else changed it in between: read again and re-apply
    }
    if (attempt_ >= std::max(1, t_.max_attempts)) {
      return Finish(absl::AbortedError(Cat(t_.entity_type, " '", t_.entity_id, "' is being changed concurrently (current version ",
                                           last_conflict_version_, "); retry with the same request_id")));
    }
    Attempt(std::nullopt, false);
  }

  // A create's mutation refused before its request record was looked up: a replay of a
  // request that was applied before gets that answer, anything else the refusal.
  void RefusedCreate(absl::Status refusal) {
    auto self = this->shared_from_this();
    store_.LookupRequestAsync(t_.request_id, t_.fingerprint,
                              [self, refusal = std::move(refusal)](absl::StatusOr<std::optional<outbox::CommitResult>> r) {
                                if (!r.ok()) return self->Finish(StorageError(r.status()));
                                if (!*r) return self->Finish(refusal);
                                self->OnLookup(std::move(*r), std::nullopt);
                              });
  }

  // The mutation needs to block: the blocking write, from the start, on a worker. Nothing was
  // committed by this attempt, and a commit of an earlier attempt would have finished the call.
  void OffloadAll() {
    auto self = this->shared_from_this();
    async_.offload([self] { self->Finish(VersionedWrite<Entity, Response>(self->store_, self->t_, self->mutate_)); });
  }

  outbox::Store& store_;
  const WriteTarget t_;
  const std::string key_;
  Mutation<Entity, Response> mutate_;
  Async<WriteResult<Response>> async_;
  int attempt_ = 0;
  uint64_t last_conflict_version_ = 0;
};

}  // namespace internal

template <typename Entity, typename Response>
void VersionedWriteAsync(outbox::Store& store, WriteTarget t, Mutation<Entity, Response> mutate,
                         Async<WriteResult<Response>> async) {
  if (auto s = CheckDeadline(t.deadline); !s.ok()) return async.done(s);
  std::make_shared<internal::AsyncWrite<Entity, Response>>(store, std::move(t), std::move(mutate), std::move(async))
      ->Start();
}

}  // namespace concord::writes
