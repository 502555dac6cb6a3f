// interpose/lane.h — one data-plane connection to a server worker, and its batch.
//
// Contract:
// - call<Op>() is a synchronous op: under the lane's lock it flushes the pending batch, writes
//   one Request frame (args record + optional payload), reads the Reply and its payload. A reply
//   payload goes straight into the caller's buffer (`into`, exactly `into_len` bytes expected)
//   or into `into_vec`. The CUresult is the server's status, which includes any error an earlier
//   async op of this session caused (DESIGN contract 3).
// - enqueue<Op>() appends an async record ({u16 op, u16 flags, u32 argsLen, u32 payloadLen,
//   u32 pad, args, payload} padded to 8 bytes, protocol/schema/data_plane.capnp Batch) with its
//   payload copied, so the caller's buffer is free when it returns; the batch goes out when it
//   reaches kBatchBytes or at the next call()/flush(). One lock orders every thread's calls
//   (contract 4); a later issue replaces this with per-thread lanes.
// - A transport failure marks the lane broken: that call and every later one return
//   CUDA_ERROR_DEVICE_UNAVAILABLE and the reason is printed once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "interpose/cuda_api.h"
#include "protocol/ops.h"
#include "protocol/transport.h"

namespace rgpu {

class Lane {
 public:
  static constexpr size_t kBatchBytes = 1u << 20;

  Lane(std::unique_ptr<net::Stream> stream, std::string server);
  ~Lane();

  template <typename O>
  CUresult call(const typename O::Args& args, typename O::Result* result = nullptr,
                const void* payload = nullptr, size_t payload_len = 0, void* into = nullptr,
                size_t into_len = 0, std::vector<uint8_t>* into_vec = nullptr) {
    static_assert(O::kClass == OpClass::kSync);
    typename O::Result ignored{};
    return call_raw(O::kCode, &args, sizeof args, result ? result : &ignored,
                    sizeof(typename O::Result), payload, payload_len, into, into_len, into_vec);
  }

  template <typename O>
  CUresult enqueue(const typename O::Args& args, const void* payload = nullptr,
                   size_t payload_len = 0) {
    static_assert(O::kClass == OpClass::kAsync);
    return enqueue_raw(O::kCode, &args, sizeof args, payload, payload_len);
  }

  CUresult flush();
  const std::string& server() const { return server_; }

  // Counters for tests and RGPU_STATS.
  uint64_t sync_calls() const { return sync_calls_; }
  uint64_t batches_sent() const { return batches_sent_; }

 private:
  CUresult call_raw(Op op, const void* args, size_t args_len, void* result, size_t result_len,
                    const void* payload, size_t payload_len, void* into, size_t into_len,
                    std::vector<uint8_t>* into_vec);
  CUresult enqueue_raw(Op op, const void* args, size_t args_len, const void* payload,
                       size_t payload_len);
  CUresult flush_locked();
  CUresult broken(const std::string& why);

  std::mutex mu_;
  std::unique_ptr<net::Stream> stream_;
  std::string server_;
  std::vector<uint8_t> batch_;
  uint32_t batch_count_ = 0;
  bool broken_ = false;
  uint64_t sync_calls_ = 0, batches_sent_ = 0;
};

}  // namespace rgpu
