// interpose/lane.h — the connections (lanes) to one device's server worker, and their batches.
//
// Contract:
// - A LaneSet serves one device. Each app thread gets its own Lane (a connection of the same
//   session: the first is the one cuInit opened, further ones join with HelloReply's
//   sessionId/laneKey). A thread writes its calls to its lane and reads the replies there
//   itself: no hand-off to another thread, and threads that call at once never wait on each
//   other's round trips. When a lane cannot be opened (TLS — see server/lane_handoff.h —, a
//   server without lane keys, or kMaxLanes reached), threads share lanes; a shared lane
//   serialises round trips on its own lock and stays correct.
// - Lanes of exited threads are reused by new threads. Lanes are closed only at process exit.
// - Async ops (enqueue, htod) append a record to the thread's lane batch without a syscall
//   (protocol/batch_record.h); the caller's buffers are free when they return.
//   A batch goes out when it reaches kBatchBytes, at the next sync call of any thread, or after
//   the flush deadline (RGPU_FLUSH_US, default 200 µs: a background flusher, flusher.h, sends
//   batches that waited that long). Lane is in lane.cc and lane_async.cc, LaneSet in
//   lane_set.cc.
// - Order (DESIGN contract 4): every Request and Batch carries a number from one per-session
//   counter, taken while holding the lane it goes out on; the worker runs frames in that order
//   across lanes (server/worker/gate.h). A sync call first flushes every lane's pending batch,
//   so calls from one thread reach the GPU in issue order and a sync call comes after every call
//   any thread finished before it started. Its CUresult includes any error an earlier async op
//   of the session caused (contract 3).
// - Copies: htod()/dtoh() of more than kInlineCopyBytes stream as BulkChunk frames of
//   kChunkBytes straight from / into the caller's memory (no staging copy): all-zero chunks as a
//   zero marker, LZ4 only when the link is slow and a probe block compresses
//   (protocol/codec/compress_policy.h: RGPU_COMPRESS=auto|on|off, RGPU_COMPRESS_GBITS; each lane
//   measures its own bulk throughput). Smaller HtoD copies ride in the batch, smaller DtoH copies
//   in the reply payload.
// - Async copies with page-locked host memory (htod_async/dtoh_async; memory_api.cc decides):
//   an HtoD sends its batch record and returns; the lane's sender thread streams the chunks from
//   the caller's memory (pinned memory is the app's promise not to change it until the stream
//   reaches the copy). A DtoH sends its request and returns; the lane's receiver thread reads the
//   reply into the destination. Every later write on the lane waits for the sender (so frames
//   keep their order on the wire) and every later read for the receiver (replies come in order);
//   a sync call on any lane of the set also waits for every lane's receiver before it returns,
//   so a stream/event/context sync covers the copy. An error a background copy meets is
//   returned by the lane's next sync call (contract 3). wait_background() waits for both (e.g.
//   before pinned memory is freed).
// - Threads on one stream (protocol/transport.h: one reader and one writer at a time): every
//   write (batch, request, bulk chunks) happens under mu_, or by the sender thread while
//   send_busy_ keeps every other writer waiting; every read (reply, DtoH chunks) under call_mu_,
//   by the calling thread or by the receiver thread that holds call_mu_ for the whole reply. A
//   write never waits for a read. This holds for shared lanes too (TLS, RGPU_LANES=1, more than
//   kMaxLanes threads, a server without lane keys): threads that share a lane queue on those two
//   locks. A TLS stream serialises its SSL calls itself (protocol/tls.cc), so the flusher, the
//   background threads and the app threads may use one TLS lane at once.
// - A transport failure marks the lane broken: that call and every later one on it return
//   CUDA_ERROR_DEVICE_UNAVAILABLE and the reason is printed once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "interpose/capture.h"
#include "interpose/cuda_api.h"
#include "interpose/entry_class.h"
#include "interpose/managed.h"
#include "interpose/stats.h"
#include "interpose/tally.h"
#include "protocol/buffered_stream.h"
#include "protocol/codec/compress_policy.h"
#include "protocol/handshake.h"
#include "protocol/ops.h"
#include "protocol/transport.h"

namespace rgpu {

class LaneSet;

class Lane {
 public:
  static constexpr size_t kBatchBytes = 1u << 20;
  // Replies are small and bulk payloads land in place: a refill of the read buffer takes at most
  // this much of a payload (which is then copied once more).
  static constexpr size_t kReadBufferBytes = 4096;

  Lane(std::unique_ptr<net::Stream> stream, LaneSet& set);
  ~Lane();
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  // A sync op on this lane (the LaneSet flushed the other lanes first).
  CUresult call_raw(Op op, const void* args, size_t args_len, void* result, size_t result_len,
                    const void* payload, size_t payload_len, void* into, size_t into_len,
                    std::vector<uint8_t>* into_vec);
  // Appends an async record; `fill` (if set) writes its payload_len payload bytes in place.
  using Fill = void (*)(const void* ctx, uint8_t* dst);
  CUresult enqueue_raw(Op op, const void* args, size_t args_len, const void* payload,
                       size_t payload_len, Fill fill = nullptr);
  // Bulk copies (kCopyFlagBulk).
  CUresult htod_bulk(uint64_t dst, const void* src, size_t n, uint64_t stream);
  CUresult dtoh_bulk(void* dst, uint64_t src, size_t n, uint64_t stream);
  // Background copies (see above): src/dst must stay valid until wait_background() or a sync.
  CUresult htod_async(uint64_t dst, const void* src, size_t n, uint64_t stream);
  CUresult dtoh_async(void* dst, uint64_t src, size_t n, uint64_t stream);
  // LaneSet::goodbye for this lane: only if no thread is using it and the socket has room now.
  void goodbye(const char* reason);
  void wait_background();
  void wait_receiver();  // only the receiver
  bool receiving() const { return recv_pending_.load(std::memory_order_acquire); }

  CUresult flush();
  bool has_pending() const { return pending_.load(std::memory_order_relaxed) != 0; }
  // The deadline flusher: sends a batch that was already pending at the previous tick.
  void tick();
  void counters(LaneCounters* into);

 private:
  CUresult call_locked(Op op, const void* args, size_t args_len, void* result, size_t result_len,
                       const void* payload, size_t payload_len, void* into, size_t into_len,
                       std::vector<uint8_t>* into_vec);
  CUresult flush_locked();
  CUresult broken_locked(const std::string& why);
  CUresult fail(const std::string& why);
  // The two halves of a round trip (call_mu_ held): the request goes out after the batch, then
  // its reply is read (into `into` when its payload has into_len bytes, else into_vec).
  CUresult send_request(Op op, const void* args, size_t args_len, const void* payload,
                        size_t payload_len, bool sync);
  CUresult read_reply(Op op, void* result, size_t result_len, void* into, size_t into_len,
                      std::vector<uint8_t>* into_vec);
  // Both return the bytes that crossed the wire (frame overhead included).
  uint64_t write_chunks(const uint8_t* src, size_t n);
  uint64_t read_chunks(uint8_t* dst, size_t n);
  bool link_slow() const;  // chunks of this lane may be compressed (compress_policy.h)
  // Appends a bulk HtoD record and sends the batch (mu_ held, sender idle); the chunks follow.
  CUresult send_bulk_record_locked(uint64_t dst, size_t n, uint64_t stream);
  // Background copies: the writers (under mu_) wait for the sender, the readers (under
  // call_mu_) for the receiver; both threads start on first use.
  void wait_send_locked();
  void wait_recv_locked();
  void start_threads();
  void sender_main();
  void receiver_main();

  LaneSet& set_;
  std::mutex mu_;       // batch, writes, counters_ (except the reader's fields)
  std::mutex call_mu_;  // one round trip at a time (reads); taken before mu_
  std::unique_ptr<net::Stream> stream_;
  net::BufferedReader in_;
  std::vector<uint8_t> batch_;
  uint32_t batch_count_ = 0;
  std::atomic<uint32_t> pending_{0};  // batch_count_, for lock-free peeks
  uint64_t flushes_ = 0, tick_seen_ = ~0ull;
  std::atomic<bool> broken_{false};
  std::vector<uint8_t> z_;   // LZ4 scratch of the reading side (call_mu_)
  std::vector<uint8_t> zw_;  // LZ4 scratch of the writing side (mu_ or the sender)
  LaneCounters counters_;    // bytes_in and wait_ns under call_mu_, the rest under mu_
  codec::LinkMeter link_;    // achieved bulk throughput (compress_policy.h)

  // The sender's job (under mu_): chunks of [send_src_, +send_n_) follow the batch just sent.
  std::condition_variable_any send_cv_;
  const uint8_t* send_src_ = nullptr;
  size_t send_n_ = 0;
  bool send_busy_ = false;
  // The receiver's job (under call_mu_): the reply to a MemcpyDtoH already sent.
  std::condition_variable_any recv_cv_;
  uint8_t* recv_dst_ = nullptr;
  size_t recv_n_ = 0;
  uint64_t recv_t0_ = 0;
  bool recv_job_ = false, recv_busy_ = false;
  std::atomic<bool> recv_pending_{false};
  CUresult deferred_ = CUDA_SUCCESS;  // a background copy's error, for the next sync call
  bool stop_ = false;                 // under both locks
  std::thread sender_, receiver_;
};

class LaneSet {
 public:
  static constexpr size_t kMaxLanes = 32;
  static constexpr size_t kInlineCopyBytes = 64 * 1024;
  static constexpr size_t kChunkBytes = 4u << 20;
  static constexpr uint64_t kDefaultSpinUs = 100;

  // How further lanes join: the session's answer to the first hello and what to send again.
  struct Join {
    bool allowed = false;  // the server gave a lane key
    net::Endpoint endpoint;
    int timeout_ms = 10000;
    HelloParams hello;  // join_session / join_key filled
    bool tls = false;   // TLS session: a further lane sends `preamble`, then runs TLS
    net::TlsConfig tls_config;
    std::string preamble;          // protocol/lane_preamble.h
    ServerTally* tally = nullptr;  // further lanes count their bytes here too (tally.h)
  };

  LaneSet(std::unique_ptr<net::Stream> first, std::string server, Join join);

  template <typename O>
  CUresult call(const typename O::Args& args, typename O::Result* result = nullptr,
                const void* payload = nullptr, size_t payload_len = 0, void* into = nullptr,
                size_t into_len = 0, std::vector<uint8_t>* into_vec = nullptr) {
    static_assert(O::kClass == OpClass::kSync);
    if (t_local_entry) return remote_from_local(O::kName);
    if (capture::active()) {
      CUresult refused;
      if (capture::refuse_sync(O::kCode, &args, sizeof args, &refused)) return refused;
    }
    typename O::Result ignored{};
    if (managed::any()) managed::before_device_work(this, false);
    Lane& l = mine();
    flush_others(&l);
    CUresult r =
        l.call_raw(O::kCode, &args, sizeof args, result ? result : &ignored,
                   sizeof(typename O::Result), payload, payload_len, into, into_len, into_vec);
    wait_receivers(&l);
    if (r == CUDA_SUCCESS && managed::any() &&
        (O::kCode == Op::CtxSynchronize || O::kCode == Op::StreamSynchronize ||
         O::kCode == Op::EventSynchronize || O::kCode == Op::Memcpy2DDtoH))
      managed::after_sync(this);
    return r;
  }

  template <typename O>
  CUresult enqueue(const typename O::Args& args, const void* payload = nullptr,
                   size_t payload_len = 0) {
    static_assert(O::kClass == OpClass::kAsync);
    if (t_local_entry) return remote_from_local(O::kName);
    if (capture::active()) {
      CUresult recorded;
      if (capture::record(this, O::kCode, &args, sizeof args, payload, payload_len, nullptr,
                          nullptr, &recorded))
        return recorded;
    }
    if (managed::any()) managed::before_device_work(this, true);
    return mine().enqueue_raw(O::kCode, &args, sizeof args, payload, payload_len);
  }
  template <typename O>
  CUresult enqueue_fill(const typename O::Args& args, size_t payload_len, Lane::Fill fill,
                        const void* ctx) {
    static_assert(O::kClass == OpClass::kAsync);
    if (t_local_entry) return remote_from_local(O::kName);
    if (capture::active()) {
      CUresult recorded;
      if (capture::record(this, O::kCode, &args, sizeof args, nullptr, payload_len, fill, ctx,
                          &recorded))
        return recorded;
    }
    if (managed::any()) managed::before_device_work(this, true);
    return mine().enqueue_raw(O::kCode, &args, sizeof args, ctx, payload_len, fill);
  }

  // A recorded async op (a graph's node being replayed): checked against captures like
  // enqueue(), then appended to the batch.
  CUresult enqueue_recorded(Op op, const void* args, size_t args_len, const void* payload,
                            size_t payload_len);

  // Copies of any size (chunked and streamed above kInlineCopyBytes). htod is async (the
  // bytes are on their way, or in the batch, when it returns); dtoh is a sync call.
  CUresult htod(uint64_t dst, const void* src, size_t n, uint64_t stream);
  CUresult dtoh(void* dst, uint64_t src, size_t n, uint64_t stream);
  // The same from/to page-locked host memory, stream-ordered: they return before the bytes
  // moved (Lane::htod_async/dtoh_async). Small copies take the plain paths.
  CUresult htod_async(uint64_t dst, const void* src, size_t n, uint64_t stream);
  CUresult dtoh_async(void* dst, uint64_t src, size_t n, uint64_t stream);
  // Waits until no lane has a background copy in flight.
  void wait_background();

  // Sends every lane's pending batch, the calling thread's own last (its records may depend on
  // another thread's: they take later frame numbers).
  CUresult flush();
  const std::string& server() const { return server_; }
  // Why the server ended the session, from the first Goodbye any lane read (protocol 7);
  // "" while it has not. The other lanes' errors then say the same.
  void set_ended(const std::string& why) {
    std::lock_guard<std::mutex> g(mu_);
    if (ended_.empty()) ended_ = why;
  }
  std::string ended() {
    std::lock_guard<std::mutex> g(mu_);
    return ended_;
  }
  size_t lane_count() const { return n_lanes_.load(std::memory_order_acquire); }
  codec::CompressMode compress_mode() const { return compress_mode_; }
  // How long a thread waiting for a sync reply polls its socket before it sleeps
  // (RGPU_SPIN_US, default kDefaultSpinUs; 0: never). 0 too once a context of this device asked
  // for CU_CTX_SCHED_BLOCKING_SYNC or CU_CTX_SCHED_YIELD (set_sched_flags; device-wide).
  uint64_t spin_ns() const { return block_waits_.load(std::memory_order_relaxed) ? 0 : spin_ns_; }
  void set_sched_flags(unsigned ctx_flags);
  // At process exit: every lane that is idle and whose socket has room sends a Goodbye (joined
  // lanes first), so the server records the session as ended by the client. Never blocks.
  void goodbye(const char* reason);
  double slow_link_bytes_per_s() const { return slow_bps_; }

  // The next frame number of this session (contract 4).
  uint64_t next_seq() { return seq_.fetch_add(1, std::memory_order_relaxed) + 1; }

  // This thread's lane (opened or taken on first use).
  Lane& mine();
  // A server call from inside a kLocal entry (entry_class.h).
  static CUresult remote_from_local(std::string_view op) {
    return static_cast<CUresult>(local_entry_went_remote(t_local_entry, std::string(op).c_str()));
  }
  void release(Lane* l);  // a thread that owned l exited
  bool tick_all();        // true when some lane had a pending batch
  void counters(LaneCounters* into);

 private:
  Lane& mine_slow();
  Lane* open_lane();
  void flush_others(Lane* me);
  // A sync call covers every earlier background DtoH of the set (contract 4).
  void wait_receivers(Lane* me) {
    if (n_lanes_.load(std::memory_order_acquire) > 1) wait_receivers_slow(me);
  }
  void wait_receivers_slow(Lane* me);

  std::string server_;
  Join join_;
  codec::CompressMode compress_mode_ = codec::CompressMode::kAuto;
  uint64_t spin_ns_ = kDefaultSpinUs * 1000;
  std::atomic<bool> block_waits_{false};
  double slow_bps_ = codec::kDefaultSlowBitsPerSecond / 8;
  std::atomic<uint64_t> seq_{0};
  std::mutex mu_;  // free_, adding lanes
  std::unique_ptr<Lane> lanes_[kMaxLanes];
  std::atomic<size_t> n_lanes_{0};
  std::vector<Lane*> free_;
  size_t next_shared_ = 0;
  std::string ended_;  // set_ended(), under mu_
};

}  // namespace rgpu
