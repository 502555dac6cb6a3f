// Test module for tests/image: two kernels with known parameter layouts, a launch bound,
// static shared memory, a __device__ global (initialised) and a __constant__ table.
struct Big {
  double d;
  char c;
  int a[5];
};

__device__ float gScale[16] = {1.0f, 2.0f, 3.0f};
__constant__ int cTable[8];

extern "C" __global__ void vectorAdd(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = (a[i] + b[i]) * gScale[i & 15] + cTable[i & 7];
}

__global__ void __launch_bounds__(128) mixedParams(char c, short s, double d, Big big, float* out,
                                                   long long ll) {
  __shared__ float tile[64];
  tile[threadIdx.x & 63] = c + s + d + big.d + big.c + big.a[threadIdx.x % 5] + ll;
  __syncthreads();
  out[threadIdx.x] = tile[(threadIdx.x + 1) & 63];
}
