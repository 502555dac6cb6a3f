// interpose/lane.cc — see lane.h.
#include "interpose/lane.h"

#include <capnp/message.h>
#include <kj/exception.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "interpose/flusher.h"
#include "interpose/log.h"
#include "protocol/batch_record.h"
#include "protocol/bulk_chunk.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/small_message.h"

namespace rgpu {
namespace {

// While alive, reads on `in` poll before they block (BufferedReader::set_spin_ns): the calling
// thread waits for a reply it needs now. Background readers (lane_async.cc) never spin. Like
// CUDA's CU_CTX_SCHED_AUTO, spinning is for when there are cores to spare: at most half the
// machine's cores (at least one) spin at once; other waiters block at once.
std::atomic<unsigned> g_spinners{0};

unsigned spinner_limit() {
  static const unsigned limit = std::max(1u, std::thread::hardware_concurrency() / 2);
  return limit;
}

class SyncWait {
 public:
  // c: the lane's counters (its lock held), for RGPU_STATS.
  SyncWait(net::BufferedReader& in, uint64_t ns, LaneCounters* c) : in_(in), was_(in.spin_ns()) {
    if (was_ != 0) return;  // an outer SyncWait already polls
    if (ns != 0 && g_spinners.fetch_add(1, std::memory_order_relaxed) < spinner_limit()) {
      counted_ = true;
      in_.set_spin_ns(ns);
      c->waits_polled++;
      return;
    }
    if (ns != 0) g_spinners.fetch_sub(1, std::memory_order_relaxed);
    c->waits_blocked++;
  }
  ~SyncWait() {
    in_.set_spin_ns(was_);
    if (counted_) g_spinners.fetch_sub(1, std::memory_order_relaxed);
  }
  SyncWait(const SyncWait&) = delete;
  SyncWait& operator=(const SyncWait&) = delete;

 private:
  net::BufferedReader& in_;
  uint64_t was_;
  bool counted_ = false;
};

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

// --- Lane -------------------------------------------------------------------------------------

Lane::Lane(std::unique_ptr<net::Stream> stream, LaneSet& set)
    : set_(set), stream_(std::move(stream)), in_(*stream_, kReadBufferBytes) {
  batch_.reserve(64 << 10);
}

// Lanes live until process exit; a lane that is destroyed stops its background threads first.
Lane::~Lane() {
  {
    std::lock_guard<std::mutex> cl(call_mu_);
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  send_cv_.notify_all();
  recv_cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (receiver_.joinable()) receiver_.join();
}

CUresult Lane::broken_locked(const std::string& why) {
  if (!broken_.exchange(true)) {
    if (std::string ended = set_.ended(); !ended.empty())
      RGPU_ERR("session on server %s ended %s", set_.server().c_str(), ended.c_str());
    else
      RGPU_ERR("connection to server %s lost: %s", set_.server().c_str(), why.c_str());
    stream_->shutdown();  // wake a thread that waits for a reply on this lane
  }
  batch_.clear();
  batch_count_ = 0;
  pending_.store(0, std::memory_order_relaxed);
  return CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult Lane::fail(const std::string& why) {
  std::lock_guard<std::mutex> g(mu_);
  return broken_locked(why);
}

CUresult Lane::flush() {
  std::lock_guard<std::mutex> g(mu_);
  return flush_locked();
}

void Lane::tick() {
  if (!has_pending()) return;
  std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
  if (!g.owns_lock()) return;  // its owner is busy with it and will send it
  if (batch_count_ == 0) return;
  if (send_busy_) return;  // the sender sends the batch when its copy is done
  if (tick_seen_ == flushes_) {
    flush_locked();  // this batch was already pending at the previous tick
  } else {
    tick_seen_ = flushes_;
  }
}

CUresult Lane::flush_locked() {
  wait_send_locked();  // a background copy's chunks go first
  if (broken_.load(std::memory_order_relaxed)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  if (batch_count_ == 0) return CUDA_SUCCESS;
  try {
    SmallMessage m;
    auto b = m.msg.initRoot<wire::Batch>();
    b.setCount(batch_count_);
    b.setSeq(set_.next_seq());
    // Reference the batch bytes instead of copying them into the message.
    b.adoptRecords(m.msg.getOrphanage().referenceExternalData(
        capnp::Data::Reader(batch_.data(), batch_.size())));
    write_frame(*stream_, FrameKind::kBatch, m.msg);
  } catch (const std::exception& e) {
    return broken_locked(e.what());
  } catch (const kj::Exception& e) {
    return broken_locked(e.getDescription().cStr());
  }
  counters_.batches++;
  counters_.bytes_out += batch_.size() + 64;
  ++flushes_;
  batch_.clear();
  batch_count_ = 0;
  pending_.store(0, std::memory_order_relaxed);
  return CUDA_SUCCESS;
}

CUresult Lane::enqueue_raw(Op op, const void* args, size_t args_len, const void* payload,
                           size_t payload_len, Fill fill) {
  std::lock_guard<std::mutex> g(mu_);
  if (broken_.load(std::memory_order_relaxed)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  const uint64_t rec = batch_record_size(args_len, payload_len);
  if (batch_count_ > 0 && batch_.size() + rec > kBatchBytes) {
    CUresult r = flush_locked();
    if (r != CUDA_SUCCESS) return r;
  }
  const bool was_empty = batch_count_ == 0;
  uint8_t* dst =
      append_batch_record(&batch_, static_cast<uint16_t>(op), args, args_len, payload_len);
  if (!dst) return CUDA_ERROR_INVALID_VALUE;  // a payload over 4 GiB cannot be batched
  if (fill)
    fill(payload, dst);
  else if (payload_len)
    memcpy(dst, payload, payload_len);
  ++batch_count_;
  pending_.store(batch_count_, std::memory_order_relaxed);
  counters_.async_records++;
  counters_.ops[static_cast<uint16_t>(op) & 255]++;
  if (batch_.size() >= kBatchBytes) return flush_locked();
  if (was_empty) {
    flusher_wake();  // the flusher may be idle
  }
  return CUDA_SUCCESS;
}

bool Lane::link_slow() const {
  return codec::link_is_slow(set_.compress_mode(), link_.estimate(), set_.slow_link_bytes_per_s());
}

uint64_t Lane::write_chunks(const uint8_t* src, size_t n) {
  const uint64_t t0 = now_ns();
  const bool slow = link_slow();  // decided once per copy: probing costs only on slow links
  uint64_t wire = 0;
  size_t off = 0;
  do {
    size_t len = std::min(LaneSet::kChunkBytes, n - off);
    wire += write_bulk_chunk(*stream_, src + off, off, len, off + len == n, slow, &zw_) + 64;
    off += len;
  } while (off < n);
  link_.add(wire, now_ns() - t0);
  return wire;
}

CUresult Lane::htod_bulk(uint64_t dst, const void* src, size_t n, uint64_t stream) {
  std::lock_guard<std::mutex> g(mu_);
  wait_send_locked();  // from here on mu_ stays held: record, batch and chunks go out together
  CUresult r = send_bulk_record_locked(dst, n, stream);
  if (r != CUDA_SUCCESS) return r;
  try {
    counters_.bytes_out += write_chunks(static_cast<const uint8_t*>(src), n);
  } catch (const std::exception& e) {
    return broken_locked(e.what());
  } catch (const kj::Exception& e) {
    return broken_locked(e.getDescription().cStr());
  }
  return CUDA_SUCCESS;
}

CUresult Lane::send_bulk_record_locked(uint64_t dst, size_t n, uint64_t stream) {
  if (broken_.load(std::memory_order_relaxed)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  // The record goes last in the batch, and its chunks follow the batch frame on this lane.
  op::MemcpyHtoD::Args a{dst, n, stream, kCopyFlagBulk};
  if (batch_count_ > 0 && batch_.size() + batch_record_size(sizeof a, 0) > kBatchBytes) {
    CUresult r = flush_locked();
    if (r != CUDA_SUCCESS) return r;
  }
  append_batch_record(&batch_, static_cast<uint16_t>(Op::MemcpyHtoD), &a, sizeof a, 0);
  ++batch_count_;
  counters_.async_records++;
  counters_.ops[static_cast<uint16_t>(Op::MemcpyHtoD)]++;
  return flush_locked();
}

uint64_t Lane::read_chunks(uint8_t* dst, size_t n) {
  uint64_t wire = 0;
  for (;;) {
    BulkChunkIn c = read_bulk_chunk(in_);
    std::string bad = c.check(n);
    if (!bad.empty()) throw net::NetError(net::NetError::kProtocol, bad);
    read_bulk_chunk_to_host(in_, c, dst, &z_);
    counters_.bytes_in += c.payload_len + 64;
    wire += c.payload_len + 64;
    if (c.last) return wire;
  }
}

CUresult Lane::dtoh_bulk(void* dst, uint64_t src, size_t n, uint64_t stream) {
  op::MemcpyDtoH::Args a{src, n, stream, kCopyFlagBulk | (link_slow() ? kCopyFlagCompressOk : 0)};
  op::MemcpyDtoH::Result res{};
  std::lock_guard<std::mutex> cl(call_mu_);
  wait_recv_locked();
  const uint64_t t0 = now_ns();
  CUresult r =
      call_locked(Op::MemcpyDtoH, &a, sizeof a, &res, sizeof res, nullptr, 0, nullptr, 0, nullptr);
  if (r != CUDA_SUCCESS) return r;
  const uint64_t t1 = now_ns();
  try {
    SyncWait spin(in_, set_.spin_ns(), &counters_);  // the caller waits for these bytes
    link_.add(read_chunks(static_cast<uint8_t*>(dst), n), now_ns() - t0);
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (const kj::Exception& e) {
    return fail(e.getDescription().cStr());
  }
  if (stats_on()) counters_.wait_ns += now_ns() - t1;
  return CUDA_SUCCESS;
}

CUresult Lane::call_raw(Op op, const void* args, size_t args_len, void* result, size_t result_len,
                        const void* payload, size_t payload_len, void* into, size_t into_len,
                        std::vector<uint8_t>* into_vec) {
  std::lock_guard<std::mutex> cl(call_mu_);
  wait_recv_locked();  // a background reply comes first on this lane
  CUresult r = call_locked(op, args, args_len, result, result_len, payload, payload_len, into,
                           into_len, into_vec);
  if (deferred_ != CUDA_SUCCESS && r == CUDA_SUCCESS) {
    r = deferred_;  // an error a background copy met (contract 3)
    deferred_ = CUDA_SUCCESS;
  }
  return r;
}

CUresult Lane::call_locked(Op op, const void* args, size_t args_len, void* result,
                           size_t result_len, const void* payload, size_t payload_len, void* into,
                           size_t into_len, std::vector<uint8_t>* into_vec) {
  CUresult r = send_request(op, args, args_len, payload, payload_len, true);
  if (r != CUDA_SUCCESS) return r;
  SyncWait spin(in_, set_.spin_ns(), &counters_);  // the calling thread needs this reply now
  return read_reply(op, result, result_len, into, into_len, into_vec);
}

CUresult Lane::send_request(Op op, const void* args, size_t args_len, const void* payload,
                            size_t payload_len, bool sync) {
  {
    std::lock_guard<std::mutex> g(mu_);
    CUresult r = flush_locked();
    if (r != CUDA_SUCCESS) return r;
    try {
      SmallMessage m;
      auto req = m.msg.initRoot<wire::Request>();
      req.setOp(static_cast<uint16_t>(op));
      req.setSeq(set_.next_seq());
      req.setArgs(capnp::Data::Reader(static_cast<const uint8_t*>(args), args_len));
      write_frame(*stream_, FrameKind::kRequest, m.msg, payload, payload_len);
    } catch (const std::exception& e) {
      return broken_locked(e.what());
    } catch (const kj::Exception& e) {
      return broken_locked(e.getDescription().cStr());
    }
    if (sync)
      counters_.sync_calls++;
    else
      counters_.async_records++;
    counters_.ops[static_cast<uint16_t>(op) & 255]++;
    counters_.bytes_out += args_len + payload_len + 64;
  }
  return CUDA_SUCCESS;
}

CUresult Lane::read_reply(Op op, void* result, size_t result_len, void* into, size_t into_len,
                          std::vector<uint8_t>* into_vec) {
  uint64_t t0 = stats_on() ? now_ns() : 0;
  try {
    InFrame f = read_frame(in_);
    if (f.kind == FrameKind::kGoodbye) {  // the server ends the session and says why (7)
      std::string why;
      try {
        why = f.reader().getRoot<wire::Goodbye>().getReason().cStr();
      } catch (const kj::Exception&) {
      }
      skip_payload(in_, f.payload_len);
      if (why.size() > 300) why.resize(300);
      set_.set_ended(why.empty() ? "by the server" : why);
      throw net::NetError(net::NetError::kClosed, "session ended " + set_.ended());
    }
    if (f.kind != FrameKind::kReply) {
      skip_payload(in_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol, "expected a Reply frame");
    }
    auto reader = f.reader();
    auto rep = reader.getRoot<wire::Reply>();
    CUresult status = static_cast<CUresult>(rep.getStatus());
    // Device printf text, on the program's stdout before the call returns (as a GPU flushes it
    // at a synchronizing call); through stdio, so it stays in order with the host's output.
    if (auto out = rep.getDeviceOutput(); out.size()) {
      std::fwrite(out.begin(), 1, out.size(), stdout);
      std::fflush(stdout);
    }
    if (rep.hasNotice()) {  // protocol 8: a warning for the program's user (a drain deadline)
      std::string n = rep.getNotice().cStr();
      if (n.size() > 400) n.resize(400);
      for (char& ch : n)
        if (ch == '\n' || ch == '\r' || static_cast<unsigned char>(ch) < 0x20) ch = ' ';
      std::fprintf(stderr, "rgpu: %s\n", n.c_str());
      std::fflush(stderr);
    }
    auto res = rep.getResults();
    if (res.size() == result_len) {
      if (result_len) memcpy(result, res.begin(), result_len);
    } else if (res.size() != 0 && status == CUDA_SUCCESS) {
      skip_payload(in_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol,
                          "reply record has the wrong size for " + std::string(op_name(op)));
    }
    if (f.payload_len) {
      if (into && f.payload_len == into_len) {
        read_payload(in_, into, into_len);
      } else if (into_vec && f.payload_len <= (64ull << 20)) {
        into_vec->resize(f.payload_len);
        read_payload(in_, into_vec->data(), f.payload_len);
      } else {
        skip_payload(in_, f.payload_len);
        if (status == CUDA_SUCCESS) {
          throw net::NetError(net::NetError::kProtocol,
                              "unexpected reply payload size for " + std::string(op_name(op)));
        }
      }
    } else if (into && into_len && status == CUDA_SUCCESS) {
      throw net::NetError(net::NetError::kProtocol,
                          "reply to " + std::string(op_name(op)) + " carries no data");
    }
    counters_.bytes_in += f.meta().size() * 8 + f.payload_len + sizeof(FrameHeader);
    if (t0) counters_.wait_ns += now_ns() - t0;
    if (status != CUDA_SUCCESS && status != CUDA_ERROR_NOT_READY) {
      auto text = rep.getErrorText();
      if (text.size()) {
        RGPU_WARN("%s: %s (server %s)", std::string(op_name(op)).c_str(), text.cStr(),
                  set_.server().c_str());
      }
    }
    return status;
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (const kj::Exception& e) {
    return fail(e.getDescription().cStr());
  }
}

void Lane::counters(LaneCounters* into) {
  std::lock_guard<std::mutex> cl(call_mu_);
  std::lock_guard<std::mutex> g(mu_);
  into->add(counters_);
}

void Lane::goodbye(const char* reason) {
  std::unique_lock<std::mutex> cl(call_mu_, std::try_to_lock);
  if (!cl.owns_lock()) return;  // a thread is waiting for a reply here: leave the lane alone
  std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
  if (!g.owns_lock() || broken_.load(std::memory_order_relaxed)) return;
  pollfd p{stream_->fd(), POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return;  // the frame could block
  try {
    SmallMessage m;
    m.msg.initRoot<wire::Goodbye>().setReason(reason);
    write_frame(*stream_, FrameKind::kGoodbye, m.msg);
  } catch (const std::exception&) {
  } catch (const kj::Exception&) {
  }
}

}  // namespace rgpu
