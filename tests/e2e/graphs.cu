// tests/e2e/graphs.cu — stream capture and CUDA graphs as torch.cuda.graphs uses them: capture a
// step once, replay it many times with fresh host inputs.
//
// Checks: a captured step (host-to-device copy, two kernels, device-to-host copy, host function)
// replayed 1,000 times with the host input changed before each replay gives each replay's own
// answer (the copy reads host memory at launch, not at capture); capture status and id while
// capturing; a fork/join across two streams through events is captured; a 100-kernel graph
// replays; a synchronizing call during capture invalidates it; the legacy stream cannot be
// captured; the graph prints as dot.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_check.h"

__global__ void scale_add(const int* in, int* out, int n, int k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] * 2 + k;
}
__global__ void add_one(int* p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

struct HostCount {
  int calls = 0;
};

int main() {
  const int n = 1000;
  cudaStream_t s, s2;
  CHECK_CUDA(cudaStreamCreate(&s));
  CHECK_CUDA(cudaStreamCreate(&s2));
  int *d_in, *d_mid, *d_out;
  CHECK_CUDA(cudaMalloc(&d_in, n * sizeof(int)));
  CHECK_CUDA(cudaMalloc(&d_mid, n * sizeof(int)));
  CHECK_CUDA(cudaMalloc(&d_out, n * sizeof(int)));
  std::vector<int> h_in(n), h_out(n);
  HostCount count;

  // --- capture one step, with a fork/join onto s2 --------------------------------------
  cudaEvent_t fork, join;
  CHECK_CUDA(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  CHECK_CUDA(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  unsigned long long id = 0;
  CHECK_CUDA(cudaStreamGetCaptureInfo(s, &st, &id));
  EXPECT_TRUE(st == cudaStreamCaptureStatusActive && id != 0, "capture status %d id %llu", st, id);
  CHECK_CUDA(cudaMemcpyAsync(d_in, h_in.data(), n * sizeof(int), cudaMemcpyHostToDevice, s));
  CHECK_CUDA(cudaEventRecord(fork, s));
  CHECK_CUDA(cudaStreamWaitEvent(s2, fork, 0));  // s2 joins the capture
  CHECK_CUDA(cudaStreamIsCapturing(s2, &st));
  EXPECT_TRUE(st == cudaStreamCaptureStatusActive, "s2 did not join the capture (%d)", st);
  scale_add<<<(n + 255) / 256, 256, 0, s2>>>(d_in, d_mid, n, 7);
  CHECK_CUDA(cudaEventRecord(join, s2));
  CHECK_CUDA(cudaStreamWaitEvent(s, join, 0));
  add_one<<<(n + 255) / 256, 256, 0, s>>>(d_mid, n);
  CHECK_CUDA(cudaMemcpyAsync(d_out, d_mid, n * sizeof(int), cudaMemcpyDeviceToDevice, s));
  CHECK_CUDA(cudaMemcpyAsync(h_out.data(), d_out, n * sizeof(int), cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaLaunchHostFunc(
      s, [](void* p) { static_cast<HostCount*>(p)->calls++; }, &count));
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamEndCapture(s, &graph));
  EXPECT_TRUE(count.calls == 0, "the host function ran during capture");
  size_t nodes = 0;
  CHECK_CUDA(cudaGraphGetNodes(graph, nullptr, &nodes));
  EXPECT_TRUE(nodes == 6, "the graph has %zu nodes, want 6 (events are edges)", nodes);
  const char* dot = "graphs_e2e.dot";
  CHECK_CUDA(cudaGraphDebugDotPrint(graph, dot, 0));
  std::stringstream text;
  text << std::ifstream(dot).rdbuf();
  EXPECT_TRUE(text.str().find("LaunchKernel") != std::string::npos, "dot: %s", text.str().c_str());
  std::remove(dot);
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch));
  // The fork/join events are edges of the graph: destroying them does not break its launches.
  CHECK_CUDA(cudaEventDestroy(fork));
  CHECK_CUDA(cudaEventDestroy(join));

  // --- replay 1,000 times, a fresh input each time ---------------------------------------
  const int replays = 1000;
  for (int r = 0; r < replays; ++r) {
    for (int i = 0; i < n; ++i) h_in[i] = r * 3 + i;
    CHECK_CUDA(cudaGraphLaunch(exec, s));
    CHECK_CUDA(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i += 97)
      EXPECT_TRUE(h_out[i] == (r * 3 + i) * 2 + 7 + 1, "replay %d: out[%d] = %d, want %d", r, i,
                  h_out[i], (r * 3 + i) * 2 + 8);
  }
  EXPECT_TRUE(count.calls == replays, "the host function ran %d times", count.calls);
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));

  // --- a 100-kernel graph --------------------------------------------------------------
  CHECK_CUDA(cudaMemsetAsync(d_out, 0, n * sizeof(int), s));
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int k = 0; k < 100; ++k) add_one<<<(n + 255) / 256, 256, 0, s>>>(d_out, n);
  CHECK_CUDA(cudaStreamEndCapture(s, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int r = 0; r < 10; ++r) CHECK_CUDA(cudaGraphLaunch(exec, s));
  CHECK_CUDA(cudaMemcpyAsync(h_out.data(), d_out, n * sizeof(int), cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  EXPECT_TRUE(h_out[0] == 1000 && h_out[n - 1] == 1000, "100 kernels x 10 replays gave %d",
              h_out[0]);
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));

  // --- what capture refuses --------------------------------------------------------------
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  add_one<<<1, 32, 0, s>>>(d_out, 32);
  EXPECT_TRUE(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported,
              "a sync during capture was accepted");
  EXPECT_TRUE(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated,
              "an invalidated capture ended well");
  cudaGetLastError();
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  int* pooled = nullptr;
  EXPECT_TRUE(cudaMallocAsync(&pooled, 4096, s) == cudaErrorStreamCaptureUnsupported,
              "a stream-ordered allocation was captured (it would be replayed as a stale pointer)");
  EXPECT_TRUE(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated,
              "the capture was not invalidated");
  cudaGetLastError();
  EXPECT_TRUE(cudaStreamBeginCapture(cudaStreamLegacy, cudaStreamCaptureModeGlobal) != cudaSuccess,
              "the legacy stream was captured");
  cudaGetLastError();
  CHECK_CUDA(cudaStreamIsCapturing(s, &st));
  EXPECT_TRUE(st == cudaStreamCaptureStatusNone, "still capturing after the capture ended");
  CHECK_CUDA(cudaDeviceSynchronize());

  CHECK_CUDA(cudaFree(d_in));
  CHECK_CUDA(cudaFree(d_mid));
  CHECK_CUDA(cudaFree(d_out));
  CHECK_CUDA(cudaStreamDestroy(s));
  CHECK_CUDA(cudaStreamDestroy(s2));
  e2e_pass("graphs");
  return 0;
}
