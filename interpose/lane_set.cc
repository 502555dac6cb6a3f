// interpose/lane_set.cc — LaneSet (see lane.h): a device's lanes, which thread uses which, and
// what concerns all of them at once (flushes, counters, Goodbye at exit).
#include <kj/exception.h>

#include <cstdlib>
#include <thread>

#include "interpose/flusher.h"
#include "interpose/lane.h"
#include "interpose/log.h"
#include "protocol/counting_stream.h"

namespace rgpu {
namespace {

// The lane each thread owns, returned to its set when the thread exits.
// Set once the thread's ThreadLanes is destroyed: exit() runs the main thread's thread_local
// destructors before the atexit handlers, and cudart's handlers still call the driver
// (cuLibraryUnload on every device); those calls share a lane instead of touching t_lanes.
thread_local bool t_lanes_gone = false;
thread_local LaneSet* t_last_set = nullptr;  // fast path: the set this thread used last
thread_local Lane* t_last_lane = nullptr;
struct ThreadLanes {
  std::vector<std::pair<LaneSet*, Lane*>> owned;
  ~ThreadLanes() {
    for (auto& [set, lane] : owned) set->release(lane);
    t_lanes_gone = true;
    t_last_set = nullptr;
    t_last_lane = nullptr;
  }
};
thread_local ThreadLanes t_lanes;

void collect(void* ctx, LaneCounters* into) {
  static_cast<LaneSet*>(ctx)->counters(into);
}

}  // namespace

// --- LaneSet ------------------------------------------------------------------------------------

LaneSet::LaneSet(std::unique_ptr<net::Stream> first, std::string server, Join join)
    : server_(std::move(server)), join_(std::move(join)) {
  const char* z = std::getenv("RGPU_COMPRESS");
  if (auto m = codec::parse_compress_mode(z)) {
    compress_mode_ = *m;
  } else {
    RGPU_WARN("RGPU_COMPRESS=%s is not auto, on or off; using auto", z);
  }
  if (const char* sp = std::getenv("RGPU_SPIN_US")) {
    char* end = nullptr;
    unsigned long long us = std::strtoull(sp, &end, 10);
    if (end != sp && *end == '\0' && us <= 1000000)
      spin_ns_ = us * 1000;
    else
      RGPU_WARN("RGPU_SPIN_US=%s is not a number of microseconds (0-1000000); using %llu", sp,
                static_cast<unsigned long long>(kDefaultSpinUs));
  }
  const char* g = std::getenv("RGPU_COMPRESS_GBITS");
  if (auto t = codec::parse_slow_threshold(g)) {
    slow_bps_ = *t;
  } else {
    RGPU_WARN("RGPU_COMPRESS_GBITS=%s is not a positive number of Gbit/s; using 2", g);
  }
  lanes_[0] = std::make_unique<Lane>(std::move(first), *this);
  n_lanes_.store(1, std::memory_order_release);
  free_.push_back(lanes_[0].get());
  flusher_add(this);
  add_lane_source(collect, this);
}

Lane& LaneSet::mine() {
  if (t_last_set == this) return *t_last_lane;
  return mine_slow();
}

Lane& LaneSet::mine_slow() {
  const bool gone = t_lanes_gone;
  if (!gone) {
    for (auto& [set, lane] : t_lanes.owned) {
      if (set == this) {
        t_last_set = this;
        t_last_lane = lane;
        return *lane;
      }
    }
  }
  Lane* l = nullptr;
  bool owned = !gone;
  if (owned) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!free_.empty()) {
        l = free_.back();
        free_.pop_back();
      }
    }
    if (!l) l = open_lane();
  }
  if (!l) {
    // No lane of our own: share one (round trips serialise on the lane's lock).
    std::lock_guard<std::mutex> g(mu_);
    size_t n = n_lanes_.load(std::memory_order_acquire);
    l = lanes_[next_shared_++ % n].get();
    owned = false;
  }
  if (owned) t_lanes.owned.emplace_back(this, l);
  t_last_set = this;
  t_last_lane = l;
  return *l;
}

Lane* LaneSet::open_lane() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!join_.allowed || n_lanes_.load(std::memory_order_relaxed) >= kMaxLanes) return nullptr;
  }
  std::unique_ptr<net::Stream> s;
  try {
    s = net::connect(join_.endpoint, join_.tls ? &join_.tls_config : nullptr, join_.timeout_ms,
                     join_.tls ? join_.preamble : std::string());
    if (join_.tally)
      s = std::make_unique<net::CountingStream>(std::move(s), &join_.tally->bytes_in,
                                                &join_.tally->bytes_out);
    client_handshake(*s, join_.hello);
  } catch (const std::exception& e) {
    RGPU_WARN("cannot open another lane to %s (threads will share lanes): %s", server_.c_str(),
              e.what());
    std::lock_guard<std::mutex> g(mu_);
    join_.allowed = false;
    return nullptr;
  } catch (const kj::Exception& e) {
    std::lock_guard<std::mutex> g(mu_);
    join_.allowed = false;
    return nullptr;
  }
  std::lock_guard<std::mutex> g(mu_);
  size_t n = n_lanes_.load(std::memory_order_relaxed);
  if (n >= kMaxLanes) return nullptr;
  lanes_[n] = std::make_unique<Lane>(std::move(s), *this);
  n_lanes_.store(n + 1, std::memory_order_release);
  return lanes_[n].get();
}

void LaneSet::release(Lane* l) {
  std::lock_guard<std::mutex> g(mu_);
  free_.push_back(l);
}

void LaneSet::flush_others(Lane* me) {
  size_t n = n_lanes_.load(std::memory_order_acquire);
  if (n == 1) return;
  for (size_t i = 0; i < n; ++i) {
    Lane* l = lanes_[i].get();
    if (l != me && l->has_pending()) l->flush();
  }
}

CUresult LaneSet::flush() {
  // The calling thread's lane last: what it just batched (a lookup, an allocation) may depend on
  // another thread's batched work (the module it loaded), which must take the earlier frame
  // number; as call() sends a sync op after flush_others().
  Lane* me = nullptr;
  if (t_last_set == this) {
    me = t_last_lane;
  } else if (!t_lanes_gone) {
    for (auto& [set, lane] : t_lanes.owned)
      if (set == this) me = lane;
  }
  CUresult first = CUDA_SUCCESS;
  size_t n = n_lanes_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    if (lanes_[i].get() == me) continue;
    CUresult r = lanes_[i]->flush();
    if (first == CUDA_SUCCESS) first = r;
  }
  if (me) {
    CUresult r = me->flush();
    if (first == CUDA_SUCCESS) first = r;
  }
  return first;
}

void LaneSet::goodbye(const char* reason) {
  // Joined lanes first: the first lane's Goodbye ends the whole session on the server.
  for (size_t i = n_lanes_.load(std::memory_order_acquire); i-- > 0;) lanes_[i]->goodbye(reason);
}

void LaneSet::set_sched_flags(unsigned ctx_flags) {
  const unsigned sched = ctx_flags & CU_CTX_SCHED_MASK;
  block_waits_.store(sched == CU_CTX_SCHED_BLOCKING_SYNC || sched == CU_CTX_SCHED_YIELD,
                     std::memory_order_relaxed);
}

bool LaneSet::tick_all() {
  bool any = false;
  size_t n = n_lanes_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    any |= lanes_[i]->has_pending();
    lanes_[i]->tick();
  }
  return any;
}

void LaneSet::counters(LaneCounters* into) {
  size_t n = n_lanes_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) lanes_[i]->counters(into);
}

CUresult LaneSet::enqueue_recorded(Op op, const void* args, size_t args_len, const void* payload,
                                   size_t payload_len) {
  if (t_local_entry) return remote_from_local(op_name(op));
  if (capture::active()) {
    CUresult recorded;
    if (capture::record(this, op, args, args_len, payload, payload_len, nullptr, nullptr,
                        &recorded))
      return recorded;
  }
  if (managed::any()) managed::before_device_work(this, true);
  return mine().enqueue_raw(op, args, args_len, payload, payload_len);
}

CUresult LaneSet::htod(uint64_t dst, const void* src, size_t n, uint64_t stream) {
  if (n == 0) return CUDA_SUCCESS;
  if (capture::active()) {
    CUresult recorded;
    if (capture::record_htod(this, dst, src, n, stream, &recorded)) return recorded;
  }
  if (t_local_entry) return remote_from_local(n <= kInlineCopyBytes ? "Memcpy" : "bulk copy");
  CUresult r;
  if (n <= kInlineCopyBytes) {
    op::MemcpyHtoD::Args a{dst, n, stream, 0};
    r = enqueue<op::MemcpyHtoD>(a, src, n);  // enqueue flushes managed memory itself
  } else {
    if (managed::any()) managed::before_device_work(this, true);
    r = mine().htod_bulk(dst, src, n, stream);
  }
  if (r == CUDA_SUCCESS && managed::any()) managed::after_htod(dst, src, n);
  return r;
}

CUresult LaneSet::dtoh(void* dst, uint64_t src, size_t n, uint64_t stream) {
  if (n == 0) return CUDA_SUCCESS;
  if (capture::active()) {
    CUresult recorded;
    if (capture::record_dtoh(this, dst, src, n, stream, &recorded)) return recorded;
  }
  if (managed::any()) managed::before_device_work(this, false);
  if (t_local_entry) return remote_from_local(n <= kInlineCopyBytes ? "Memcpy" : "bulk copy");
  Lane& l = mine();
  flush_others(&l);
  CUresult r;
  if (n <= kInlineCopyBytes) {
    op::MemcpyDtoH::Args a{src, n, stream, 0};
    op::MemcpyDtoH::Result res{};
    r = l.call_raw(Op::MemcpyDtoH, &a, sizeof a, &res, sizeof res, nullptr, 0, dst, n, nullptr);
  } else {
    r = l.dtoh_bulk(dst, src, n, stream);
  }
  wait_receivers(&l);
  if (r == CUDA_SUCCESS && managed::any()) {
    managed::after_dtoh(this, dst, n);
    managed::after_sync(this);
  }
  return r;
}

}  // namespace rgpu
