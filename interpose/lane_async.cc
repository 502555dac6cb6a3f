// interpose/lane_async.cc — a lane's background copies with page-locked host memory (lane.h):
// the sender thread streams an async HtoD's chunks, the receiver thread reads an async DtoH's
// reply. Each lane starts them on first use; they run until the lane is destroyed.
#include <kj/exception.h>

#include <chrono>

#include "interpose/lane.h"

namespace rgpu {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void Lane::wait_send_locked() {
  while (send_busy_) send_cv_.wait(mu_);
}

void Lane::wait_recv_locked() {
  while (recv_busy_) recv_cv_.wait(call_mu_);
}

void Lane::wait_receiver() {
  if (!receiving()) return;
  std::lock_guard<std::mutex> cl(call_mu_);
  wait_recv_locked();
}

void Lane::wait_background() {
  {
    std::lock_guard<std::mutex> g(mu_);
    wait_send_locked();
  }
  wait_receiver();
}

CUresult Lane::htod_async(uint64_t dst, const void* src, size_t n, uint64_t stream) {
  std::lock_guard<std::mutex> g(mu_);
  wait_send_locked();  // one background HtoD at a time: its chunks follow its own batch
  CUresult r = send_bulk_record_locked(dst, n, stream);
  if (r != CUDA_SUCCESS) return r;
  if (!sender_.joinable()) sender_ = std::thread([this] { sender_main(); });
  send_src_ = static_cast<const uint8_t*>(src);
  send_n_ = n;
  send_busy_ = true;
  send_cv_.notify_all();
  return CUDA_SUCCESS;
}

void Lane::sender_main() {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    send_cv_.wait(g, [this] { return stop_ || send_src_ != nullptr; });
    if (stop_) return;
    const uint8_t* src = send_src_;
    const size_t n = send_n_;
    send_src_ = nullptr;
    g.unlock();  // app threads keep appending to the batch meanwhile; writers wait for us
    std::string err;
    uint64_t wire = 0;
    try {
      wire = write_chunks(src, n);
    } catch (const std::exception& e) {
      err = e.what();
    } catch (const kj::Exception& e) {
      err = e.getDescription().cStr();
    }
    g.lock();
    counters_.bytes_out += wire;
    send_busy_ = false;
    if (!err.empty()) {
      broken_locked(err);  // the next call on this lane reports it
    } else if (batch_count_ > 0) {
      flush_locked();  // records that waited behind the copy go now (errors mark the lane)
    }
    send_cv_.notify_all();
  }
}

CUresult Lane::dtoh_async(void* dst, uint64_t src, size_t n, uint64_t stream) {
  std::lock_guard<std::mutex> cl(call_mu_);
  wait_recv_locked();  // replies come in order: one background DtoH at a time
  const bool bulk = n > LaneSet::kInlineCopyBytes;
  op::MemcpyDtoH::Args a{
      src, n, stream,
      bulk ? static_cast<uint32_t>(kCopyFlagBulk | (link_slow() ? kCopyFlagCompressOk : 0)) : 0u};
  const uint64_t t0 = now_ns();
  CUresult r = send_request(Op::MemcpyDtoH, &a, sizeof a, nullptr, 0, false);
  if (r != CUDA_SUCCESS) return r;
  if (!receiver_.joinable()) receiver_ = std::thread([this] { receiver_main(); });
  recv_dst_ = static_cast<uint8_t*>(dst);
  recv_n_ = n;
  recv_t0_ = t0;
  recv_job_ = true;
  recv_busy_ = true;
  recv_pending_.store(true, std::memory_order_release);
  recv_cv_.notify_all();
  return CUDA_SUCCESS;
}

void Lane::receiver_main() {
  std::unique_lock<std::mutex> cl(call_mu_);
  for (;;) {
    recv_cv_.wait(cl, [this] { return stop_ || recv_job_; });
    if (stop_) return;
    recv_job_ = false;
    // call_mu_ stays held while the reply is read: every other reader of this lane waits.
    op::MemcpyDtoH::Result res{};
    const bool bulk = recv_n_ > LaneSet::kInlineCopyBytes;
    CUresult r = read_reply(Op::MemcpyDtoH, &res, sizeof res, bulk ? nullptr : recv_dst_,
                            bulk ? 0 : recv_n_, nullptr);
    if (r == CUDA_SUCCESS && bulk) {
      try {
        link_.add(read_chunks(recv_dst_, recv_n_), now_ns() - recv_t0_);
      } catch (const std::exception& e) {
        r = fail(e.what());
      } catch (const kj::Exception& e) {
        r = fail(e.getDescription().cStr());
      }
    }
    if (r != CUDA_SUCCESS && deferred_ == CUDA_SUCCESS) deferred_ = r;
    recv_busy_ = false;
    recv_pending_.store(false, std::memory_order_release);
    recv_cv_.notify_all();
  }
}

// --- LaneSet ------------------------------------------------------------------------------------

CUresult LaneSet::htod_async(uint64_t dst, const void* src, size_t n, uint64_t stream) {
  if (n <= kInlineCopyBytes) return htod(dst, src, n, stream);  // copied into the batch
  if (capture::active()) {
    CUresult recorded;
    if (capture::record_htod(this, dst, src, n, stream, &recorded)) return recorded;
  }
  if (t_local_entry) return remote_from_local("async copy");
  return mine().htod_async(dst, src, n, stream);
}

CUresult LaneSet::dtoh_async(void* dst, uint64_t src, size_t n, uint64_t stream) {
  if (n == 0) return CUDA_SUCCESS;
  if (t_local_entry) return remote_from_local("async copy");
  if (capture::active()) {
    CUresult recorded;
    if (capture::record_dtoh(this, dst, src, n, stream, &recorded)) return recorded;
  }
  if (managed::any()) managed::before_device_work(this, false);
  Lane& l = mine();
  flush_others(&l);  // what other threads finished before this copy comes first
  return l.dtoh_async(dst, src, n, stream);
}

void LaneSet::wait_background() {
  size_t n = n_lanes_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) lanes_[i]->wait_background();
}

void LaneSet::wait_receivers_slow(Lane* me) {
  size_t n = n_lanes_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    Lane* l = lanes_[i].get();
    if (l != me) l->wait_receiver();
  }
}

}  // namespace rgpu
