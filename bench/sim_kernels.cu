// bench/sim_kernels.cu — the kernels bench/sim_exec_bench.cc runs on the sim executor (as nvcc's
// PTX) and as C++ twins; keep the two in step.
extern "C" __global__ void bench_vecadd(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void bench_reduce(const float* in, float* out, int n) {
  __shared__ float s[256];
  int t = threadIdx.x;
  int i = blockIdx.x * blockDim.x * 2 + t;
  float v = 0;
  if (i < n) v = in[i];
  if (i + blockDim.x < n) v += in[i + blockDim.x];
  s[t] = v;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step >>= 1) {
    if (t < step) s[t] += s[t + step];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// C = A * B for n x n row-major matrices, 16 x 16 tiles through shared memory.
extern "C" __global__ void bench_sgemm(const float* A, const float* B, float* C, int n) {
  __shared__ float ta[16][16], tb[16][16];
  int tx = threadIdx.x, ty = threadIdx.y;
  int row = blockIdx.y * 16 + ty, col = blockIdx.x * 16 + tx;
  float acc = 0;
  for (int k0 = 0; k0 < n; k0 += 16) {
    ta[ty][tx] = row < n && k0 + tx < n ? A[row * n + k0 + tx] : 0.0f;
    tb[ty][tx] = col < n && k0 + ty < n ? B[(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int k = 0; k < 16; ++k) acc += ta[ty][k] * tb[k][tx];
    __syncthreads();
  }
  if (row < n && col < n) C[row * n + col] = acc;
}
