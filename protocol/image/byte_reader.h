// protocol/image/byte_reader.h: bounds-checked little-endian reads from an untrusted buffer.
//
// Contract: every read checks `offset + sizeof(T) <= size` without overflowing and returns
// false (leaving *out untouched) when it does not fit. Reads use memcpy, so unaligned
// offsets are fine. CUDA images are little-endian, as are the hosts rgpu runs on.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace rgpu::image {

static_assert(std::endian::native == std::endian::little,
              "rgpu image parsing assumes little-endian");

// True when [offset, offset+len) lies inside [0, size).
inline bool in_bounds(size_t size, uint64_t offset, uint64_t len) {
  return offset <= size && len <= size - offset;
}

template <typename T>
bool read_le(const uint8_t* data, size_t size, uint64_t offset, T* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!in_bounds(size, offset, sizeof(T))) return false;
  std::memcpy(out, data + offset, sizeof(T));
  return true;
}

// Reads a T that the caller already bounds-checked.
template <typename T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace rgpu::image
