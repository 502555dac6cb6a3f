// tests/sim/ptx_kernels.cu — kernels compiled to PTX (nvcc -ptx) that the sim executor runs in
// ptx_exec_test.cc, each checked against a CPU reference there. One kernel per family.
#include <cstdint>

__device__ int g_init[4] = {10, 20, 30, 40};
__constant__ float c_coef[4];

// Integer ops nvcc emits: mul.wide/hi, mad, 64-bit div/rem, bfe/bfi, popc/clz/brev, prmt, shf.
extern "C" __global__ void int_ops(const long long* a, const long long* b, long long* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  long long x = a[i], y = b[i];
  unsigned int ux = (unsigned int)x, uy = (unsigned int)y;
  long long* o = out + i * 12;
  o[0] = x / (y == 0 ? 1 : y);
  o[1] = x % (y == 0 ? 1 : y);
  o[2] = (long long)((unsigned long long)x / ((unsigned long long)y | 1));
  o[3] = __mulhi(ux, uy);
  o[4] = __umul64hi((unsigned long long)x, (unsigned long long)y);
  o[5] = __popc(ux) + __clz(ux) * 100;
  o[6] = __brev(ux);
  o[7] = __byte_perm(ux, uy, 0x5140);
  o[8] = __funnelshift_l(ux, uy, i & 31);
  o[9] = (ux >> 3) & 0x1f;                          // bfe
  o[10] = (long long)(int)ux * (long long)(int)uy;  // mul.wide
  o[11] = (x << (i & 63)) ^ (x >> (i & 15));
}

// Float ops and conversions with their rounding and saturation.
extern "C" __global__ void float_ops(const float* a, const float* b, float* f, int* k, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = a[i], y = b[i];
  f[i * 8 + 0] = fmaf(x, y, 1.0f);
  f[i * 8 + 1] = x / y;
  f[i * 8 + 2] = sqrtf(fabsf(x));
  f[i * 8 + 3] = fminf(x, y) + fmaxf(x, y) * 2.0f;
  f[i * 8 + 4] = __saturatef(x);
  f[i * 8 + 5] = (float)(double)x * 3.0f;
  f[i * 8 + 6] = exp2f(x * 0.25f);
  f[i * 8 + 7] = __fdividef(x, 2.0f) + rsqrtf(fabsf(y) + 1.0f);
  k[i * 4 + 0] = __float2int_rn(x * 10.0f);
  k[i * 4 + 1] = (int)(x * 10.0f);  // rzi
  k[i * 4 + 2] = __float2int_rd(x * 10.0f);
  k[i * 4 + 3] = (int)__float2uint_rn(x * 1e10f);  // saturates
}

// A block reduction through static shared memory and barriers, with __syncthreads_count.
extern "C" __global__ void block_sum(const int* in, int* out, int* positives) {
  __shared__ int s[256];
  int t = threadIdx.x;
  int v = in[blockIdx.x * blockDim.x + t];
  s[t] = v;
  int count = __syncthreads_count(v > 0);
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (t < step) s[t] += s[t + step];
    __syncthreads();
  }
  if (t == 0) {
    out[blockIdx.x] = s[0];
    positives[blockIdx.x] = count;
  }
}

// Warp collectives: a shuffle reduction, ballot, any/all.
extern "C" __global__ void warp_ops(const int* in, int* out) {
  int lane = threadIdx.x & 31;
  int v = in[threadIdx.x];
  int sum = v;
  for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
  unsigned ballot = __ballot_sync(0xffffffffu, v & 1);
  int any = __any_sync(0xffffffffu, v > 100);
  int all = __all_sync(0xffffffffu, v >= 0);
  int bcast = __shfl_sync(0xffffffffu, v, 3);
  int x = __shfl_xor_sync(0xffffffffu, v, 1);
  if (lane == 0) out[threadIdx.x / 32 * 4 + 0] = sum;
  out[64 + threadIdx.x] = x + bcast * 1000;
  if (lane == 0) {
    out[threadIdx.x / 32 * 4 + 1] = (int)ballot;
    out[threadIdx.x / 32 * 4 + 2] = any;
    out[threadIdx.x / 32 * 4 + 3] = all;
  }
}

// Atomics on global and shared memory.
extern "C" __global__ void atomics(int* counter, float* fsum, unsigned* maxv, int* cas_out) {
  __shared__ int local_count;
  if (threadIdx.x == 0) local_count = 0;
  __syncthreads();
  atomicAdd(&local_count, 1);
  atomicAdd(counter, 1);
  atomicAdd(fsum, 0.5f);
  atomicMax(maxv, blockIdx.x * 1000 + threadIdx.x);
  __syncthreads();
  if (threadIdx.x == 0) {
    atomicAdd(counter + 1, local_count);
    cas_out[blockIdx.x] = atomicCAS(counter + 2, 0, (int)blockIdx.x + 7);
  }
}

// 3-D geometry, dynamic shared memory, a __device__ global with an initialiser, a __constant__.
extern "C" __global__ void geometry(int* out, int n) {
  extern __shared__ int dyn[];
  int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  int threads = blockDim.x * blockDim.y * blockDim.z;
  dyn[t] = t * 3;
  __syncthreads();
  int g = b * threads + t;
  if (g < n) out[g] = dyn[threads - 1 - t] + b * 100000 + g_init[t & 3] + (int)c_coef[b & 3];
}

// A local array indexed at run time (local memory) and a device function.
__device__ __noinline__ int pick(const int* table, int i) {
  return table[i & 7] * 2;
}
extern "C" __global__ void local_array(const int* idx, int* out) {
  int table[8];
  for (int i = 0; i < 8; ++i) table[i] = i * i + threadIdx.x;
  out[threadIdx.x] = table[idx[threadIdx.x] & 7];
}

// Faults: an index past the end, a misaligned pointer, a trap.
extern "C" __global__ void out_of_bounds(int* p, long long at) {
  p[at] = 1;
}
extern "C" __global__ void misaligned(char* p) {
  *(int*)(p + 1) = 1;
}
extern "C" __global__ void trap_if(int x) {
  if (x) __trap();
}

// Device functions through the .param calling convention: a call with a return, recursion,
// a pointer to the caller's local array, and recursion past the executor's 64 frames.
__device__ __noinline__ int scaled(int x, int k) {
  return x * k + 1;
}
__device__ __noinline__ int fib(int n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
__device__ __noinline__ int sum_local(const int* v, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += v[i];
  return s;
}
__device__ __noinline__ int depth(int n) {
  volatile int here = n;  // read after the call: the recursion cannot become a loop
  if (n == 0) return 0;
  return depth(n - 1) + here - n + 1;
}
extern "C" __global__ void calls(const int* in, int* out, int deep) {
  int t = threadIdx.x;
  int v[6];
  for (int i = 0; i < 6; ++i) v[i] = in[t] + i;
  out[t * 4 + 0] = scaled(in[t], 3);
  out[t * 4 + 1] = fib(in[t] % 12);
  out[t * 4 + 2] = sum_local(v, 1 + (in[t] & 3));
  out[t * 4 + 3] = deep ? depth(deep) : 0;
}

// Device printf: every conversion family, a device string argument, the return value (the
// number of arguments), and a %s of a bad pointer (an illegal address, as on a GPU).
extern "C" __global__ void device_printf(const char* tag, int* ret, const char* bad) {
  int t = threadIdx.x;
  if (t < 3)
    ret[t] = printf("t%d [%5.2f] %s %c %lld %#x %-3d| %e%%\n", t, t * 1.5f, tag, 'A' + t,
                    (long long)1 << 40, 255u + t, t, 1e-3 * t);
  if (t == 3) ret[t] = printf("no arguments\n");
  if (bad && t == 0) printf("%s\n", bad);
}

// Volta+ warp collectives beyond shfl/vote: match, redux, elect (with a partial membermask),
// and testp.
extern "C" __global__ void warp_extras(const int* in, unsigned* out, const float* f) {
  const int l = threadIdx.x;
  const int v = in[l];
  unsigned* o = out + l * 8;
  o[0] = __match_any_sync(0xffffffffu, v % 4);
  int pred = 0;
  o[1] = __match_all_sync(0x0000ffffu, l < 16 ? 5 : v, &pred);  // lanes 0-15 agree
  o[2] = pred;
  o[3] = __reduce_add_sync(0xffffffffu, (unsigned)v);
  o[4] = (unsigned)__reduce_min_sync(0xffffffffu, v - 50);
  o[5] = __reduce_max_sync(0xffff0000u | 0xffffu, (unsigned)v) |
         __reduce_or_sync(0xffffffffu, 1u << (l % 8));
  unsigned leader, is = 0;
  asm volatile("{ .reg .pred p; elect.sync %0|p, 0xfffffff0; selp.u32 %1, 1, 0, p; }"
               : "=r"(leader), "=r"(is));
  o[6] = leader * 2 + is;
  unsigned fin, nan;
  asm("{ .reg .pred p, q; testp.finite.f32 p, %2; testp.notanumber.f32 q, %2;"
      " selp.u32 %0, 1, 0, p; selp.u32 %1, 1, 0, q; }"
      : "=r"(fin), "=r"(nan)
      : "f"(f[l]));
  o[7] = fin | nan << 1;
}

// Warp-synchronous code as written before Volta (volatile shared memory, no __syncwarp):
// right on a GPU because a warp's lanes execute each instruction together, also after they
// branched apart (a loop with a different trip count per lane) and met again.
extern "C" __global__ void warp_synchronous(const int* in, int* out) {
  __shared__ volatile int s[64];
  __shared__ volatile int x[32];
  const int t = threadIdx.x;
  s[t] = in[t];
  __syncthreads();
  if (t < 32) {
    s[t] += s[t + 32];
    s[t] += s[t + 16];
    s[t] += s[t + 8];
    s[t] += s[t + 4];
    s[t] += s[t + 2];
    s[t] += s[t + 1];
    int v = in[t];
    for (int i = 0; i < t % 5; ++i) v = v * 3 + i;
    x[t] = v;
    out[1 + t] = x[t ^ 1];
    if (t == 0) out[0] = s[0];
  }
}
