// tests/e2e/multi_device.cu — two devices (RGPU_SERVER=a,b: one vGPU per server).
//
// Checks: cudaGetDeviceCount == 2; on each device an allocation filled by a kernel (each device
// loads the module itself); a copy from device 0 to device 1 through the host and with
// cudaMemcpyPeer, and back with a plain device-to-device cudaMemcpy, every value checked.
// Host implementation of iota() for the sim backend: multi_device_plugin.cc.
#include <algorithm>
#include <vector>

#include "e2e_check.h"

__global__ void iota(int* data, int base, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) data[i] = base + i;
}

static void expect_iota(const std::vector<int>& h, int base, const char* what) {
  for (size_t i = 0; i < h.size(); ++i)
    EXPECT_TRUE(h[i] == base + static_cast<int>(i), "%s: [%zu] = %d, want %d", what, i, h[i],
                base + static_cast<int>(i));
  std::printf("ok: %s\n", what);
}

int main() {
  int count = 0;
  CHECK_CUDA(cudaGetDeviceCount(&count));
  EXPECT_TRUE(count == 2, "cudaGetDeviceCount = %d, want 2", count);
  const int n = 50000;
  const size_t bytes = n * sizeof(int);
  int* d[2];
  for (int dev = 0; dev < 2; ++dev) {
    CHECK_CUDA(cudaSetDevice(dev));
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, dev));
    std::printf("device %d: %s, cc %d.%d, %zu MiB\n", dev, prop.name, prop.major, prop.minor,
                prop.totalGlobalMem >> 20);
    CHECK_CUDA(cudaMalloc(&d[dev], bytes));
    iota<<<(n + 255) / 256, 256>>>(d[dev], (dev + 1) * 1000000, n);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaDeviceSynchronize());
  }
  std::vector<int> h(n, -1);
  for (int dev = 0; dev < 2; ++dev) {
    CHECK_CUDA(cudaSetDevice(dev));
    CHECK_CUDA(cudaMemcpy(h.data(), d[dev], bytes, cudaMemcpyDeviceToHost));
    expect_iota(h, (dev + 1) * 1000000, dev == 0 ? "device 0 iota" : "device 1 iota");
  }

  // Device 0 -> host -> device 1.
  CHECK_CUDA(cudaSetDevice(0));
  CHECK_CUDA(cudaMemcpy(h.data(), d[0], bytes, cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaSetDevice(1));
  CHECK_CUDA(cudaMemcpy(d[1], h.data(), bytes, cudaMemcpyHostToDevice));
  std::vector<int> back(n, -1);
  CHECK_CUDA(cudaMemcpy(back.data(), d[1], bytes, cudaMemcpyDeviceToHost));
  expect_iota(back, 1000000, "device 0 -> host -> device 1");

  // Device 0 -> device 1 with cudaMemcpyPeer (after overwriting device 1).
  CHECK_CUDA(cudaSetDevice(1));
  iota<<<(n + 255) / 256, 256>>>(d[1], -5, n);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  CHECK_CUDA(cudaSetDevice(0));
  iota<<<(n + 255) / 256, 256>>>(d[0], 7000000, n);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaMemcpyPeer(d[1], 1, d[0], 0, bytes));
  CHECK_CUDA(cudaSetDevice(1));
  CHECK_CUDA(cudaDeviceSynchronize());
  std::fill(back.begin(), back.end(), -1);
  CHECK_CUDA(cudaMemcpy(back.data(), d[1], bytes, cudaMemcpyDeviceToHost));
  expect_iota(back, 7000000, "cudaMemcpyPeer device 0 -> device 1");

  // Device 1 -> device 0 with a plain cudaMemcpy (unified addressing: the driver sees two
  // device pointers on different devices).
  CHECK_CUDA(cudaSetDevice(0));
  iota<<<(n + 255) / 256, 256>>>(d[0], 0, n);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaMemcpy(d[0], d[1], bytes, cudaMemcpyDeviceToDevice));
  std::fill(back.begin(), back.end(), -1);
  CHECK_CUDA(cudaMemcpy(back.data(), d[0], bytes, cudaMemcpyDeviceToHost));
  expect_iota(back, 7000000, "cudaMemcpy device 1 -> device 0");

  for (int dev = 0; dev < 2; ++dev) {
    CHECK_CUDA(cudaSetDevice(dev));
    CHECK_CUDA(cudaFree(d[dev]));
  }
  e2e_pass("multi_device");
  return 0;
}
