// tests/e2e/vecadd.cu — vector add plus a kernel with mixed parameter types.
//
// Checks: c = a + b exactly for n elements over many blocks; and that every parameter of
// mixedParams(char, short, double, Big{double; char; int[5]}, unsigned long long*, long long)
// arrives intact (the kernel writes each one back into an output buffer, the host compares).
// Built several ways by CMake (static/shared cudart, PTX-only, compressed fatbin); the host
// implementations for the sim backend are in vecadd_plugin.cc.
#include <cstdint>
#include <cstring>
#include <vector>

#include "e2e_check.h"

struct Big {
  double d;
  char c;
  int a[5];
};
static_assert(sizeof(Big) == 32, "Big must be 32 bytes");

__global__ void vectorAdd(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

// out[0..10] = c, s, bits(d), bits(big.d), big.c, big.a[0..4], ll.
__global__ void mixedParams(char c, short s, double d, Big big, unsigned long long* out,
                            long long ll) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  out[0] = static_cast<unsigned long long>(static_cast<long long>(c));
  out[1] = static_cast<unsigned long long>(static_cast<long long>(s));
  out[2] = static_cast<unsigned long long>(__double_as_longlong(d));
  out[3] = static_cast<unsigned long long>(__double_as_longlong(big.d));
  out[4] = static_cast<unsigned long long>(static_cast<long long>(big.c));
  for (int k = 0; k < 5; ++k) out[5 + k] = static_cast<unsigned long long>(big.a[k]);
  out[10] = static_cast<unsigned long long>(ll);
}

static unsigned long long bits(double d) {
  unsigned long long u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

int main() {
  const int n = 100003;  // not a multiple of the block size
  const size_t bytes = n * sizeof(float);
  std::vector<float> a(n), b(n), c(n, -1.0f);
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i) * 0.5f;
    b[i] = static_cast<float>(n - i) * 0.25f;
  }
  float *da, *db, *dc;
  CHECK_CUDA(cudaMalloc(&da, bytes));
  CHECK_CUDA(cudaMalloc(&db, bytes));
  CHECK_CUDA(cudaMalloc(&dc, bytes));
  CHECK_CUDA(cudaMemcpy(da, a.data(), bytes, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(db, b.data(), bytes, cudaMemcpyHostToDevice));
  const int threads = 256;
  vectorAdd<<<(n + threads - 1) / threads, threads>>>(da, db, dc, n);
  CHECK_CUDA(cudaGetLastError());

  unsigned long long* dout;
  const int nout = 11;
  CHECK_CUDA(cudaMalloc(&dout, nout * sizeof(unsigned long long)));
  CHECK_CUDA(cudaMemset(dout, 0, nout * sizeof(unsigned long long)));
  const char pc = 'a';
  const short ps = -12345;
  const double pd = 3.25;
  Big big;
  std::memset(&big, 0, sizeof big);
  big.d = -1.0e300;
  big.c = 'Z';
  for (int k = 0; k < 5; ++k) big.a[k] = (k + 1) * 1000003 * (k % 2 ? -1 : 1);
  const long long pll = 123456789012345LL;
  mixedParams<<<1, 32>>>(pc, ps, pd, big, dout, pll);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());

  CHECK_CUDA(cudaMemcpy(c.data(), dc, bytes, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    const float want = a[i] + b[i];
    EXPECT_TRUE(c[i] == want, "vectorAdd c[%d] = %.9g, want %.9g", i, c[i], want);
  }
  unsigned long long out[nout];
  CHECK_CUDA(cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
  const unsigned long long want[nout] = {
      static_cast<unsigned long long>(static_cast<long long>(pc)),
      static_cast<unsigned long long>(static_cast<long long>(ps)),
      bits(pd),
      bits(big.d),
      static_cast<unsigned long long>(static_cast<long long>(big.c)),
      static_cast<unsigned long long>(big.a[0]),
      static_cast<unsigned long long>(big.a[1]),
      static_cast<unsigned long long>(big.a[2]),
      static_cast<unsigned long long>(big.a[3]),
      static_cast<unsigned long long>(big.a[4]),
      static_cast<unsigned long long>(pll)};
  const char* names[nout] = {"char",     "short",    "double",   "Big.d",    "Big.c",    "Big.a[0]",
                             "Big.a[1]", "Big.a[2]", "Big.a[3]", "Big.a[4]", "long long"};
  for (int k = 0; k < nout; ++k)
    EXPECT_TRUE(out[k] == want[k], "mixedParams %s came back as 0x%llx, want 0x%llx", names[k],
                out[k], want[k]);

  CHECK_CUDA(cudaFree(da));
  CHECK_CUDA(cudaFree(db));
  CHECK_CUDA(cudaFree(dc));
  CHECK_CUDA(cudaFree(dout));
  e2e_pass("vecadd");
  return 0;
}
