// tests/sim/ptx_half_kernels.cu — kernels on the 16-bit and tensor float formats (.f16, .bf16,
// their .x2 pairs, .tf32), compiled to PTX (nvcc -ptx) and run by the sim executor in
// ptx_half_test.cc against host references (cuda_fp16.h / cuda_bf16.h host conversions).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

// f16 arithmetic (add/sub/mul/fma/neg/min/max/abs), compares, and conversions with each rounding.
extern "C" __global__ void half_ops(const __half* a, const __half* b, const __half* c, __half* out,
                                    float* f, int* k, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  __half x = a[i], y = b[i], z = c[i];
  __half* o = out + i * 12;
  o[0] = __hadd(x, y);
  o[1] = __hsub(x, y);
  o[2] = __hmul(x, y);
  o[3] = __hfma(x, y, z);
  o[4] = __hneg(x);
  o[5] = __hmin(x, y);
  o[6] = __hmax(x, y);
  o[7] = __habs(x);
  o[8] = __hfma_sat(x, y, z);
  const float fx = __half2float(x) * 3.1f;
  o[9] = __float2half_rz(fx);
  o[10] = __float2half_rd(fx);
  o[11] = __float2half_ru(fx);
  f[i * 2 + 0] = __half2float(x);
  f[i * 2 + 1] = __hlt(x, y) ? 1.0f : (__hge(x, y) ? 2.0f : 3.0f);  // 3: unordered (NaN)
  k[i * 3 + 0] = __half2int_rn(x);
  k[i * 3 + 1] = __half2int_rz(y);
  __half back = __int2half_rn(i * 1001 - 30000);
  k[i * 3 + 2] = __half_as_ushort(back);
}

// f16x2 element-wise arithmetic, packing two floats (cvt.rn.f16x2.f32) and a paired compare.
extern "C" __global__ void half2_ops(const __half2* a, const __half2* b, const float* fa,
                                     __half2* out, int* flags, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  __half2 x = a[i], y = b[i];
  out[i * 4 + 0] = __hadd2(x, y);
  out[i * 4 + 1] = __hmul2(x, y);
  out[i * 4 + 2] = __hfma2(x, y, x);
  out[i * 4 + 3] = __floats2half2_rn(fa[i * 2], fa[i * 2 + 1]);
  __half2 lt = __hlt2(x, y);  // 1.0 where the element compares less
  flags[i] = (__low2float(lt) != 0.0f ? 1 : 0) | (__high2float(lt) != 0.0f ? 2 : 0);
}

// bf16 and bf16x2 arithmetic and conversions.
extern "C" __global__ void bf16_ops(const __nv_bfloat16* a, const __nv_bfloat16* b, const float* fa,
                                    __nv_bfloat16* out, float* f, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  __nv_bfloat16 x = a[i], y = b[i];
  __nv_bfloat16* o = out + i * 8;
  o[0] = __hadd(x, y);
  o[1] = __hmul(x, y);
  o[2] = __hfma(x, y, x);
  o[3] = __float2bfloat16_rn(fa[i * 2]);
  o[4] = __float2bfloat16_rz(fa[i * 2]);
  __nv_bfloat162 p = __floats2bfloat162_rn(fa[i * 2], fa[i * 2 + 1]);
  __nv_bfloat162 q = __hadd2(p, __halves2bfloat162(x, y));
  o[5] = __low2bfloat16(q);
  o[6] = __high2bfloat16(q);
  o[7] = __hneg(x);
  f[i] = __bfloat162float(x) + __bfloat162float(y);
}

// tf32 conversions as tensor-core code writes them (round to nearest, ties away / even).
extern "C" __global__ void tf32_ops(const float* a, unsigned* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  unsigned r0, r1;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r0) : "f"(a[i]));
  asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r1) : "f"(a[i]));
  out[i * 2] = r0;
  out[i * 2 + 1] = r1;
}
