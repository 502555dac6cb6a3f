// tests/interpose/programs/init_memory.cu — a static-cudart program that gets through cudart's
// init (export tables, integrity check, primary context) and does memory round trips through
// libcuda.so.1. Prints "OK" and exits 0 on success; names the failing call otherwise.
#include <cuda_runtime.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <vector>

#define CHECK(x)                                                                      \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      printf("FAIL %s: %s (%d)\n", #x, cudaGetErrorString(e_), (int)e_);              \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

int main() {
  int n = 0;
  CHECK(cudaGetDeviceCount(&n));
  if (n < 1) {
    printf("FAIL no devices\n");
    return 1;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("device 0: %s, %zu MiB\n", prop.name, prop.totalGlobalMem >> 20);
  const size_t count = 1 << 20;
  std::vector<float> h(count), back(count, 0.f);
  for (size_t i = 0; i < count; ++i) h[i] = static_cast<float>(i) * 0.5f;
  float* d = nullptr;
  CHECK(cudaMalloc(&d, count * sizeof(float)));
  CHECK(cudaMemcpy(d, h.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(back.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost));
  if (memcmp(h.data(), back.data(), count * sizeof(float)) != 0) {
    printf("FAIL round trip differs\n");
    return 1;
  }
  CHECK(cudaMemset(d, 0, 16 * sizeof(float)));
  float z[16];
  CHECK(cudaMemcpy(z, d, sizeof z, cudaMemcpyDeviceToHost));
  for (float v : z) {
    if (v != 0.f) {
      printf("FAIL memset\n");
      return 1;
    }
  }
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CHECK(cudaMemcpyAsync(d, h.data(), 4096, cudaMemcpyHostToDevice, s));
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaStreamDestroy(s));
  size_t free_b = 0, total_b = 0;
  CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (total_b == 0 || free_b > total_b) {
    printf("FAIL mem info %zu/%zu\n", free_b, total_b);
    return 1;
  }
  // A forked child must not reuse the parent's connection; the parent keeps working.
  pid_t pid = fork();
  if (pid == 0) {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, 16);
    _exit(e == cudaSuccess ? 3 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("FAIL forked child could use CUDA (status %d)\n", status);
    return 1;
  }
  CHECK(cudaMemcpy(back.data(), d, 64, cudaMemcpyDeviceToHost));
  CHECK(cudaFree(d));
  CHECK(cudaDeviceSynchronize());
  printf("OK\n");
  return 0;
}
