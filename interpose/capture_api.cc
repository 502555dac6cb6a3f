// interpose/capture_api.cc — stream capture and graphs (the model is in capture.h): the capture
// registry the lanes consult, cuStreamBeginCapture/EndCapture and the capture queries, and
// graph create/instantiate/launch/destroy.
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "interpose/api.h"
#include "interpose/capture.h"
#include "interpose/client.h"
#include "interpose/log.h"
#include "protocol/batch_record.h"

namespace rgpu {
namespace capture {
std::atomic<int> g_active{0};
}  // namespace capture

namespace {

struct Capture {
  Graph* graph = nullptr;
  bool owns_graph = true;  // false: cuStreamBeginCaptureToGraph appends to the caller's graph
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  uint64_t id = 0;
  uint64_t origin = 0;  // the stream that began it
  bool invalid = false;
  std::thread::id thread;
};

std::mutex g_mu;                         // guards everything below
std::map<uint64_t, Capture*> g_streams;  // capturing stream (wire) -> its capture
std::map<uint64_t, Capture*> g_events;   // event (wire) -> the capture it was recorded in
std::set<Capture*> g_captures;
std::set<const void*> g_graphs, g_execs;  // live CUgraph / CUgraphExec handles
uint64_t g_next_id = 1;
thread_local CUstreamCaptureMode t_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

CUresult invalidate(Capture* c, const char* why) {
  if (!c->invalid) RGPU_WARN("stream capture %llu invalidated: %s", (unsigned long long)c->id, why);
  c->invalid = true;
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

// The capture `wire` belongs to, or null. Caller holds g_mu.
Capture* capturing(uint64_t wire) {
  auto it = g_streams.find(wire);
  return it == g_streams.end() ? nullptr : it->second;
}

// Ends capture c: its streams and events leave the registry and c is deleted. Returns the graph
// it made when it owns that graph (the caller keeps or deletes it), else null (capture-to-graph:
// the graph stays the caller's). Caller holds g_mu.
Graph* end_locked(Capture* c) {
  for (auto it = g_streams.begin(); it != g_streams.end();)
    it = it->second == c ? g_streams.erase(it) : std::next(it);
  for (auto it = g_events.begin(); it != g_events.end();)
    it = it->second == c ? g_events.erase(it) : std::next(it);
  g_captures.erase(c);
  capture::g_active.fetch_sub(1, std::memory_order_relaxed);
  Graph* graph = c->owns_graph ? c->graph : nullptr;
  delete c;
  return graph;
}

bool add_node(Capture* c, LaneSet* lanes, GraphNode n, CUresult* result) {
  if (c->invalid) {
    *result = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    return true;
  }
  if (!c->graph->lanes) c->graph->lanes = lanes;
  if (lanes && c->graph->lanes != lanes) {
    *result = invalidate(c, "a captured op runs on another device");
    return true;
  }
  c->graph->nodes.push_back(std::move(n));
  *result = CUDA_SUCCESS;
  return true;
}

}  // namespace

namespace capture {

bool record(LaneSet* lanes, Op op, const void* args, size_t args_len, const void* payload,
            size_t payload_len, void (*fill)(const void*, uint8_t*), const void* fill_ctx,
            CUresult* result) {
  uint64_t stream = 0;
  if (!op_stream(op, args, args_len, &stream)) return false;
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(stream);
  if (!c && op == Op::StreamWaitEvent) {
    // A stream that waits on an event recorded in a capture joins that capture.
    op::StreamWaitEvent::Args a;
    std::memcpy(&a, args, sizeof a);
    auto e = g_events.find(a.event);
    if (e != g_events.end() && g_captures.count(e->second)) {
      c = e->second;
      g_streams[stream] = c;
    }
  }
  if (!c) return false;
  switch (op) {
    case Op::LaunchKernel:
    case Op::Memset:
    case Op::MemcpyDtoD:
    case Op::Memcpy2DDtoD:
    case Op::Memset2D:
      break;  // stream work: a node
    case Op::EventRecord: {
      // An edge, not work: the graph runs serialised, so its order already holds. The event is
      // remembered so a stream that waits on it joins the capture.
      op::EventRecord::Args a;
      std::memcpy(&a, args, sizeof a);
      g_events[a.event] = c;
      *result = c->invalid ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : CUDA_SUCCESS;
      return true;
    }
    case Op::StreamWaitEvent:
      *result = c->invalid ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : CUDA_SUCCESS;
      return true;
    case Op::StreamDestroy: {
      // The stream leaves the capture (the destroy itself goes to the server); destroying the
      // stream that began it ends the capture, invalidated.
      invalidate(c, "a capturing stream was destroyed");
      g_streams.erase(stream);
      if (c->origin == stream) {
        Graph* graph = end_locked(c);
        g_graphs.erase(graph);
        delete graph;
      }
      return false;
    }
    case Op::MemFreeAsync:
      return false;  // a pool's release, not the program's work: it goes to the server now
    default:
      *result = invalidate(c, (std::string(op_name(op)) + " cannot be captured by rgpu").c_str());
      return true;
  }
  GraphNode n;
  n.kind = GraphNode::kRecord;
  n.op = op;
  n.args.assign(static_cast<const uint8_t*>(args), static_cast<const uint8_t*>(args) + args_len);
  n.payload.resize(payload_len);
  if (fill)
    fill(fill_ctx, n.payload.data());
  else if (payload_len)
    std::memcpy(n.payload.data(), payload, payload_len);
  return add_node(c, lanes, std::move(n), result);
}

bool refuse_sync(Op op, const void* args, size_t args_len, CUresult* result) {
  std::lock_guard<std::mutex> g(g_mu);
  uint64_t stream = 0;
  if (op_stream(op, args, args_len, &stream)) {
    if (Capture* c = capturing(stream)) {
      *result = invalidate(c, "a synchronizing call on a capturing stream");
      return true;
    }
  }
  if (op == Op::CtxSynchronize && t_mode != CU_STREAM_CAPTURE_MODE_RELAXED) {
    for (Capture* c : g_captures) {
      if (c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL ||
          (c->mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
           c->thread == std::this_thread::get_id())) {
        *result = invalidate(c, "cuCtxSynchronize during the capture");
        return true;
      }
    }
  }
  return false;
}

bool refuse_on_capturing(uint64_t stream, const char* what, CUresult* result) {
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(stream);
  if (!c) return false;
  *result = invalidate(c, what);
  return true;
}

bool record_htod(LaneSet* lanes, uint64_t dst, const void* src, size_t n, uint64_t stream,
                 CUresult* result) {
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(stream);
  if (!c) return false;
  GraphNode node;
  node.kind = GraphNode::kHtoD;
  node.dev = dst;
  node.host_src = src;  // read at each launch
  node.bytes = n;
  return add_node(c, lanes, std::move(node), result);
}

bool record_dtoh(LaneSet* lanes, void* dst, uint64_t src, size_t n, uint64_t stream,
                 CUresult* result) {
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(stream);
  if (!c) return false;
  GraphNode node;
  node.kind = GraphNode::kDtoH;
  node.dev = src;
  node.host_dst = dst;
  node.bytes = n;
  return add_node(c, lanes, std::move(node), result);
}

bool record_host_fn(uint64_t wire, CUhostFn fn, void* user, CUresult* result) {
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(wire);
  if (!c) return false;
  GraphNode node;
  node.kind = GraphNode::kHostFn;
  node.fn = fn;
  node.user = user;
  return add_node(c, nullptr, std::move(node), result);
}

}  // namespace capture

namespace api {
namespace {

CUresult begin_capture(CUstream s, bool pt, CUstreamCaptureMode mode, Graph* into) {
  if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
      mode != CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (wire <= 2) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;  // the legacy/per-thread stream
  std::lock_guard<std::mutex> g(g_mu);
  if (capturing(wire)) return CUDA_ERROR_ILLEGAL_STATE;
  auto* c = new Capture();
  if (into && into->lanes && into->lanes != d->lane.get()) {
    delete c;
    return CUDA_ERROR_INVALID_VALUE;  // a graph's work runs on one device
  }
  c->graph = into ? into : new Graph();
  c->owns_graph = !into;
  if (!into) g_graphs.insert(c->graph);
  c->graph->lanes = d->lane.get();
  c->mode = mode;
  c->id = g_next_id++;
  c->origin = wire;
  c->thread = std::this_thread::get_id();
  g_captures.insert(c);
  g_streams[wire] = c;
  capture::g_active.fetch_add(1, std::memory_order_relaxed);
  return CUDA_SUCCESS;
}

CUresult end_capture(CUstream s, bool pt, CUgraph* out) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(wire);
  if (!c) return CUDA_ERROR_ILLEGAL_STATE;
  if (c->origin != wire) return CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
  const bool invalid = c->invalid;
  Graph* graph = c->graph;
  Graph* owned = end_locked(c);
  if (invalid) {
    g_graphs.erase(owned);
    delete owned;
    *out = nullptr;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *out = reinterpret_cast<CUgraph>(graph);
  return CUDA_SUCCESS;
}

CUresult capture_info(CUstream s, bool pt, CUstreamCaptureStatus* status, cuuint64_t* id,
                      CUgraph* graph, const CUgraphNode** deps, const CUgraphEdgeData** edges,
                      size_t* num_deps) {
  if (!status) return CUDA_ERROR_INVALID_VALUE;
  uint64_t wire = 0;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::mutex> g(g_mu);
  Capture* c = capturing(wire);
  *status = !c           ? CU_STREAM_CAPTURE_STATUS_NONE
            : c->invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                         : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  if (id) *id = c ? c->id : 0;
  if (graph) *graph = c ? reinterpret_cast<CUgraph>(c->graph) : nullptr;
  // Nodes are recorded in order, each after the one before: no dependency set is exposed.
  if (deps) *deps = nullptr;
  if (edges) *edges = nullptr;
  if (num_deps) *num_deps = 0;
  return CUDA_SUCCESS;
}

Graph* graph_of(CUgraph h) {
  std::lock_guard<std::mutex> g(g_mu);
  return g_graphs.count(h) ? reinterpret_cast<Graph*>(h) : nullptr;
}

CUresult instantiate(CUgraphExec* out, CUgraph h, unsigned long long flags) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  constexpr unsigned long long kServed = CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
                                         CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD |
                                         CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
  if (flags & ~kServed) return CUDA_ERROR_NOT_SUPPORTED;  // device launch is not served
  Graph* graph = graph_of(h);
  if (!graph) return CUDA_ERROR_INVALID_VALUE;
  auto* e = new GraphExec();
  {
    std::lock_guard<std::mutex> g(g_mu);
    e->lanes = graph->lanes;
    e->nodes = graph->nodes;  // an exec is independent of later changes to its graph
    bool device_only = !e->nodes.empty();
    for (const GraphNode& n : e->nodes)
      device_only = device_only && (n.kind == GraphNode::kRecord || n.kind == GraphNode::kEmpty);
    e->keepable = device_only;
    g_execs.insert(e);
  }
  *out = reinterpret_cast<CUgraphExec>(e);
  return CUDA_SUCCESS;
}

// Replays the exec's nodes onto stream `wire`, record by record (capture.h).
CUresult launch_graph_nodes(const GraphExec* e, Device* d, uint64_t wire) {
  CUresult r = CUDA_SUCCESS;
  std::vector<uint8_t> args;
  for (const GraphNode& n : e->nodes) {
    switch (n.kind) {
      case GraphNode::kRecord:
        args = n.args;
        set_op_stream(n.op, args.data(), args.size(), wire);
        r = d->lane->enqueue_recorded(n.op, args.data(), args.size(), n.payload.data(),
                                      n.payload.size());
        break;
      case GraphNode::kHtoD:
        r = d->lane->htod(n.dev, n.host_src, n.bytes, wire);
        break;
      case GraphNode::kDtoH:
        r = d->lane->dtoh(n.host_dst, n.dev, n.bytes, wire);
        break;
      case GraphNode::kHostFn: {
        if (capture::active() && capture::record_host_fn(wire, n.fn, n.user, &r)) break;
        op::StreamSynchronize::Args a{wire};
        r = d->lane->call<op::StreamSynchronize>(a);
        if (r == CUDA_SUCCESS) n.fn(n.user);
        break;
      }
      case GraphNode::kEmpty:
        r = CUDA_SUCCESS;
        break;
    }
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}

// Bytes of records each device's session keeps (GraphUpload), against the worker's cap; and
// the most launch streams one exec is kept for.
std::map<const LaneSet*, uint64_t> g_kept_bytes;  // guarded by g_mu
constexpr size_t kMaxKeptStreams = 4;

// Under g_mu: the records of e's upload for stream `wire`, its place taken (e->kept[wire] = 0,
// the bytes counted). False when another thread got there first, or there is nothing to keep
// or too much (the launch then replays record by record).
bool make_upload(GraphExec* e, Device* d, uint64_t wire, std::vector<uint8_t>* records,
                 uint32_t* count) {
  std::lock_guard<std::mutex> g(g_mu);
  if (e->kept.count(wire)) return false;
  std::vector<uint8_t> args;
  for (const GraphNode& n : e->nodes) {
    if (n.kind != GraphNode::kRecord) continue;
    args = n.args;
    set_op_stream(n.op, args.data(), args.size(), wire);
    append_batch_record(records, static_cast<uint16_t>(n.op), args.data(), args.size(),
                        n.payload.data(), n.payload.size());
    ++*count;
  }
  uint64_t& kept = g_kept_bytes[d->lane.get()];
  if (records->empty() || records->size() > kMaxGraphRecordsBytes ||
      kept + records->size() > kMaxSessionGraphBytes)
    return false;
  kept += records->size();
  e->kept[wire] = 0;  // uploading
  return true;
}

// One GraphLaunch record; the exec's records go to the worker first, once per launch stream.
// A handle is published (e->kept) only once its upload is on the wire: until then, and when
// the worker's cap or the exec's stream count is reached, launches replay record by record.
CUresult launch_kept(GraphExec* e, Device* d, uint64_t wire) {
  // No lane call while g_mu is held: a capture beginning meanwhile would take it (record()).
  std::vector<uint8_t> records;
  uint32_t count = 0;
  uint64_t known = 0;
  bool replay = false;
  {
    std::lock_guard<std::mutex> g(g_mu);
    auto it = e->kept.find(wire);
    if (it != e->kept.end()) {
      known = it->second;
      replay = known == 0;  // another thread is uploading it
    } else if (e->kept.size() >= kMaxKeptStreams) {
      replay = true;
    }
  }
  if (replay) return launch_graph_nodes(e, d, wire);
  if (known) return d->lane->enqueue<op::GraphLaunch>({known});
  if (!make_upload(e, d, wire, &records, &count)) return launch_graph_nodes(e, d, wire);
  const uint64_t handle = state()->new_wire();
  CUresult r =
      d->lane->enqueue<op::GraphUpload>({handle, count, 0}, records.data(), records.size());
  if (r == CUDA_SUCCESS) r = d->lane->flush();  // on the wire before any lane's GraphLaunch
  {
    std::lock_guard<std::mutex> g(g_mu);
    if (r != CUDA_SUCCESS) {
      e->kept.erase(wire);
      g_kept_bytes[d->lane.get()] -= records.size();
      return r;
    }
    e->kept[wire] = handle;
    e->kept_bytes += records.size();
  }
  return d->lane->enqueue<op::GraphLaunch>({handle});
}

CUresult launch_graph(CUgraphExec h, CUstream s, bool pt) {
  GraphExec* e = nullptr;
  {
    std::lock_guard<std::mutex> g(g_mu);
    if (!g_execs.count(h)) return CUDA_ERROR_INVALID_VALUE;
    e = reinterpret_cast<GraphExec*>(h);
  }
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, pt, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  if (e->lanes && e->lanes != d->lane.get()) return CUDA_ERROR_INVALID_VALUE;  // another device
  if (e->keepable && d->protocol >= 10 && !capture::active()) return launch_kept(e, d, wire);
  return launch_graph_nodes(e, d, wire);
}

const char* node_label(const GraphNode& n) {
  switch (n.kind) {
    case GraphNode::kRecord:
      return op_name(n.op).data();
    case GraphNode::kHtoD:
      return "MemcpyHtoD";
    case GraphNode::kDtoH:
      return "MemcpyDtoH";
    case GraphNode::kHostFn:
      return "Host";
    case GraphNode::kEmpty:
      return "Empty";
  }
  return "?";
}

}  // namespace

CUresult cuStreamBeginCapture(CUstream hStream) {
  return begin_capture(hStream, false, CU_STREAM_CAPTURE_MODE_GLOBAL, nullptr);
}
CUresult cuStreamBeginCapture_ptsz(CUstream hStream) {
  return begin_capture(hStream, true, CU_STREAM_CAPTURE_MODE_GLOBAL, nullptr);
}
CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  return begin_capture(hStream, false, mode, nullptr);
}
CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode) {
  return begin_capture(hStream, true, mode, nullptr);
}
CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph,
                                     const CUgraphNode* dependencies,
                                     const CUgraphEdgeData* dependencyData, size_t numDependencies,
                                     CUstreamCaptureMode mode) {
  Graph* graph = graph_of(hGraph);
  if (!graph) return CUDA_ERROR_INVALID_VALUE;
  (void)dependencies;  // nodes run in order: every earlier node is already a dependency
  (void)dependencyData;
  (void)numDependencies;
  return begin_capture(hStream, false, mode, graph);
}
CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream hStream, CUgraph hGraph,
                                          const CUgraphNode* dependencies,
                                          const CUgraphEdgeData* dependencyData,
                                          size_t numDependencies, CUstreamCaptureMode mode) {
  Graph* graph = graph_of(hGraph);
  if (!graph) return CUDA_ERROR_INVALID_VALUE;
  (void)dependencies;
  (void)dependencyData;
  (void)numDependencies;
  return begin_capture(hStream, true, mode, graph);
}
CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph) {
  return end_capture(hStream, false, phGraph);
}
CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph* phGraph) {
  return end_capture(hStream, true, phGraph);
}
CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* mode) {
  if (*mode != CU_STREAM_CAPTURE_MODE_GLOBAL && *mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
      *mode != CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  std::swap(*mode, t_mode);
  return CUDA_SUCCESS;
}

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus* captureStatus) {
  return capture_info(hStream, false, captureStatus, nullptr, nullptr, nullptr, nullptr, nullptr);
}
CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus) {
  return capture_info(hStream, true, captureStatus, nullptr, nullptr, nullptr, nullptr, nullptr);
}
CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                cuuint64_t* id_out) {
  return capture_info(hStream, false, captureStatus_out, id_out, nullptr, nullptr, nullptr,
                      nullptr);
}
CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                     cuuint64_t* id_out) {
  return capture_info(hStream, true, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr);
}
CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                   cuuint64_t* id_out, CUgraph* graph_out,
                                   const CUgraphNode** dependencies_out,
                                   size_t* numDependencies_out) {
  return capture_info(hStream, false, captureStatus_out, id_out, graph_out, dependencies_out,
                      nullptr, numDependencies_out);
}
CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                        cuuint64_t* id_out, CUgraph* graph_out,
                                        const CUgraphNode** dependencies_out,
                                        size_t* numDependencies_out) {
  return capture_info(hStream, true, captureStatus_out, id_out, graph_out, dependencies_out,
                      nullptr, numDependencies_out);
}
CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                   cuuint64_t* id_out, CUgraph* graph_out,
                                   const CUgraphNode** dependencies_out,
                                   const CUgraphEdgeData** edgeData_out,
                                   size_t* numDependencies_out) {
  return capture_info(hStream, false, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}
CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                        cuuint64_t* id_out, CUgraph* graph_out,
                                        const CUgraphNode** dependencies_out,
                                        const CUgraphEdgeData** edgeData_out,
                                        size_t* numDependencies_out) {
  return capture_info(hStream, true, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}

CUresult cuGraphCreate(CUgraph* phGraph, unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  auto* g = new Graph();
  std::lock_guard<std::mutex> lk(g_mu);
  g_graphs.insert(g);
  *phGraph = reinterpret_cast<CUgraph>(g);
  return CUDA_SUCCESS;
}
CUresult cuGraphDestroy(CUgraph hGraph) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_graphs.count(hGraph)) return CUDA_ERROR_INVALID_VALUE;
  for (Capture* c : g_captures)
    if (c->graph == reinterpret_cast<Graph*>(hGraph)) return CUDA_ERROR_ILLEGAL_STATE;
  g_graphs.erase(hGraph);
  delete reinterpret_cast<Graph*>(hGraph);
  return CUDA_SUCCESS;
}
CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode* nodes, size_t* numNodes) {
  if (!numNodes) return CUDA_ERROR_INVALID_VALUE;
  Graph* g = graph_of(hGraph);
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> lk(g_mu);
  if (!nodes) {
    *numNodes = g->nodes.size();
    return CUDA_SUCCESS;
  }
  const size_t n = std::min(*numNodes, g->nodes.size());
  for (size_t i = 0; i < n; ++i) nodes[i] = reinterpret_cast<CUgraphNode>(&g->nodes[i]);
  for (size_t i = n; i < *numNodes; ++i) nodes[i] = nullptr;
  *numNodes = n;
  return CUDA_SUCCESS;
}
CUresult cuGraphDebugDotPrint(CUgraph hGraph, const char* path, unsigned int flags) {
  (void)flags;
  Graph* g = graph_of(hGraph);
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  FILE* f = std::fopen(path, "w");
  if (!f) return CUDA_ERROR_OPERATING_SYSTEM;
  std::lock_guard<std::mutex> lk(g_mu);
  std::fprintf(f, "digraph rgpu_graph {\n");
  for (size_t i = 0; i < g->nodes.size(); ++i) {
    std::fprintf(f, "  n%zu [label=\"%zu %s\"];\n", i, i, node_label(g->nodes[i]));
    if (i) std::fprintf(f, "  n%zu -> n%zu;\n", i - 1, i);
  }
  std::fprintf(f, "}\n");
  return std::fclose(f) == 0 ? CUDA_SUCCESS : CUDA_ERROR_OPERATING_SYSTEM;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph,
                                     unsigned long long flags) {
  return instantiate(phGraphExec, hGraph, flags);
}
CUresult cuGraphInstantiate_v2(CUgraphExec* phGraphExec, CUgraph hGraph, CUgraphNode* phErrorNode,
                               char* logBuffer, size_t bufferSize) {
  if (phErrorNode) *phErrorNode = nullptr;
  if (logBuffer && bufferSize) logBuffer[0] = '\0';
  return instantiate(phGraphExec, hGraph, 0);
}
CUresult cuGraphInstantiateWithParams(CUgraphExec* phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  if (!params) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = instantiate(phGraphExec, hGraph, params->flags);
  params->result_out =
      r == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
  params->hErrNode_out = nullptr;
  if (r == CUDA_SUCCESS && (params->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD))
    r = api::cuGraphUpload(*phGraphExec, params->hUploadStream);
  return r;
}
CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec* phGraphExec, CUgraph hGraph,
                                           CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return api::cuGraphInstantiateWithParams(phGraphExec, hGraph, params);
}
CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  std::unique_ptr<GraphExec> e;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_execs.count(hGraphExec)) return CUDA_ERROR_INVALID_VALUE;
    g_execs.erase(hGraphExec);
    e.reset(reinterpret_cast<GraphExec*>(hGraphExec));
  }
  // The worker's copies go too (a session's kept graphs are bounded: ops.h), after every
  // lane's pending launches of them (a flush, not a round trip).
  if (e->lanes && !e->kept.empty()) {
    {
      std::lock_guard<std::mutex> lk(g_mu);
      g_kept_bytes[e->lanes] -= e->kept_bytes;
    }
    e->lanes->flush();
    for (const auto& [stream, handle] : e->kept)
      if (handle) e->lanes->enqueue<op::GraphDestroy>({handle});
  }
  return CUDA_SUCCESS;
}
// Nothing to upload: an exec's nodes live in this process until each launch sends them.
CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  uint64_t wire;
  Device* d = nullptr;
  CUresult r = resolve_stream(hStream, false, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  std::lock_guard<std::mutex> lk(g_mu);
  return g_execs.count(hGraphExec) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return api::cuGraphUpload(hGraphExec, hStream);
}
CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  return launch_graph(hGraphExec, hStream, false);
}
CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return launch_graph(hGraphExec, hStream, true);
}

}  // namespace api
}  // namespace rgpu
