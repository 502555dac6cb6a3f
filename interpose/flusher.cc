// interpose/flusher.cc — see flusher.h.
#include "interpose/flusher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "interpose/lane.h"

namespace rgpu {
namespace {

struct Flusher {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<LaneSet*> sets;
  std::chrono::microseconds tick{200};
  std::atomic<bool> idle{false};
};

Flusher* flusher() {
  static Flusher* f = [] {
    auto* fl = new Flusher();  // leaked: the thread runs until the process exits
    if (const char* v = std::getenv("RGPU_FLUSH_US")) {
      long us = std::strtol(v, nullptr, 10);
      if (us > 0) fl->tick = std::chrono::microseconds(us);
    }
    std::thread([fl] {
      std::unique_lock<std::mutex> l(fl->mu);
      int quiet = 0;
      for (;;) {
        if (quiet > 50) {
          fl->idle.store(true, std::memory_order_relaxed);
          fl->cv.wait_for(l, std::chrono::milliseconds(20));
          fl->idle.store(false, std::memory_order_relaxed);
          quiet = 0;
        } else {
          fl->cv.wait_for(l, fl->tick);
        }
        std::vector<LaneSet*> sets = fl->sets;
        l.unlock();
        bool any = false;
        for (LaneSet* s : sets) any |= s->tick_all();
        l.lock();
        quiet = any ? 0 : quiet + 1;
      }
    }).detach();
    return fl;
  }();
  return f;
}

}  // namespace

void flusher_add(LaneSet* set) {
  Flusher* f = flusher();
  std::lock_guard<std::mutex> g(f->mu);
  f->sets.push_back(set);
}

void flusher_wake() {
  Flusher* f = flusher();
  if (f->idle.load(std::memory_order_relaxed)) f->cv.notify_one();
}

}  // namespace rgpu
