#include "protocol/image/elf.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "protocol/image/byte_reader.h"

namespace rgpu::image {

namespace {

constexpr uint64_t kMaxSections = uint64_t{1} << 20;

using R = Result<uint64_t>;

// offset+len <= limit without overflow; stores the end.
bool fits(uint64_t offset, uint64_t len, uint64_t limit, uint64_t* end) {
  if (offset > limit || len > limit - offset) return false;
  *end = offset + len;
  return true;
}

struct Tables {
  Elf64_Ehdr eh{};
  uint64_t shnum = 0;
  uint64_t phnum = 0;
  uint32_t shstrndx = 0;
};

// Validates the header and both header tables against `limit`; fills t.
std::string read_tables(const uint8_t* data, uint64_t limit, Tables* t) {
  if (limit < sizeof(Elf64_Ehdr)) return "ELF: shorter than the 64-byte ELF header";
  if (!looks_like_elf(data, sizeof(Elf64_Ehdr))) return "ELF: not a 64-bit little-endian ELF";
  std::memcpy(&t->eh, data, sizeof(Elf64_Ehdr));
  const Elf64_Ehdr& eh = t->eh;
  if (eh.e_machine != kEmCuda) {
    return "ELF: e_machine " + std::to_string(eh.e_machine) + " is not EM_CUDA (190)";
  }
  if (eh.e_ehsize < sizeof(Elf64_Ehdr)) return "ELF: e_ehsize too small";
  t->shnum = eh.e_shnum;
  t->phnum = eh.e_phnum;
  t->shstrndx = eh.e_shstrndx;
  if (eh.e_shoff != 0) {
    if (eh.e_shentsize != sizeof(Elf64_Shdr)) return "ELF: unexpected e_shentsize";
    uint64_t end;
    if (!fits(eh.e_shoff, sizeof(Elf64_Shdr), limit, &end)) {
      return "ELF: section header table outside the image";
    }
    Elf64_Shdr sh0;
    std::memcpy(&sh0, data + eh.e_shoff, sizeof sh0);
    if (t->shnum == 0) t->shnum = sh0.sh_size;  // extended numbering
    if (t->shstrndx == SHN_XINDEX) t->shstrndx = sh0.sh_link;
    if (t->phnum == PN_XNUM) t->phnum = sh0.sh_info;
  } else {
    t->shnum = 0;
  }
  if (t->shnum > kMaxSections) return "ELF: too many sections";
  if (t->phnum > kMaxSections) return "ELF: too many program headers";
  if (t->phnum != 0 && eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return "ELF: unexpected e_phentsize";
  }
  return {};
}

}  // namespace

bool section_has_file_data(uint32_t type) {
  return type != SHT_NULL && type != SHT_NOBITS && type != SHT_LOPROC + 0x7 &&
         type != SHT_LOPROC + 0xa;
}

bool looks_like_elf(const uint8_t* data, size_t size) {
  return data != nullptr && size >= 6 && data[0] == 0x7f && data[1] == 'E' && data[2] == 'L' &&
         data[3] == 'F' && data[EI_CLASS] == ELFCLASS64 && data[EI_DATA] == ELFDATA2LSB;
}

Result<uint64_t> elf_image_size(const uint8_t* data, uint64_t limit) {
  limit = std::min(limit, kMaxImageBytes);
  Tables t;
  if (std::string err = read_tables(data, limit, &t); !err.empty()) return R::fail(err);
  uint64_t image_end = t.eh.e_ehsize;
  uint64_t end = 0;
  if (t.shnum != 0) {
    if (!fits(t.eh.e_shoff, t.shnum * sizeof(Elf64_Shdr), limit, &end)) {
      return R::fail("ELF: section header table outside the image");
    }
    image_end = std::max(image_end, end);
  }
  if (t.phnum != 0) {
    if (!fits(t.eh.e_phoff, t.phnum * sizeof(Elf64_Phdr), limit, &end)) {
      return R::fail("ELF: program header table outside the image");
    }
    image_end = std::max(image_end, end);
  }
  for (uint64_t i = 0; i < t.shnum; ++i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, data + t.eh.e_shoff + i * sizeof sh, sizeof sh);
    if (!section_has_file_data(sh.sh_type)) continue;
    if (!fits(sh.sh_offset, sh.sh_size, limit, &end)) {
      return R::fail("ELF: section " + std::to_string(i) + " outside the image");
    }
    image_end = std::max(image_end, end);
  }
  for (uint64_t i = 0; i < t.phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, data + t.eh.e_phoff + i * sizeof ph, sizeof ph);
    if (!fits(ph.p_offset, ph.p_filesz, limit, &end)) {
      return R::fail("ELF: segment " + std::to_string(i) + " outside the image");
    }
    image_end = std::max(image_end, end);
  }
  return image_end;
}

Result<ElfView> ElfView::open(const uint8_t* data, size_t size) {
  using RV = Result<ElfView>;
  Result<uint64_t> image_size = elf_image_size(data, size);
  if (!image_size) return RV::fail(image_size.error());
  Tables t;
  (void)read_tables(data, size, &t);  // succeeded inside elf_image_size

  ElfView v;
  v.data_ = data;
  v.size_ = size;
  v.elf_type_ = t.eh.e_type;
  const uint32_t flags = t.eh.e_flags;
  v.sm_version_ = t.eh.e_ident[EI_ABIVERSION] >= 8 ? (flags >> 8) & 0xff : flags & 0xff;

  v.sections_.resize(t.shnum);
  for (uint64_t i = 0; i < t.shnum; ++i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, data + t.eh.e_shoff + i * sizeof sh, sizeof sh);
    ElfSection& s = v.sections_[i];
    s.type = sh.sh_type;
    s.flags = sh.sh_flags;
    s.offset = sh.sh_offset;
    s.size = sh.sh_size;
    s.link = sh.sh_link;
    s.info = sh.sh_info;
    s.entsize = sh.sh_entsize;
  }
  // Names come from .shstrtab.
  auto string_at = [&](const ElfSection& strtab, uint64_t off) -> std::string_view {
    if (strtab.type != SHT_STRTAB || off >= strtab.size) return {};
    const char* base = reinterpret_cast<const char*>(data + strtab.offset);
    const void* nul = std::memchr(base + off, 0, strtab.size - off);
    if (nul == nullptr) return {};
    return std::string_view(base + off, static_cast<const char*>(nul) - (base + off));
  };
  if (t.shstrndx < t.shnum) {
    const ElfSection strtab = v.sections_[t.shstrndx];
    for (uint64_t i = 0; i < t.shnum; ++i) {
      Elf64_Shdr sh;
      std::memcpy(&sh, data + t.eh.e_shoff + i * sizeof sh, sizeof sh);
      v.sections_[i].name = string_at(strtab, sh.sh_name);
    }
  }

  for (size_t i = v.sections_.size(); i-- > 0;) {
    v.section_by_name_[v.sections_[i].name] = static_cast<int>(i);  // first one wins
  }

  // Symbols of the first SYMTAB.
  int symtab = -1;
  for (size_t i = 0; i < v.sections_.size(); ++i) {
    if (v.sections_[i].type == SHT_SYMTAB) {
      symtab = static_cast<int>(i);
      break;
    }
  }
  if (symtab >= 0) {
    const ElfSection& st = v.sections_[symtab];
    if (st.entsize != sizeof(Elf64_Sym)) return RV::fail("ELF: unexpected symbol entry size");
    ElfSection strtab;
    if (st.link < v.sections_.size()) strtab = v.sections_[st.link];
    const ElfSection* shndx = nullptr;
    for (const ElfSection& s : v.sections_) {
      if (s.type == SHT_SYMTAB_SHNDX && s.link == static_cast<uint32_t>(symtab)) shndx = &s;
    }
    const uint64_t count = st.size / sizeof(Elf64_Sym);
    v.symbols_.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      Elf64_Sym sym;
      std::memcpy(&sym, data + st.offset + i * sizeof sym, sizeof sym);
      ElfSymbol& out = v.symbols_[i];
      out.name = string_at(strtab, sym.st_name);
      out.type = ELF64_ST_TYPE(sym.st_info);
      out.bind = ELF64_ST_BIND(sym.st_info);
      out.other = sym.st_other;
      out.value = sym.st_value;
      out.size = sym.st_size;
      out.section = sym.st_shndx;
      if (sym.st_shndx == SHN_XINDEX) {
        uint32_t idx = 0;
        if (shndx == nullptr || !section_has_file_data(shndx->type) ||
            !read_le(data + shndx->offset, shndx->size, i * 4, &idx)) {
          return RV::fail("ELF: symbol " + std::to_string(i) + " has an unresolvable section");
        }
        out.section = idx;
      } else if (sym.st_shndx >= SHN_LORESERVE) {
        out.section = 0;  // ABS/COMMON: no section in this image
      }
    }
  }
  return v;
}

int ElfView::find_section(std::string_view name) const {
  auto it = section_by_name_.find(name);
  return it == section_by_name_.end() ? -1 : it->second;
}

std::string_view ElfView::section_data(const ElfSection& s) const {
  if (!section_has_file_data(s.type)) return {};
  if (!in_bounds(size_, s.offset, s.size)) return {};  // cannot happen after open()
  return std::string_view(reinterpret_cast<const char*>(data_ + s.offset), s.size);
}

}  // namespace rgpu::image
