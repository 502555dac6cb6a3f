// tests/e2e/train_loop.cu — a training-like loop through cudart, the shape of a real one: per
// step an input upload, 12 forward and 12 backward kernel launches, a gradient memset, and the
// loss (one float) read back, which is the step's only synchronizing call.
//
// Checks: every step's loss equals the host's computation of the same arithmetic (a = 0.5 makes
// a*x exact, so a fused and an unfused multiply-add round alike), and the gradients are zero
// after the memset. `--steps N` (default 20) runs N steps; bench/ runs it under RGPU_STATS to
// count sync round trips per step (figure 4). Host implementations: train_loop_plugin.cc.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "e2e_check.h"

// y[i] = a * x[i] + b (in place when y == x).
__global__ void scaleAdd(float* y, const float* x, float a, float b, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + b;
}

int main(int argc, char** argv) {
  int steps = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--steps") == 0) steps = std::atoi(argv[i + 1]);
  const int n = 1 << 16;
  const int threads = 256, blocks = n / threads;
  float *input, *act, *grad;
  CHECK_CUDA(cudaMalloc(&input, n * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&act, n * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&grad, n * sizeof(float)));
  std::vector<float> batch(n);
  for (int s = 0; s < steps; ++s) {
    for (int i = 0; i < n; ++i) batch[i] = static_cast<float>(s) + static_cast<float>(i) * 0.001f;
    CHECK_CUDA(cudaMemcpy(input, batch.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    scaleAdd<<<blocks, threads>>>(act, input, 0.5f, 1.0f, n);
    for (int l = 1; l < 12; ++l) scaleAdd<<<blocks, threads>>>(act, act, 0.5f, 1.0f, n);
    for (int l = 0; l < 12; ++l) scaleAdd<<<blocks, threads>>>(grad, act, 0.5f, -1.0f, n);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaMemset(grad, 0, n * sizeof(float)));
    float loss = -1.0f;
    CHECK_CUDA(cudaMemcpy(&loss, act, sizeof loss, cudaMemcpyDeviceToHost));
    float want = batch[0];
    for (int l = 0; l < 12; ++l) want = 0.5f * want + 1.0f;
    EXPECT_TRUE(loss == want, "step %d: loss %.9g, want %.9g", s, loss, want);
  }
  std::vector<float> g(n, 1.0f);
  CHECK_CUDA(cudaMemcpy(g.data(), grad, n * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) EXPECT_TRUE(g[i] == 0.0f, "grad[%d] = %g after the memset", i, g[i]);
  CHECK_CUDA(cudaFree(input));
  CHECK_CUDA(cudaFree(act));
  CHECK_CUDA(cudaFree(grad));
  e2e_pass("train_loop");
  return 0;
}
