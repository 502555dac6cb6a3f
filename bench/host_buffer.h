// bench/host_buffer.h — host memory for the copy benchmarks, the same kind on both sides of a
// ratio.
//
// Contract: HostBuffer(n) is n bytes (at least 1), aligned to 2 MiB and touched once, so the
// kernel backs it with transparent huge pages where THP is enabled ("always" or "madvise"; it
// asks with MADV_HUGEPAGE). Why it matters: on a VM, a socket copy into 4 KiB pages ran at a
// third of the rate of a copy into huge pages (bench/README.md), and a 1 MiB std::vector may get
// either depending on the heap's state. Both the raw baseline and the shim's copies use this
// buffer, so the ratio compares transports, not page sizes. RGPU_BENCH_PAGES=4k asks for small
// pages (MADV_NOHUGEPAGE) on both sides instead.
#pragma once

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace rgpu::bench {

class HostBuffer {
 public:
  static constexpr size_t kAlign = 2u << 20;

  explicit HostBuffer(size_t n, int fill = 0) : size_(n ? n : 1) {
    const size_t rounded = (size_ + kAlign - 1) / kAlign * kAlign;
    p_ = static_cast<char*>(std::aligned_alloc(kAlign, rounded));
    if (!p_) throw std::bad_alloc();
    const char* pages = std::getenv("RGPU_BENCH_PAGES");
    const bool small = pages && std::strcmp(pages, "4k") == 0;
    madvise(p_, rounded, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    std::memset(p_, fill, rounded);
  }
  ~HostBuffer() { std::free(p_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  char* data() { return p_; }
  const char* data() const { return p_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  char* p_;
};

}  // namespace rgpu::bench
