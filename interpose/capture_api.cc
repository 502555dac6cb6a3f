// interpose/capture_api.cc — stream-capture queries.
//
// Capture never starts through the shim (cuStreamBeginCapture and the graph API stay
// CUDA_ERROR_NOT_SUPPORTED), so every valid stream is truthfully not capturing:
// CU_STREAM_CAPTURE_STATUS_NONE, with the optional outputs cleared. cuBLAS asks before each
// gemm. A bad stream handle is CUDA_ERROR_INVALID_HANDLE, as for any stream call.
#include "interpose/api.h"
#include "interpose/client.h"

namespace rgpu::api {
namespace {

CUresult not_capturing(CUstream s, bool per_thread, CUstreamCaptureStatus* status, cuuint64_t* id,
                       CUgraph* graph, const CUgraphNode** deps, const CUgraphEdgeData** edges,
                       size_t* num_deps) {
  if (!status) return CUDA_ERROR_INVALID_VALUE;
  uint64_t wire = 0;
  Device* d = nullptr;
  CUresult r = resolve_stream(s, per_thread, &wire, &d);
  if (r != CUDA_SUCCESS) return r;
  *status = CU_STREAM_CAPTURE_STATUS_NONE;
  if (id) *id = 0;
  if (graph) *graph = nullptr;
  if (deps) *deps = nullptr;
  if (edges) *edges = nullptr;
  if (num_deps) *num_deps = 0;
  return CUDA_SUCCESS;
}

}  // namespace

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus* captureStatus) {
  return not_capturing(hStream, false, captureStatus, nullptr, nullptr, nullptr, nullptr, nullptr);
}

CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus) {
  return not_capturing(hStream, true, captureStatus, nullptr, nullptr, nullptr, nullptr, nullptr);
}

CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                cuuint64_t* id_out) {
  return not_capturing(hStream, false, captureStatus_out, id_out, nullptr, nullptr, nullptr,
                       nullptr);
}

CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                     cuuint64_t* id_out) {
  return not_capturing(hStream, true, captureStatus_out, id_out, nullptr, nullptr, nullptr,
                       nullptr);
}

CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                   cuuint64_t* id_out, CUgraph* graph_out,
                                   const CUgraphNode** dependencies_out,
                                   size_t* numDependencies_out) {
  return not_capturing(hStream, false, captureStatus_out, id_out, graph_out, dependencies_out,
                       nullptr, numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                        cuuint64_t* id_out, CUgraph* graph_out,
                                        const CUgraphNode** dependencies_out,
                                        size_t* numDependencies_out) {
  return not_capturing(hStream, true, captureStatus_out, id_out, graph_out, dependencies_out,
                       nullptr, numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                   cuuint64_t* id_out, CUgraph* graph_out,
                                   const CUgraphNode** dependencies_out,
                                   const CUgraphEdgeData** edgeData_out,
                                   size_t* numDependencies_out) {
  return not_capturing(hStream, false, captureStatus_out, id_out, graph_out, dependencies_out,
                       edgeData_out, numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                        cuuint64_t* id_out, CUgraph* graph_out,
                                        const CUgraphNode** dependencies_out,
                                        const CUgraphEdgeData** edgeData_out,
                                        size_t* numDependencies_out) {
  return not_capturing(hStream, true, captureStatus_out, id_out, graph_out, dependencies_out,
                       edgeData_out, numDependencies_out);
}

}  // namespace rgpu::api
