// tests/e2e/errors.cu — CUDA errors surface, can be reported, and behave as CUDA documents.
//
// Phases (each prints what it saw):
//  1. cudaMemcpy past the end of an allocation (H2D, D2H, and an offset copy straddling the end)
//     returns cudaErrorInvalidValue, either from the call or at the next synchronize. The error
//     is not sticky: later copies and launches on the same context succeed.
//  2. An invalid launch configuration (2048 threads per block) returns cudaErrorInvalidValue
//     from cudaGetLastError or the next synchronize; not sticky. (cudart 13 does not check the
//     geometry itself: it hands it to cuLaunchKernel and maps every CUresult one to one, and no
//     CUresult maps to cudaErrorInvalidConfiguration; the driver answers CUDA_ERROR_INVALID_VALUE.
//     Observed by wrapping our driver's cuLaunchKernel; see tests/e2e/README.md.)
//  2b. A cooperative launch either runs (a GPU) and fills its data, or is refused with
//     cudaErrorNotSupported (the sim cannot run every block at once), never a silent wrong
//     answer (over the two-hop chain too, where the inner server's refusal comes late); not
//     sticky either way.
//  3. A kernel that traps makes the next synchronize return a launch failure, and the error is
//     sticky: later calls return it too. (Last phase: the context is unusable afterwards.)
// Host implementations of fill() and trapKernel() for the sim backend: errors_plugin.cc.
#include <cstring>
#include <vector>

#include "e2e_check.h"

__global__ void fill(int* data, int value, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) data[i] = value;
}

__global__ void trapKernel(int magic) {
  if (magic == 42) __trap();
}

// The error of an operation: the call's own, else the one the next synchronize reports
// (through the shim, async work reports its errors at the next sync point).
static cudaError_t with_sync(cudaError_t call_result) {
  if (call_result != cudaSuccess) return call_result;
  return cudaDeviceSynchronize();
}

static void check_context_still_works(int* d, int n, int value, const char* after) {
  fill<<<(n + 127) / 128, 128>>>(d, value, n);
  CHECK_CUDA(cudaGetLastError());
  std::vector<int> h(n, -1);
  CHECK_CUDA(cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i)
    EXPECT_TRUE(h[i] == value, "after %s: fill result [%d] = %d, want %d", after, i, h[i], value);
  std::printf("ok: context still works after %s\n", after);
}

int main() {
  const int n = 1024;
  const size_t bytes = n * sizeof(int);
  int* d;
  CHECK_CUDA(cudaMalloc(&d, bytes));
  std::vector<int> big(2 * n, 7);

  // 1. Out-of-range copies.
  cudaError_t e = with_sync(cudaMemcpy(d, big.data(), 2 * bytes, cudaMemcpyHostToDevice));
  EXPECT_CUDA_ERROR(e, cudaErrorInvalidValue, "H2D copy of 2x the allocation");
  std::printf("ok: H2D past the end -> %s\n", cudaGetErrorName(e));
  cudaGetLastError();  // clear the (non-sticky) error
  e = with_sync(cudaMemcpy(big.data(), d, 2 * bytes, cudaMemcpyDeviceToHost));
  EXPECT_CUDA_ERROR(e, cudaErrorInvalidValue, "D2H copy of 2x the allocation");
  std::printf("ok: D2H past the end -> %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  e = with_sync(cudaMemcpy(d + n - 8, big.data(), 16 * sizeof(int), cudaMemcpyHostToDevice));
  EXPECT_CUDA_ERROR(e, cudaErrorInvalidValue, "H2D copy straddling the allocation's end");
  std::printf("ok: H2D straddling the end -> %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  EXPECT_CUDA_ERROR(cudaGetLastError(), cudaSuccess, "cudaGetLastError after clearing");
  check_context_still_works(d, n, 11, "out-of-range copies");

  // 2. Invalid launch configuration.
  fill<<<1, 2048>>>(d, 5, n);
  e = with_sync(cudaGetLastError());
  EXPECT_CUDA_ERROR(e, cudaErrorInvalidValue, "launch with 2048 threads per block");
  std::printf("ok: invalid launch config -> %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  check_context_still_works(d, n, 22, "an invalid launch configuration");

  // 2b. A cooperative launch: it runs and fills, or it is refused as not supported.
  {
    int value = 33, count = n;
    void* args[] = {&d, &value, &count};
    e = with_sync(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(&fill),
                                              dim3((n + 127) / 128), dim3(128), args, 0, 0));
    if (e == cudaSuccess) {
      std::vector<int> h(n, -1);
      CHECK_CUDA(cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
      EXPECT_TRUE(h[0] == 33 && h[n - 1] == 33, "cooperative launch ran but wrote %d, %d", h[0],
                  h[n - 1]);
    } else {
      EXPECT_CUDA_ERROR(e, cudaErrorNotSupported, "cooperative launch");
    }
    std::printf("ok: cooperative launch -> %s\n", cudaGetErrorName(e));
    cudaGetLastError();
    check_context_still_works(d, n, 44, "a cooperative launch");
  }

  // 3. A failing kernel: sticky.
  trapKernel<<<1, 1>>>(42);
  e = with_sync(cudaGetLastError());
  // cudaErrorLaunchFailure on the sim backend (plugin failure) and for __trap() on GPUs; some
  // drivers report a trap as cudaErrorIllegalInstruction.
  EXPECT_TRUE(e == cudaErrorLaunchFailure || e == cudaErrorIllegalInstruction,
              "trap kernel: got %s (%d), want cudaErrorLaunchFailure", cudaGetErrorName(e),
              static_cast<int>(e));
  std::printf("ok: trapping kernel -> %s\n", cudaGetErrorName(e));
  const cudaError_t sticky = e;
  e = cudaDeviceSynchronize();
  EXPECT_CUDA_ERROR(e, sticky, "second cudaDeviceSynchronize after the trap (sticky)");
  int* d2 = nullptr;
  e = with_sync(cudaMalloc(&d2, bytes));
  EXPECT_CUDA_ERROR(e, sticky, "cudaMalloc after the trap (sticky)");
  e = with_sync(cudaMemcpy(big.data(), d, bytes, cudaMemcpyDeviceToHost));
  EXPECT_CUDA_ERROR(e, sticky, "cudaMemcpy after the trap (sticky)");
  std::printf("ok: the launch failure is sticky (%s)\n", cudaGetErrorName(sticky));
  e2e_pass("errors");
  return 0;
}
