// interpose/capture.h — stream capture and CUDA graphs, recorded and replayed in the client.
//
// Contract:
// - cuStreamBeginCapture on a stream of this process (not the legacy or per-thread default
//   stream: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) makes every later op on that stream a node of
//   the capture's graph instead of work: the lanes hand each async record whose stream is a
//   capturing one to record() (launches with their packed parameters, memsets, device copies,
//   2-D device copies and memsets become nodes; event records and waits are edges, which the
//   serialised graph already keeps, so they leave no node), host-to-device copies keep their host
//   pointer (a graph launch reads host memory then, as on a GPU: never a snapshot taken at
//   capture), device-to-host copies their destination, host functions their function. A stream
//   that waits on an event recorded in a capture joins that capture.
// - Illegal during a capture (CUDA's rules, as the driver reports them): a synchronizing call on
//   a capturing stream, or cuCtxSynchronize while a capture is active in global or thread-local
//   mode (relaxed allows it): CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, and the capture is
//   invalidated (cuStreamEndCapture then returns CUDA_ERROR_STREAM_CAPTURE_INVALIDATED). Refused
//   the same way: 2-D host-to-device copies (rows packed at record time), 2-D device-to-host
//   copies of rows under 64 KiB (a round trip), stream-ordered allocation and free. Destroying a
//   capturing stream takes it out of the capture (the capture it began ends, invalidated).
// - A graph instantiates to its nodes in capture order (a valid order for their dependencies;
//   the graph runs serialised on the launch stream). cuGraphLaunch replays them onto the launch
//   stream: every recorded stream becomes the launch stream; device nodes go out as async
//   records (a graph of N kernels is N records in one batch, no round trip); a host node waits
//   for the stream, then runs its function in this process; a device-to-host node waits for
//   its bytes. Launching into a capturing stream records the graph's nodes there.
// - Protocol 10: an exec whose nodes are all device work (no host-to-device or device-to-host
//   copy, no host node) is uploaded once per launch stream (GraphUpload: its records) and each
//   launch is then one GraphLaunch record (a handle is used only once its upload is on the
//   wire; at most 4 streams an exec and the worker's 64 MiB a session, beyond which launches
//   replay record by record); cuGraphExecDestroy drops the copies (GraphDestroy, after a flush
//   of every lane).
//   Other execs, launches while a capture is active, and servers before 10 get the replay above.
// - Thread-safe: the capture registry has its own mutex; capture_active() is one relaxed load.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

#include "interpose/cuda_api.h"
#include "protocol/ops.h"

namespace rgpu {

class LaneSet;

struct GraphNode {
  enum Kind : uint8_t { kRecord, kHtoD, kDtoH, kHostFn, kEmpty } kind = kEmpty;
  Op op{};  // kRecord: the async op and its record
  std::vector<uint8_t> args, payload;
  uint64_t dev = 0;  // kHtoD destination / kDtoH source
  const void* host_src = nullptr;
  void* host_dst = nullptr;
  size_t bytes = 0;
  CUhostFn fn = nullptr;  // kHostFn
  void* user = nullptr;
};

struct Graph {
  LaneSet* lanes = nullptr;  // the device the graph's work runs on (set by its first node)
  std::vector<GraphNode> nodes;
};

struct GraphExec {
  LaneSet* lanes = nullptr;
  std::vector<GraphNode> nodes;
  // Protocol 10: the worker's copy of this exec's records, by launch stream (wire id -> the
  // graph handle it was uploaded as). Only for execs of device nodes alone (`keepable`).
  std::atomic<bool> keepable{false};
  std::map<uint64_t, uint64_t> kept;  // 0: uploading; guarded by the capture registry's mutex
  uint64_t kept_bytes = 0;            // of the uploads done (guarded the same)
};

namespace capture {

extern std::atomic<int> g_active;  // captures in progress
inline bool active() {
  return g_active.load(std::memory_order_relaxed) != 0;
}

// Called by the lanes for every async record while a capture is active: true when the op's
// stream is capturing (the op was recorded, or refused: *result says which).
bool record(LaneSet* lanes, Op op, const void* args, size_t args_len, const void* payload,
            size_t payload_len, void (*fill)(const void*, uint8_t*), const void* fill_ctx,
            CUresult* result);
// A synchronizing op: true (and *result an error) when it is illegal during the capture.
bool refuse_sync(Op op, const void* args, size_t args_len, CUresult* result);
// Copies on a capturing stream: true when recorded (*result says how it went).
bool record_htod(LaneSet* lanes, uint64_t dst, const void* src, size_t n, uint64_t stream,
                 CUresult* result);
bool record_dtoh(LaneSet* lanes, void* dst, uint64_t src, size_t n, uint64_t stream,
                 CUresult* result);
// An op rgpu cannot capture, asked for on `stream`: true (and *result an error, the capture
// invalidated) when the stream is capturing.
bool refuse_on_capturing(uint64_t stream, const char* what, CUresult* result);
// A host function on stream `wire`: true when recorded.
bool record_host_fn(uint64_t wire, CUhostFn fn, void* user, CUresult* result);

}  // namespace capture
}  // namespace rgpu
