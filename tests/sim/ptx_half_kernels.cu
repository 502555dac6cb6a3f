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

// Tensor-core fragments as CUTLASS-style code moves them: ldmatrix (x4, x2 .trans, x2, x1
// .trans) from shared memory into mma.sync m16n8k16 (f32 and f16 accumulators) and m16n8k8;
// bf16 fragments loaded directly by their documented layout. One warp; A is 16x16 and B 16x8,
// row-major; C and D are 16x8.
__device__ unsigned pack2(unsigned short lo, unsigned short hi) {
  return lo | (unsigned)hi << 16;
}
extern "C" __global__ void mma_ops(const __half* A, const __half* B, const float* C,
                                   const __nv_bfloat16* Ab, const __nv_bfloat16* Bb, float* D,
                                   __half* Dh, float* Db, float* D8) {
  __shared__ __align__(16) __half sA[16 * 16];
  __shared__ __align__(16) __half sB[16 * 8];
  const int l = threadIdx.x, g = l >> 2, q = l & 3;
  for (int i = l; i < 256; i += 32) sA[i] = A[i];
  for (int i = l; i < 128; i += 32) sB[i] = B[i];
  __syncwarp();
  unsigned a[4], b[2];
  unsigned pa = (unsigned)__cvta_generic_to_shared(&sA[(l % 16) * 16 + (l / 16) * 8]);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
               : "r"(pa));
  unsigned pb = (unsigned)__cvta_generic_to_shared(&sB[(l % 16) * 8]);
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
               : "=r"(b[0]), "=r"(b[1])
               : "r"(pb));
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * q + (i & 1)];
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%10,%11,%12,%13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
  for (int i = 0; i < 4; ++i) D[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * q + (i & 1)] = d[i];
  // f16 accumulator and result.
  unsigned ch[2], dh[2];
  for (int i = 0; i < 2; ++i)
    ch[i] = pack2(__half_as_ushort(__float2half(c[2 * i])),
                  __half_as_ushort(__float2half(c[2 * i + 1])));
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, "
      "{%8,%9};"
      : "=r"(dh[0]), "=r"(dh[1])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(ch[0]), "r"(ch[1]));
  for (int i = 0; i < 2; ++i) {
    Dh[(g + 8 * i) * 8 + 2 * q] = __ushort_as_half((unsigned short)(dh[i] & 0xffff));
    Dh[(g + 8 * i) * 8 + 2 * q + 1] = __ushort_as_half((unsigned short)(dh[i] >> 16));
  }
  // bf16, fragments straight from global memory by the documented layout.
  unsigned ab[4], bb[2];
  auto bits = [](__nv_bfloat16 v) { return (unsigned short)__bfloat16_as_ushort(v); };
  for (int r = 0; r < 4; ++r) {
    const int row = g + ((r & 1) ? 8 : 0), col = 2 * q + ((r & 2) ? 8 : 0);
    ab[r] = pack2(bits(Ab[row * 16 + col]), bits(Ab[row * 16 + col + 1]));
  }
  for (int r = 0; r < 2; ++r) {
    const int k = 2 * q + (r ? 8 : 0);
    bb[r] = pack2(bits(Bb[k * 8 + g]), bits(Bb[(k + 1) * 8 + g]));
  }
  float e[4];
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%10,%11,%12,%13};"
      : "=f"(e[0]), "=f"(e[1]), "=f"(e[2]), "=f"(e[3])
      : "r"(ab[0]), "r"(ab[1]), "r"(ab[2]), "r"(ab[3]), "r"(bb[0]), "r"(bb[1]), "f"(c[0]),
        "f"(c[1]), "f"(c[2]), "f"(c[3]));
  for (int i = 0; i < 4; ++i) Db[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * q + (i & 1)] = e[i];
  // m16n8k8: A's first 8 columns (ldmatrix x2: rows 0-7, rows 8-15), B's first 8 rows (x1).
  unsigned a8[2], b8;
  unsigned pa8 = (unsigned)__cvta_generic_to_shared(&sA[(l % 16) * 16]);
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
               : "=r"(a8[0]), "=r"(a8[1])
               : "r"(pa8));
  unsigned pb8 = (unsigned)__cvta_generic_to_shared(&sB[(l % 8) * 8]);
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(b8) : "r"(pb8));
  float f[4];
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
      "{%7,%8,%9,%10};"
      : "=f"(f[0]), "=f"(f[1]), "=f"(f[2]), "=f"(f[3])
      : "r"(a8[0]), "r"(a8[1]), "r"(b8), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
  for (int i = 0; i < 4; ++i) D8[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * q + (i & 1)] = f[i];
}

// Atomics on the 16-bit formats (atom.add.noftz.f16/.f16x2/.bf16/.bf16x2; an arch without a
// native form makes a CAS loop of it, which the executor runs too).
extern "C" __global__ void half_atomics(__half* h, __half2* h2, __nv_bfloat16* bf,
                                        __nv_bfloat162* bf2, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(h, __float2half(0.25f));
  atomicAdd(h2, __floats2half2_rn(0.5f, 1.0f));
  atomicAdd(bf, __float2bfloat16(0.25f));
  atomicAdd(bf2, __floats2bfloat162_rn(0.5f, 1.0f));
}
