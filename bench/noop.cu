// bench/noop.cu — the kernels the data-plane benchmarks launch (a no-op and one with arguments).
extern "C" __global__ void rgpu_bench_noop() {}
extern "C" __global__ void rgpu_bench_args(float* out, int n, float a) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a;
}
