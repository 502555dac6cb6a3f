// tests/e2e/cublas_gemm.cu — cuBLAS and cuBLASLt GEMMs through the driver, checked on the host.
//
// Usage: cublas_gemm [CASE...]     runs the named cases (default: all), each on odd sizes:
//          sgemm                    C = alpha*op(A)*op(B) + beta*C, FP32, N/N and T/N
//          gemmex_f16               cublasGemmEx, FP16 A and B, FP32 C and compute
//          sgemm_strided_batched    cublasSgemmStridedBatched, 3 batches
//          lt_matmul                one cublasLtMatmul, FP32, with its heuristic's algorithm
//          tensor_ops               GemmEx FP16 and TF32 SGEMM on sizes tensor-core kernels take
//        cublas_gemm --expect-no-kernel
//                                   for a device whose cuBLAS kernels cannot run (the sim at
//                                   --sim-arch 12.0, where cuBLAS sends sm_120 cubins with no
//                                   PTX): cublasCreate and the allocations succeed and the
//                                   sgemm then fails cleanly (cublasSgemm or the next
//                                   synchronize returns an error); exits 0 only then.
// Every result is compared with a double-precision host GEMM of the same inputs; each case
// prints one "ok:" line, and the program prints PASS only when all of them hold.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "e2e_check.h"

#define CHECK_CUBLAS(call)                                                                 \
  do {                                                                                     \
    cublasStatus_t st_ = (call);                                                           \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                                    \
      std::fprintf(stderr, "FAIL %s:%d: %s returned %s (%d)\n", __FILE__, __LINE__, #call, \
                   cublasGetStatusName(st_), static_cast<int>(st_));                       \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

namespace {

// Column-major matrices; op(X) of a rows x cols operand stored with leading dimension ld.
struct Gemm {
  int m, n, k;
  bool ta = false, tb = false;  // op(A) = A^T, op(B) = B^T
  float alpha = 1.5f, beta = 0.5f;
  int lda() const { return ta ? k : m; }
  int ldb() const { return tb ? n : k; }
  size_t a_size() const { return static_cast<size_t>(lda()) * (ta ? m : k); }
  size_t b_size() const { return static_cast<size_t>(ldb()) * (tb ? k : n); }
  size_t c_size() const { return static_cast<size_t>(m) * n; }
};

std::vector<float> inputs(size_t n, int mul, int mod, float scale, float shift) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * mul) % mod) * scale + shift;
  return v;
}

// Checks got against beta*c + alpha*op(a)*op(b) computed in double; tol relative to |want|+1.
void check(const char* what, const Gemm& g, const std::vector<float>& a,
           const std::vector<float>& b, const std::vector<float>& c, const std::vector<float>& got,
           double tol) {
  double worst = 0;
  for (int j = 0; j < g.n; ++j) {
    for (int i = 0; i < g.m; ++i) {
      double acc = 0;
      for (int p = 0; p < g.k; ++p) {
        const double x = g.ta ? a[p + static_cast<size_t>(i) * g.lda()]
                              : a[i + static_cast<size_t>(p) * g.lda()];
        const double y = g.tb ? b[j + static_cast<size_t>(p) * g.ldb()]
                              : b[p + static_cast<size_t>(j) * g.ldb()];
        acc += x * y;
      }
      const size_t at = i + static_cast<size_t>(j) * g.m;
      const double want = g.beta * static_cast<double>(c[at]) + g.alpha * acc;
      const double err = std::fabs(got[at] - want) / (1.0 + std::fabs(want));
      EXPECT_TRUE(err <= tol, "%s: C[%d,%d] = %.7g, want %.7g", what, i, j, got[at], want);
      if (err > worst) worst = err;
    }
  }
  std::printf("ok: %s %dx%dx%d%s%s (worst relative error %.2g)\n", what, g.m, g.n, g.k,
              g.ta ? " A^T" : "", g.tb ? " B^T" : "", worst);
}

template <typename T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  CHECK_CUDA(cudaMalloc(&d, h.size() * sizeof(T)));
  CHECK_CUDA(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  CHECK_CUDA(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

void sgemm(cublasHandle_t h, const Gemm& g) {
  auto a = inputs(g.a_size(), 7, 13, 0.125f, -0.5f);
  auto b = inputs(g.b_size(), 5, 11, 0.25f, -1.0f);
  auto c = inputs(g.c_size(), 1, 3, 1.0f, 0.0f);
  float *da = to_device(a), *db = to_device(b), *dc = to_device(c);
  CHECK_CUBLAS(cublasSgemm(h, g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, g.tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                           g.m, g.n, g.k, &g.alpha, da, g.lda(), db, g.ldb(), &g.beta, dc, g.m));
  CHECK_CUDA(cudaDeviceSynchronize());
  check("cublasSgemm", g, a, b, c, to_host(dc, c.size()), 1e-4);
  CHECK_CUDA(cudaFree(da));
  CHECK_CUDA(cudaFree(db));
  CHECK_CUDA(cudaFree(dc));
}

void gemmex_f16(cublasHandle_t h) {
  const Gemm g{77, 45, 63};
  // Values exact in FP16 (multiples of 1/8 below 2), so the reference sees what the GPU sees.
  auto a = inputs(g.a_size(), 7, 13, 0.125f, -0.75f);
  auto b = inputs(g.b_size(), 5, 11, 0.125f, -0.5f);
  auto c = inputs(g.c_size(), 1, 3, 1.0f, 0.0f);
  std::vector<__half> a16(a.size()), b16(b.size());
  for (size_t i = 0; i < a.size(); ++i) a16[i] = __float2half(a[i]);
  for (size_t i = 0; i < b.size(); ++i) b16[i] = __float2half(b[i]);
  __half *da = to_device(a16), *db = to_device(b16);
  float* dc = to_device(c);
  CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, da, CUDA_R_16F,
                            g.lda(), db, CUDA_R_16F, g.ldb(), &g.beta, dc, CUDA_R_32F, g.m,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  CHECK_CUDA(cudaDeviceSynchronize());
  check("cublasGemmEx f16->f32", g, a, b, c, to_host(dc, c.size()), 1e-4);
  CHECK_CUDA(cudaFree(da));
  CHECK_CUDA(cudaFree(db));
  CHECK_CUDA(cudaFree(dc));
}

// The same GEMMs on sizes and math modes where cuBLAS picks tensor-core kernels (mma.sync,
// ldmatrix, cp.async): FP16 in, FP32 out on multiples of 8; SGEMM with TF32 allowed.
void tensor_ops(cublasHandle_t h) {
  {
    const Gemm g{128, 96, 64};
    auto a = inputs(g.a_size(), 7, 13, 0.125f, -0.75f);
    auto b = inputs(g.b_size(), 5, 11, 0.125f, -0.5f);
    auto c = inputs(g.c_size(), 1, 3, 1.0f, 0.0f);
    std::vector<__half> a16(a.size()), b16(b.size());
    for (size_t i = 0; i < a.size(); ++i) a16[i] = __float2half(a[i]);
    for (size_t i = 0; i < b.size(); ++i) b16[i] = __float2half(b[i]);
    __half *da = to_device(a16), *db = to_device(b16);
    float* dc = to_device(c);
    CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, da, CUDA_R_16F,
                              g.lda(), db, CUDA_R_16F, g.ldb(), &g.beta, dc, CUDA_R_32F, g.m,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP));
    CHECK_CUDA(cudaDeviceSynchronize());
    check("cublasGemmEx f16->f32 (tensor op sizes)", g, a, b, c, to_host(dc, c.size()), 1e-4);
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(db));
    CHECK_CUDA(cudaFree(dc));
  }
  {
    const Gemm g{128, 128, 96};
    auto a = inputs(g.a_size(), 7, 13, 0.125f, -0.5f);
    auto b = inputs(g.b_size(), 5, 11, 0.25f, -1.0f);
    auto c = inputs(g.c_size(), 1, 3, 1.0f, 0.0f);
    float *da = to_device(a), *db = to_device(b), *dc = to_device(c);
    CHECK_CUBLAS(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
    CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, da, g.lda(), db,
                             g.ldb(), &g.beta, dc, g.m));
    CHECK_CUBLAS(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    CHECK_CUDA(cudaDeviceSynchronize());
    // The inputs are exact in TF32 (multiples of 1/8 and 1/4 below 2), so only the sum rounds.
    check("cublasSgemm with TF32 tensor ops", g, a, b, c, to_host(dc, c.size()), 1e-4);
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(db));
    CHECK_CUDA(cudaFree(dc));
  }
}

void sgemm_strided_batched(cublasHandle_t h) {
  const Gemm g{33, 29, 17, false, true};
  const int batches = 3;
  const long long sa = static_cast<long long>(g.a_size()) + 5, sb = g.b_size() + 3,
                  sc = g.c_size() + 7;  // strides with gaps between the batches
  auto a = inputs(sa * batches, 7, 13, 0.125f, -0.5f);
  auto b = inputs(sb * batches, 5, 11, 0.25f, -1.0f);
  auto c = inputs(sc * batches, 1, 3, 1.0f, 0.0f);
  float *da = to_device(a), *db = to_device(b), *dc = to_device(c);
  CHECK_CUBLAS(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, g.m, g.n, g.k, &g.alpha, da,
                                         g.lda(), sa, db, g.ldb(), sb, &g.beta, dc, g.m, sc,
                                         batches));
  CHECK_CUDA(cudaDeviceSynchronize());
  auto got = to_host(dc, c.size());
  for (int i = 0; i < batches; ++i) {
    auto slice = [i](const std::vector<float>& v, long long stride, size_t n) {
      return std::vector<float>(v.begin() + stride * i, v.begin() + stride * i + n);
    };
    check(("cublasSgemmStridedBatched batch " + std::to_string(i)).c_str(), g,
          slice(a, sa, g.a_size()), slice(b, sb, g.b_size()), slice(c, sc, g.c_size()),
          slice(got, sc, g.c_size()), 1e-4);
    for (long long gap = g.c_size(); gap < sc; ++gap)  // between the batches: untouched
      EXPECT_TRUE(got[sc * i + gap] == c[sc * i + gap], "batch %d wrote past its C", i);
  }
  CHECK_CUDA(cudaFree(da));
  CHECK_CUDA(cudaFree(db));
  CHECK_CUDA(cudaFree(dc));
}

void lt_matmul() {
  const Gemm g{57, 43, 39};
  auto a = inputs(g.a_size(), 7, 13, 0.125f, -0.5f);
  auto b = inputs(g.b_size(), 5, 11, 0.25f, -1.0f);
  auto c = inputs(g.c_size(), 1, 3, 1.0f, 0.0f);
  float *da = to_device(a), *db = to_device(b), *dc = to_device(c);
  cublasLtHandle_t lt;
  CHECK_CUBLAS(cublasLtCreate(&lt));
  cublasLtMatmulDesc_t op;
  CHECK_CUBLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasLtMatrixLayout_t la, lb, lc;
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, g.m, g.k, g.lda()));
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, g.k, g.n, g.ldb()));
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, g.m, g.n, g.m));
  cublasLtMatmulPreference_t pref;
  CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  size_t workspace_bytes = 4 << 20;
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &workspace_bytes, sizeof workspace_bytes));
  cublasLtMatmulHeuristicResult_t heur{};
  int found = 0;
  CHECK_CUBLAS(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &heur, &found));
  EXPECT_TRUE(found == 1, "cublasLtMatmulAlgoGetHeuristic found %d algorithms", found);
  void* workspace = nullptr;
  CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
  CHECK_CUBLAS(cublasLtMatmul(lt, op, &g.alpha, da, la, db, lb, &g.beta, dc, lc, dc, lc, &heur.algo,
                              workspace, workspace_bytes, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  check("cublasLtMatmul", g, a, b, c, to_host(dc, c.size()), 1e-4);
  CHECK_CUBLAS(cublasLtMatmulPreferenceDestroy(pref));
  CHECK_CUBLAS(cublasLtMatrixLayoutDestroy(la));
  CHECK_CUBLAS(cublasLtMatrixLayoutDestroy(lb));
  CHECK_CUBLAS(cublasLtMatrixLayoutDestroy(lc));
  CHECK_CUBLAS(cublasLtMatmulDescDestroy(op));
  CHECK_CUBLAS(cublasLtDestroy(lt));
  CHECK_CUDA(cudaFree(workspace));
  CHECK_CUDA(cudaFree(da));
  CHECK_CUDA(cudaFree(db));
  CHECK_CUDA(cudaFree(dc));
}

int expect_no_kernel(cublasHandle_t h) {
  const Gemm g{96, 80, 64};
  std::vector<float> a(g.a_size(), 1.0f), b(g.b_size(), 1.0f), c(g.c_size(), 0.0f);
  float *da = to_device(a), *db = to_device(b), *dc = to_device(c);
  const cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, da,
                                        g.m, db, g.k, &g.beta, dc, g.m);
  const cudaError_t sync = st == CUBLAS_STATUS_SUCCESS ? cudaDeviceSynchronize() : cudaSuccess;
  std::printf("cublasSgemm -> %s (%d); cudaDeviceSynchronize -> %s (%d): %s\n",
              cublasGetStatusName(st), static_cast<int>(st), cudaGetErrorName(sync),
              static_cast<int>(sync), cudaGetErrorString(sync));
  EXPECT_TRUE(st != CUBLAS_STATUS_SUCCESS || sync != cudaSuccess,
              "the sgemm reported success on a device that cannot run cuBLAS's kernels");
  cublasDestroy(h);  // may report the sticky error; it must not crash
  e2e_pass("cublas_gemm (failed cleanly, as expected without the kernel)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> cases(argv + 1, argv + argc);
  const bool no_kernel = cases.size() == 1 && cases[0] == "--expect-no-kernel";
  if (cases.empty()) cases = {"sgemm", "gemmex_f16", "sgemm_strided_batched", "lt_matmul"};
  cublasHandle_t h;
  CHECK_CUBLAS(cublasCreate(&h));
  std::printf("ok: cublasCreate\n");
  if (no_kernel) return expect_no_kernel(h);
  for (const std::string& c : cases) {
    if (c == "sgemm") {
      sgemm(h, Gemm{97, 83, 61});
      sgemm(h, Gemm{31, 7, 45, true, false});
    } else if (c == "gemmex_f16") {
      gemmex_f16(h);
    } else if (c == "tensor_ops") {
      tensor_ops(h);
    } else if (c == "sgemm_strided_batched") {
      sgemm_strided_batched(h);
    } else if (c == "lt_matmul") {
      lt_matmul();
    } else {
      std::fprintf(stderr,
                   "FAIL unknown case '%s' (sgemm, gemmex_f16, sgemm_strided_batched, "
                   "lt_matmul, --expect-no-kernel)\n",
                   c.c_str());
      return 2;
    }
  }
  CHECK_CUBLAS(cublasDestroy(h));
  e2e_pass("cublas_gemm");
  return 0;
}
