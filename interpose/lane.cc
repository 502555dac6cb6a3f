// interpose/lane.cc — see lane.h.
#include "interpose/lane.h"

#include <capnp/message.h>
#include <kj/exception.h>

#include <cstring>

#include "interpose/log.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"

namespace rgpu {
namespace {

struct RecordHeader {
  uint16_t op;
  uint16_t flags;
  uint32_t args_len;
  uint32_t payload_len;
  uint32_t pad;
};
static_assert(sizeof(RecordHeader) == 16);

size_t pad8(size_t n) {
  return (n + 7) & ~size_t{7};
}

}  // namespace

Lane::Lane(std::unique_ptr<net::Stream> stream, std::string server)
    : stream_(std::move(stream)), server_(std::move(server)) {
  batch_.reserve(64 << 10);
}

Lane::~Lane() = default;

CUresult Lane::broken(const std::string& why) {
  if (!broken_) {
    RGPU_ERR("connection to server %s (RGPU_SERVER) lost: %s", server_.c_str(), why.c_str());
  }
  broken_ = true;
  batch_.clear();
  batch_count_ = 0;
  return CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult Lane::flush() {
  std::lock_guard<std::mutex> g(mu_);
  return flush_locked();
}

CUresult Lane::flush_locked() {
  if (broken_) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  if (batch_count_ == 0) return CUDA_SUCCESS;
  try {
    capnp::MallocMessageBuilder msg;
    auto b = msg.initRoot<wire::Batch>();
    b.setCount(batch_count_);
    // Reference the batch bytes instead of copying them into the message.
    b.adoptRecords(msg.getOrphanage().referenceExternalData(
        capnp::Data::Reader(batch_.data(), batch_.size())));
    write_frame(*stream_, FrameKind::kBatch, msg);
  } catch (const std::exception& e) {
    return broken(e.what());
  } catch (const kj::Exception& e) {
    return broken(e.getDescription().cStr());
  }
  ++batches_sent_;
  batch_.clear();
  batch_count_ = 0;
  return CUDA_SUCCESS;
}

CUresult Lane::enqueue_raw(Op op, const void* args, size_t args_len, const void* payload,
                           size_t payload_len) {
  std::lock_guard<std::mutex> g(mu_);
  if (broken_) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  size_t rec = pad8(sizeof(RecordHeader) + args_len + payload_len);
  if (batch_count_ > 0 && batch_.size() + rec > kBatchBytes) {
    CUresult r = flush_locked();
    if (r != CUDA_SUCCESS) return r;
  }
  RecordHeader h{static_cast<uint16_t>(op), 0, static_cast<uint32_t>(args_len),
                 static_cast<uint32_t>(payload_len), 0};
  size_t at = batch_.size();
  batch_.resize(at + rec);
  uint8_t* p = batch_.data() + at;
  memcpy(p, &h, sizeof h);
  memcpy(p + sizeof h, args, args_len);
  if (payload_len) memcpy(p + sizeof h + args_len, payload, payload_len);
  memset(p + sizeof h + args_len + payload_len, 0, rec - (sizeof h + args_len + payload_len));
  ++batch_count_;
  if (batch_.size() >= kBatchBytes) return flush_locked();
  return CUDA_SUCCESS;
}

CUresult Lane::call_raw(Op op, const void* args, size_t args_len, void* result, size_t result_len,
                        const void* payload, size_t payload_len, void* into, size_t into_len,
                        std::vector<uint8_t>* into_vec) {
  std::lock_guard<std::mutex> g(mu_);
  CUresult r = flush_locked();
  if (r != CUDA_SUCCESS) return r;
  ++sync_calls_;
  try {
    {
      capnp::MallocMessageBuilder msg;
      auto req = msg.initRoot<wire::Request>();
      req.setOp(static_cast<uint16_t>(op));
      req.setArgs(capnp::Data::Reader(static_cast<const uint8_t*>(args), args_len));
      write_frame(*stream_, FrameKind::kRequest, msg, payload, payload_len);
    }
    InFrame f = read_frame(*stream_);
    if (f.kind != FrameKind::kReply) {
      skip_payload(*stream_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol, "expected a Reply frame");
    }
    auto reader = f.reader();
    auto rep = reader.getRoot<wire::Reply>();
    CUresult status = static_cast<CUresult>(rep.getStatus());
    auto res = rep.getResults();
    if (res.size() == result_len) {
      memcpy(result, res.begin(), result_len);
    } else if (res.size() != 0 && status == CUDA_SUCCESS) {
      skip_payload(*stream_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol,
                          "reply record has the wrong size for " + std::string(op_name(op)));
    }
    if (f.payload_len) {
      if (into && f.payload_len == into_len) {
        read_payload(*stream_, into, into_len);
      } else if (into_vec && f.payload_len <= (64ull << 20)) {
        into_vec->resize(f.payload_len);
        read_payload(*stream_, into_vec->data(), f.payload_len);
      } else {
        skip_payload(*stream_, f.payload_len);
        if (status == CUDA_SUCCESS) {
          throw net::NetError(net::NetError::kProtocol,
                              "unexpected reply payload size for " + std::string(op_name(op)));
        }
      }
    } else if (into && into_len && status == CUDA_SUCCESS) {
      throw net::NetError(net::NetError::kProtocol,
                          "reply to " + std::string(op_name(op)) + " carries no data");
    }
    if (status != CUDA_SUCCESS && status != CUDA_ERROR_NOT_READY) {
      auto text = rep.getErrorText();
      if (text.size()) {
        RGPU_WARN("%s: %s (server %s)", std::string(op_name(op)).c_str(), text.cStr(),
                  server_.c_str());
      }
    }
    return status;
  } catch (const std::exception& e) {
    return broken(e.what());
  } catch (const kj::Exception& e) {
    return broken(e.getDescription().cStr());
  }
}

}  // namespace rgpu
