// protocol/image/elf.h: a bounds-checked view of a 64-bit little-endian CUDA ELF (cubin).
//
// Contract: ElfView::open() validates the ELF header, the section and program header tables
// and every non-NOBITS section/segment against `size` before anything else reads them;
// afterwards section_data() and symbol() cannot read outside the buffer. The view does not
// own the bytes. elf_image_size() computes how many bytes an in-memory cubin occupies (cubins
// put the program headers after the section header table, so the size is the maximum end
// over both tables and all non-NOBITS sections and segments); it reads only inside
// [data, data+limit) and fails when the image would not fit in `limit`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/image/result.h"

namespace rgpu::image {

inline constexpr uint16_t kEmCuda = 190;
// Images larger than this are refused (cuBLAS's biggest cubins are far below it).
inline constexpr uint64_t kMaxImageBytes = uint64_t{1} << 31;

// Section types that occupy no file bytes: SHT_NOBITS, and in relocatable (-rdc) cubins the
// CUDA-specific SHT_LOPROC+7 (.nv.global) and SHT_LOPROC+0xa (.nv.shared.<kernel>).
bool section_has_file_data(uint32_t type);

// True when the first bytes look like a 64-bit little-endian ELF (magic, class, data).
bool looks_like_elf(const uint8_t* data, size_t size);

// See the contract above. `limit` may exceed the real buffer only when the caller trusts the
// pointer to be a complete ELF (the client's cuModuleLoadData case): then reads stay inside
// what the ELF headers declare.
Result<uint64_t> elf_image_size(const uint8_t* data, uint64_t limit);

struct ElfSection {
  std::string_view name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
  uint32_t info = 0;
  uint64_t entsize = 0;
};

struct ElfSymbol {
  std::string_view name;
  uint8_t type = 0;      // STT_*
  uint8_t bind = 0;      // STB_*
  uint8_t other = 0;     // st_other (0x10 = CUDA entry point)
  uint32_t section = 0;  // section index (SHN_XINDEX resolved), 0 = undefined
  uint64_t value = 0;
  uint64_t size = 0;
};

class ElfView {
 public:
  static Result<ElfView> open(const uint8_t* data, size_t size);

  // SM from e_flags: (e_flags>>8)&0xff for EI_ABIVERSION >= 8, else e_flags&0xff.
  uint32_t sm_version() const { return sm_version_; }
  uint16_t elf_type() const { return elf_type_; }  // ET_EXEC, or ET_REL for -rdc cubins
  const std::vector<ElfSection>& sections() const { return sections_; }
  // Index of the first section named `name`, or -1 (hashed: cuBLAS cubins have thousands).
  int find_section(std::string_view name) const;
  // Bytes of a non-NOBITS section (empty for NOBITS). Already bounds-checked by open().
  std::string_view section_data(const ElfSection& s) const;
  // Symbols of the first SYMTAB section, names resolved (empty name when out of range).
  const std::vector<ElfSymbol>& symbols() const { return symbols_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t sm_version_ = 0;
  uint16_t elf_type_ = 0;
  std::vector<ElfSection> sections_;
  std::vector<ElfSymbol> symbols_;
  std::unordered_map<std::string_view, int> section_by_name_;
};

}  // namespace rgpu::image
