// server/worker/session.h — one tenant's state in a worker: validation, dispatch, async errors.
//
// Contract:
// - Every op is checked here before the backend sees it: the record's size (decode_record),
//   handles that this session created (streams, events, modules, functions; 0..2 are the
//   built-in streams), copy and memset ranges inside one of this session's allocations or
//   module globals, payload sizes matching the record, launch geometry within the device's
//   limits and parameter bytes matching the kernel's layout. A bad op gets a CUDA error with a
//   text; nothing crashes and the session goes on.
// - sync(): runs a Request. A sticky error (LAUNCH_FAILED, ILLEGAL_ADDRESS, ...) answers every
//   later op; otherwise a pending asynchronous error is returned once (and cleared) in place of
//   running the op (DESIGN contract 3); otherwise the op runs and its own status is returned.
// - async(): runs one batched op; the first error is kept for the next sync() (later ones are
//   counted and logged, not returned).
// - payload_check(): tells a lane, before it reads an op's payload, whether payload_len fits the
//   op (ops.def's Payload column), so no request makes the worker allocate more than it can use.
// - Dispatch is made from ops.def: each op has one handler, on_<Name>(args, payload, result,
//   reply), declared below by the same X-macro and defined in session_memory.cc (memory,
//   streams, events), session_copies.cc (2-D copies and memsets), session_vmm.cc (virtual
//   memory), session_modules.cc (modules, functions, launches) or session_graphs.cc (graphs
//   kept for replay). A handler sees a decoded record of the right size; handles go through the
//   HandleTable lookups (handles.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ops.h"
#include "protocol/version.h"
#include "server/backend/backend.h"
#include "server/worker/handles.h"
#include "server/worker/meter.h"

namespace rgpu::server {

// An op's payload: the bytes next to its record, already limited by payload_check().
struct OpPayload {
  const uint8_t* data = nullptr;
  uint64_t len = 0;
};

struct OpReply {
  Status status;
  std::vector<uint8_t> result;   // the op's Result record (zeroed on error)
  std::vector<uint8_t> payload;  // reply payload (DtoH bytes, parameter layouts)
};

class Session {
 public:
  Session(Backend& backend, SessionMeter& meter);

  // Limits a request's payload (bytes next to the record) before it is read.
  Status payload_check(uint16_t op, const uint8_t* args, size_t args_len,
                       uint64_t payload_len) const;
  // Checks that [dptr, dptr+bytes) lies inside one allocation or global of this session.
  Status check_range(uint64_t dptr, uint64_t bytes, const char* what) const;

  OpReply sync(uint16_t op, const uint8_t* args, size_t args_len, const uint8_t* payload,
               uint64_t payload_len);
  void async(uint16_t op, const uint8_t* args, size_t args_len, const uint8_t* payload,
             uint64_t payload_len);
  // Answers a sync op that failed before it could run (e.g. a bad bulk transfer), under the same
  // sticky/pending policy as sync().
  OpReply refuse(uint16_t op, Status st);
  // An error found outside any op (a malformed batch record); kept like an async error.
  void async_error(Status st);

  // Validates a bulk copy record (kCopyFlagBulk MemcpyHtoD/MemcpyDtoH): its size, stream and
  // device range. On success fills the device address, byte count, stream and flags.
  Status bulk_check(uint16_t op, const uint8_t* args, size_t args_len, uint64_t* addr,
                    uint64_t* bytes, uint64_t* stream, uint64_t* flags) const;
  // Counts a call that a lane runs itself (bulk copies).
  void count_call(uint16_t op, bool sync) { meter_.count_call(op, sync); }

  const Status& pending_error() const { return pending_; }
  const Status& sticky_error() const { return sticky_; }
  Backend& backend() { return backend_; }
  // The protocol version the client negotiated (protocol/version.h).
  void set_protocol_version(uint32_t v) { protocol_version_ = v; }
  // The provider's image cache (ModuleLoadCached), or none; not owned.
  void set_image_cache(class ImageCache* c) { image_cache_ = c; }
  // The GPU's compute-share table (compute_share.h): every kernel launch takes a turn in it.
  // nullptr: none (a worker run without a supervisor); not owned.
  void set_compute_share(class ComputeShare* s) { share_ = s; }
  uint32_t protocol_version() const { return protocol_version_; }
  // Why the server ends the session, for its lanes' Goodbye (protocol 7); "" until it does.
  void set_ending(const std::string& reason) {
    std::lock_guard<std::mutex> g(ending_mu_);
    if (ending_.empty()) ending_ = reason;
  }
  std::string ending() const {
    std::lock_guard<std::mutex> g(ending_mu_);
    return ending_;
  }
  // A line for the program's stderr, carried by the next reply on any lane, once (protocol 8).
  // Every reply asks; only one with a notice pending takes the lock.
  void set_notice(std::string text) {
    std::lock_guard<std::mutex> g(ending_mu_);
    notice_ = std::move(text);
    has_notice_.store(true, std::memory_order_release);
  }
  std::string take_notice() {
    if (!has_notice_.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> g(ending_mu_);
    has_notice_.store(false, std::memory_order_relaxed);
    return std::exchange(notice_, std::string());
  }

 private:
  OpReply execute(uint16_t op, const uint8_t* args, size_t args_len, const uint8_t* payload,
                  uint64_t payload_len);
  template <typename O>
  OpReply run(Status (Session::*handler)(const typename O::Args&, OpPayload, typename O::Result&,
                                         OpReply&),
              const uint8_t* args, size_t args_len, OpPayload in);
  template <typename O>
  Status payload_rule(const uint8_t* args, size_t args_len, uint64_t payload_len) const;

  // One handler per op of ops.def (session_memory.cc, session_modules.cc).
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  Status on_##Name(const op::Name::Args& a, OpPayload in, op::Name::Result& res, OpReply& out);
#include "protocol/ops.def"
#undef RGPU_OP

  // [base, base + (rows-1)*pitch + width) lies in one allocation or global, pitch >= width.
  Status check_rows(uint64_t base, uint64_t pitch, uint64_t width, uint64_t rows,
                    const char* what) const;
  // Streams 0..2 are the built-in ones (ops.def); others must be this session's.
  Status check_stream(uint64_t stream) const {
    return stream <= 2 ? Status::Ok() : streams_.owned(stream);
  }
  void note_error(const Status& st);
  // What MemFree and MemFreeDeferred do; what a ModuleLoad with bytes does.
  Status free_allocation(uint64_t dptr);
  // What MemAlloc (at = 0) and MemAllocAt do: the cap check, the backend's placement, the meter.
  Status allocate(uint64_t bytes, uint64_t at, uint64_t* dptr);
  Status load_image(uint64_t module, uint64_t hash, OpPayload in);

  Backend& backend_;
  SessionMeter& meter_;
  std::map<uint64_t, uint64_t> allocs_;   // user allocations: start -> bytes
  std::map<uint64_t, uint64_t> globals_;  // module globals: start -> bytes
  struct Module {
    std::set<uint64_t> globals;  // starts in globals_ this module's variables occupy
    // A deferred load that failed (ModuleLoadDeferred): the handle exists so that the module's
    // own calls (function and global lookups) answer this, not the session's next sync call.
    Status load_error;
  };
  struct Function {
    uint64_t module = 0;
    FunctionInfo info;
    // A deferred lookup that failed (ModuleGetFunctionDeferred): launches and attribute calls
    // with this handle answer it.
    Status lookup_error;
  };
  // Virtual memory (session_vmm.cc): physical allocations by client handle, reservations and
  // mappings by start address. A mapping's range is device memory for check_range().
  struct PhysAlloc {
    uint64_t bytes = 0;
  };
  struct Mapping {
    uint64_t bytes = 0;
    uint64_t handle = 0;
  };
  HandleTable<PhysAlloc> phys_{"allocation handle"};
  std::map<uint64_t, uint64_t> reservations_;  // start -> bytes
  std::map<uint64_t, Mapping> mapped_;         // start -> mapping
  HandleTable<> streams_{"stream"}, events_{"event"};
  HandleTable<Module> modules_{"module"};
  HandleTable<Function> functions_{"function"};
  // The session's function `function` when its lookup succeeded; else null and *st says why.
  const Function* usable_function(uint64_t function, Status* st) const;
  // Graphs kept for replay (GraphUpload): the records one launch runs.
  struct KeptGraph {
    std::vector<uint8_t> records;
    uint32_t count = 0;
  };
  HandleTable<KeptGraph> graphs_{"graph"};
  uint64_t graph_bytes_ = 0;  // all of graphs_' records, at most kMaxSessionGraphBytes
  bool replaying_ = false;    // in GraphLaunch
  // Module images by the client's hash, so a repeated ModuleLoad needs no bytes.
  std::map<uint64_t, std::vector<uint8_t>> images_;
  uint64_t image_bytes_ = 0;
  void keep_image(uint64_t hash, const uint8_t* data, uint64_t len);  // in images_, bounded
  class ImageCache* image_cache_ = nullptr;
  class ComputeShare* share_ = nullptr;
  Status pending_, sticky_;
  uint32_t protocol_version_ = kProtocolVersion;
  mutable std::mutex ending_mu_;
  std::string ending_;  // set_ending()
  std::string notice_;  // set_notice(), until a reply takes it
  std::atomic<bool> has_notice_{false};
};

bool is_sticky(CUresult r);

}  // namespace rgpu::server
