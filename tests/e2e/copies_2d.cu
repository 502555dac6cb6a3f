// tests/e2e/copies_2d.cu — 2-D and 3-D copies and memsets, pitched allocations, host functions
// in stream order and the profiler calls, as a program uses them through cudart.
//
// Every check compares with a host model of the same memory:
// - cudaMallocPitch + cudaMemcpy2D in every direction (HtoD, DtoD, DtoH), with offsets inside
//   the pitched rows; a kernel reads the pitched rows (so the device layout is the real one);
// - cudaMemset2D on a sub-rectangle leaves the bytes around it untouched;
// - wide rows (>= 64 KiB, the 1-D path) and many narrow rows (more than one op can carry, so the
//   copy is split) both come back byte for byte, async on a stream too;
// - cudaMemcpy3D between a host box and a pitched device volume, with a sub-box offset;
// - cudaLaunchHostFunc / cudaStreamAddCallback run after the work before them, before the work
//   after them, and see the stream's status;
// - cudaProfilerStart/Stop succeed.
#include <cuda_profiler_api.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "e2e_check.h"

__global__ void sum_rows(const uint8_t* base, size_t pitch, int width, int rows, uint32_t* out) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  uint32_t s = 0;
  for (int c = 0; c < width; ++c) s += base[r * pitch + c] * (c + 1);
  out[r] = s;
}

__global__ void add_one(int* p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

static uint8_t pattern(size_t r, size_t c, unsigned seed) {
  return static_cast<uint8_t>((r * 131 + c * 7 + seed * 29) ^ (r >> 3));
}

// H2D then D2H of a `width` x `rows` rectangle through a pitched allocation, checked.
static void round_trip(size_t width, size_t rows, cudaStream_t s, unsigned seed) {
  const size_t hpitch = width + 13;  // the host rows are pitched too
  std::vector<uint8_t> host(hpitch * rows, 0xEE), back(hpitch * rows, 0x11);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < width; ++c) host[r * hpitch + c] = pattern(r, c, seed);
  uint8_t* dev = nullptr;
  size_t dpitch = 0;
  CHECK_CUDA(cudaMallocPitch(reinterpret_cast<void**>(&dev), &dpitch, width, rows));
  EXPECT_TRUE(dpitch >= width && dpitch % 512 == 0, "pitch %zu for width %zu", dpitch, width);
  if (s) {
    CHECK_CUDA(cudaMemcpy2DAsync(dev, dpitch, host.data(), hpitch, width, rows,
                                 cudaMemcpyHostToDevice, s));
    CHECK_CUDA(cudaMemcpy2DAsync(back.data(), hpitch, dev, dpitch, width, rows,
                                 cudaMemcpyDeviceToHost, s));
    CHECK_CUDA(cudaStreamSynchronize(s));
  } else {
    CHECK_CUDA(cudaMemcpy2D(dev, dpitch, host.data(), hpitch, width, rows, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy2D(back.data(), hpitch, dev, dpitch, width, rows, cudaMemcpyDeviceToHost));
  }
  for (size_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(std::memcmp(&back[r * hpitch], &host[r * hpitch], width) == 0,
                "row %zu of %zu (width %zu) differs", r, rows, width);
    for (size_t c = width; c < hpitch; ++c)
      EXPECT_TRUE(back[r * hpitch + c] == 0x11, "byte %zu past row %zu was written", c, r);
  }
  CHECK_CUDA(cudaFree(dev));
}

static void copies_memset_kernel() {
  const int width = 100, rows = 37;
  uint8_t* a = nullptr;
  uint8_t* b = nullptr;
  size_t pa = 0, pb = 0;
  CHECK_CUDA(cudaMallocPitch(reinterpret_cast<void**>(&a), &pa, width, rows));
  CHECK_CUDA(cudaMallocPitch(reinterpret_cast<void**>(&b), &pb, width + 600, rows + 5));
  std::vector<uint8_t> host(width * rows);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c) host[r * width + c] = pattern(r, c, 1);
  CHECK_CUDA(cudaMemcpy2D(a, pa, host.data(), width, width, rows, cudaMemcpyHostToDevice));
  // A kernel reads the pitched rows where the device layout puts them.
  uint32_t* sums = nullptr;
  CHECK_CUDA(cudaMalloc(&sums, rows * sizeof(uint32_t)));
  sum_rows<<<1, 64>>>(a, pa, width, rows, sums);
  CHECK_CUDA(cudaGetLastError());
  std::vector<uint32_t> got(rows);
  CHECK_CUDA(cudaMemcpy(got.data(), sums, rows * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  for (int r = 0; r < rows; ++r) {
    uint32_t want = 0;
    for (int c = 0; c < width; ++c) want += host[r * width + c] * (c + 1);
    EXPECT_TRUE(got[r] == want, "row %d sums to %u, want %u", r, got[r], want);
  }
  // DtoD into b at byte offset (x=40, y=3), then a memset of a sub-rectangle of b.
  CHECK_CUDA(cudaMemset2D(b, pb, 0x5A, width + 600, rows + 5));
  CHECK_CUDA(cudaMemcpy2D(b + 3 * pb + 40, pb, a, pa, width, rows, cudaMemcpyDeviceToDevice));
  CHECK_CUDA(cudaMemset2D(b + 10 * pb + 50, pb, 0xC3, 20, 4));
  std::vector<uint8_t> model((width + 600) * (rows + 5), 0x5A);
  const size_t mw = width + 600;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c) model[(r + 3) * mw + 40 + c] = host[r * width + c];
  for (int r = 10; r < 14; ++r)
    for (int c = 50; c < 70; ++c) model[r * mw + c] = 0xC3;
  std::vector<uint8_t> back(model.size());
  CHECK_CUDA(cudaMemcpy2D(back.data(), mw, b, pb, mw, rows + 5, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < model.size(); ++i)
    EXPECT_TRUE(back[i] == model[i], "b row %zu col %zu is %u, want %u", i / mw, i % mw, back[i],
                model[i]);
  CHECK_CUDA(cudaFree(a));
  CHECK_CUDA(cudaFree(b));
  CHECK_CUDA(cudaFree(sums));
}

static void copy_3d() {
  const size_t w = 24, h = 7, d = 5;  // the box copied, in bytes x rows x slices
  cudaPitchedPtr vol{};
  cudaExtent ext = make_cudaExtent(40, 9, 6);  // the device volume, larger than the box
  CHECK_CUDA(cudaMalloc3D(&vol, ext));
  CHECK_CUDA(cudaMemset3D(vol, 0, ext));
  std::vector<uint8_t> box(w * h * d);
  for (size_t i = 0; i < box.size(); ++i) box[i] = static_cast<uint8_t>(i * 37 + 11);
  cudaMemcpy3DParms up{};
  up.srcPtr = make_cudaPitchedPtr(box.data(), w, w, h);
  up.dstPtr = vol;
  up.dstPos = make_cudaPos(8, 1, 1);
  up.extent = make_cudaExtent(w, h, d);
  up.kind = cudaMemcpyHostToDevice;
  CHECK_CUDA(cudaMemcpy3D(&up));
  // Read the whole volume back and compare with the model.
  std::vector<uint8_t> all(40 * 9 * 6, 0xFF);
  cudaMemcpy3DParms down{};
  down.srcPtr = vol;
  down.dstPtr = make_cudaPitchedPtr(all.data(), 40, 40, 9);
  down.extent = ext;
  down.kind = cudaMemcpyDeviceToHost;
  CHECK_CUDA(cudaMemcpy3D(&down));
  for (size_t z = 0; z < 6; ++z)
    for (size_t y = 0; y < 9; ++y)
      for (size_t x = 0; x < 40; ++x) {
        uint8_t want = 0;
        if (z >= 1 && z < 1 + d && y >= 1 && y < 1 + h && x >= 8 && x < 8 + w)
          want = box[(z - 1) * w * h + (y - 1) * w + (x - 8)];
        EXPECT_TRUE(all[(z * 9 + y) * 40 + x] == want, "volume (%zu,%zu,%zu) is %u, want %u", x, y,
                    z, all[(z * 9 + y) * 40 + x], want);
      }
  CHECK_CUDA(cudaFree(vol.ptr));
}

struct Seen {
  int* host;
  int before = -1;
  int calls = 0;
  cudaError_t status = cudaErrorUnknown;
};

static void host_functions() {
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreate(&s));
  int* dev = nullptr;
  const int n = 256;
  CHECK_CUDA(cudaMalloc(&dev, n * sizeof(int)));
  CHECK_CUDA(cudaMemsetAsync(dev, 0, n * sizeof(int), s));
  add_one<<<2, 128, 0, s>>>(dev, n);
  std::vector<int> host(n, -5);
  CHECK_CUDA(cudaMemcpyAsync(host.data(), dev, n * sizeof(int), cudaMemcpyDeviceToHost, s));
  Seen seen{host.data()};
  // Runs after the copy above: it sees the kernel's result.
  CHECK_CUDA(cudaLaunchHostFunc(
      s,
      [](void* p) {
        auto* v = static_cast<Seen*>(p);
        v->before = v->host[n - 1];
        v->calls++;
        v->host[0] = 1000;  // the work after this function must see this write
      },
      &seen));
  add_one<<<2, 128, 0, s>>>(dev, n);
  CHECK_CUDA(cudaMemcpyAsync(dev, host.data(), sizeof(int), cudaMemcpyHostToDevice, s));
  CHECK_CUDA(cudaStreamAddCallback(
      s,
      [](cudaStream_t, cudaError_t st, void* p) {
        auto* v = static_cast<Seen*>(p);
        v->status = st;
        v->calls++;
      },
      &seen, 0));
  CHECK_CUDA(cudaStreamSynchronize(s));
  EXPECT_TRUE(seen.calls == 2, "%d host functions ran, want 2", seen.calls);
  EXPECT_TRUE(seen.before == 1, "the host function saw %d, want the kernel's 1", seen.before);
  EXPECT_TRUE(seen.status == cudaSuccess, "the callback was told %d", seen.status);
  int first = 0, last = 0;
  CHECK_CUDA(cudaMemcpy(&first, dev, sizeof(int), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(&last, dev + n - 1, sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT_TRUE(first == 1000, "the copy after the host function wrote %d, want 1000", first);
  EXPECT_TRUE(last == 2, "the last element is %d, want 2", last);
  CHECK_CUDA(cudaFree(dev));
  CHECK_CUDA(cudaStreamDestroy(s));
}

int main() {
  CHECK_CUDA(cudaProfilerStart());
  copies_memset_kernel();
  round_trip(100, 9, nullptr, 2);          // narrow rows: one packed op each way
  round_trip(70 * 1024, 3, nullptr, 3);    // wide rows: each row through the 1-D path
  round_trip(64, 300 * 1024, nullptr, 4);  // 19 MiB of narrow rows: split into several ops
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreate(&s));
  round_trip(1000, 50, s, 5);
  CHECK_CUDA(cudaStreamDestroy(s));
  copy_3d();
  host_functions();
  CHECK_CUDA(cudaProfilerStop());
  e2e_pass("copies_2d");
  return 0;
}
