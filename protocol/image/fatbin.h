// protocol/image/fatbin.h: entries of a fatbin container held in memory.
//
// Contract: list_fatbin_entries() walks a buffer that starts with a fatbin header
// {u32 magic 0xba55ed50, u16 version 1, u16 header_size, u64 fat_size}; the entries lie in
// [header_size, header_size + fat_size), which must fit in `size`. Each entry header is
//   u16 kind (1 PTX, 2 ELF), u16 version, u32 header_size, u32 payload_size, u32 _,
//   u32 compressed_size, u32 _, u32 _, u32 sm_version, u32 bit_width, u32 _, u64 flags,
//   u64 _, u64 uncompressed_size
// and the next entry starts at entry + header_size + max(payload_size, compressed_size).
// Every field is checked against the buffer; malformed input gives an error, never an
// out-of-bounds read. The entries point into the caller's buffer (no copies).
//
// entry_contents() returns an entry's image bytes: ZSTD (flag 0x8000) and LZ4 (flag 0x2000)
// payloads are decompressed into `uncompressed_size` bytes (at most kMaxImageBytes, checked
// against the ZSTD frame header / LZ4's maximum ratio before allocating); others are copied.
// PTX contents are trimmed after their first NUL (and always end with one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/image/result.h"

namespace rgpu::image {

enum class FatbinEntryKind : uint16_t { kPtx = 1, kElf = 2 };

inline constexpr uint64_t kFatbinFlag64Bit = 0x1;
inline constexpr uint64_t kFatbinFlagLinux = 0x10;
inline constexpr uint64_t kFatbinFlagLz4 = 0x2000;
inline constexpr uint64_t kFatbinFlagZstd = 0x8000;

enum class Compression : uint8_t { kNone, kLz4, kZstd };

struct FatbinEntry {
  FatbinEntryKind kind = FatbinEntryKind::kElf;
  uint32_t sm_version = 0;  // e.g. 90
  uint64_t flags = 0;
  size_t offset = 0;                 // of the entry header inside the container
  const uint8_t* payload = nullptr;  // stored bytes (compressed when compression != kNone)
  size_t payload_size = 0;           // stored byte count (compressed_size when compressed)
  uint64_t uncompressed_size = 0;    // from the header; 0 for uncompressed entries

  Compression compression() const;
  bool is_ptx() const { return kind == FatbinEntryKind::kPtx; }
  bool is_elf() const { return kind == FatbinEntryKind::kElf; }
};

Result<std::vector<FatbinEntry>> list_fatbin_entries(const uint8_t* data, size_t size);

Result<std::vector<uint8_t>> entry_contents(const FatbinEntry& entry);

}  // namespace rgpu::image
