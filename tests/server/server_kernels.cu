// tests/server/server_kernels.cu — kernels whose images the server tests load (nvcc -cubin /
// -fatbin). Their host versions live in server_test_plugin.cc.
__device__ int g_counter = 42;
__constant__ float c_scale[4] = {1.f, 2.f, 3.f, 4.f};

extern "C" __global__ void vec_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void crash_kernel(int* p) {
  p[threadIdx.x] = g_counter;
}

extern "C" __global__ void wild_kernel(int* out) {
  *out = 42;
}

extern "C" __global__ void fail_kernel(int x) {
  if (x) __trap();
}

extern "C" __global__ void no_host_kernel(char c, double d, float* out) {
  out[0] = c + d * c_scale[0];
}

extern "C" __global__ void say(int x) {
  printf("say %d from %d\n", x, threadIdx.x);
}
