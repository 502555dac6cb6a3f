// server/backend/ptx/ptx_printf.cc — device printf (`vprintf(format, args)`) for a Block
// (ptx_block.h).
//
// The format string (generic address, at most kMaxFormat bytes) and the argument buffer nvcc
// builds in local memory (each argument at its own size's alignment: 4-byte int, char and
// short promoted to int; 8-byte long, pointer and double, float promoted to double) are read
// through resolve(), so a bad pointer fails the launch as any other access would. Each
// conversion is re-emitted as a host snprintf spec made only of what was parsed (flags, a
// bounded width and precision, the conversion), with an argument of the matching host type.
// %s reads a device string (at most kMaxFormat bytes; "(null)" for 0); %n prints nothing.
// The return value is CUDA's: the number of arguments, -1 for a null format.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "server/backend/ptx/ptx_block.h"

namespace rgpu::server::ptx::detail {

namespace {
constexpr uint32_t kMaxFormat = 4096;  // bytes of a format or %s string read
constexpr int kMaxWidth = 256;         // larger widths and precisions are clamped
}  // namespace

bool Block::device_printf(uint32_t t, const CallSite& site) {
  uint8_t* scratch = scratch_of(t);
  auto arg = [&](size_t i) {
    uint64_t v = 0;
    std::memcpy(&v, scratch + site.arg_offsets[i], std::min<uint32_t>(8, site.arg_bytes[i]));
    return v;
  };
  const uint64_t fmt = arg(0), args = arg(1);
  // A NUL-terminated device string, bounded; false when an access faulted.
  auto read_string = [&](uint64_t at, std::string* out) {
    for (uint32_t i = 0; i < kMaxFormat; ++i) {
      const uint8_t* c = resolve(t, Space::kGeneric, at + i, 1);
      if (c == nullptr) return false;
      if (*c == 0) break;
      out->push_back(static_cast<char>(*c));
    }
    return true;
  };
  int32_t result = -1;
  std::string out;
  if (fmt != 0) {
    std::string f;
    if (!read_string(fmt, &f)) return false;
    uint64_t off = 0;
    int32_t used = 0;
    // The next argument of `bytes` bytes from the buffer; false when an access faulted.
    auto next = [&](uint32_t bytes, uint64_t* v) {
      off = (off + bytes - 1) / bytes * bytes;
      const uint8_t* p = resolve(t, Space::kGeneric, args + off, bytes);
      if (p == nullptr) return false;
      *v = 0;
      std::memcpy(v, p, bytes);
      off += bytes;
      ++used;
      return true;
    };
    for (size_t i = 0; i < f.size(); ++i) {
      if (f[i] != '%') {
        out.push_back(f[i]);
        continue;
      }
      size_t j = i + 1;
      std::string spec = "%";
      while (j < f.size() && std::strchr("-+ #0", f[j])) spec.push_back(f[j++]);
      auto number = [&] {
        int n = 0;
        while (j < f.size() && f[j] >= '0' && f[j] <= '9')
          n = std::min(n * 10 + (f[j++] - '0'), 9999);
        return std::min(n, kMaxWidth);
      };
      if (j < f.size() && f[j] >= '0' && f[j] <= '9') spec += std::to_string(number());
      if (j < f.size() && f[j] == '.') {
        ++j;
        spec += "." + std::to_string(number());
      }
      bool wide = false;  // an 8-byte integer
      while (j < f.size() && std::strchr("hlLzjtq", f[j]))
        wide |= std::strchr("lLzjtq", f[j++]) != nullptr;
      if (j >= f.size()) {
        out += f.substr(i);
        break;
      }
      const char conv = f[j];
      char buf[2 * kMaxWidth + 64];
      uint64_t v = 0;
      if (conv == '%') {
        out.push_back('%');
      } else if (std::strchr("diuxXoc", conv)) {
        if (!next(wide ? 8 : 4, &v)) return false;
        if (conv == 'c') {
          std::snprintf(buf, sizeof buf, (spec + "c").c_str(), static_cast<int>(v & 0xff));
        } else if (conv == 'd' || conv == 'i') {
          const long long x = wide ? static_cast<long long>(v) : static_cast<int32_t>(v);
          std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), x);
        } else {
          const unsigned long long x = wide ? v : static_cast<uint32_t>(v);
          std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), x);
        }
        out += buf;
      } else if (std::strchr("fFeEgGaA", conv)) {
        if (!next(8, &v)) return false;
        double d;
        std::memcpy(&d, &v, 8);
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), d);
        out += buf;
      } else if (conv == 'p') {
        if (!next(8, &v)) return false;
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
        out += buf;
      } else if (conv == 's') {
        if (!next(8, &v)) return false;
        std::string s;
        if (v == 0)
          s = "(null)";
        else if (!read_string(v, &s))
          return false;
        std::vector<char> text(s.size() + kMaxWidth + 1);
        std::snprintf(text.data(), text.size(), (spec + "s").c_str(), s.c_str());
        out += text.data();
      } else if (conv == 'n') {
        if (!next(8, &v)) return false;
      } else {
        out += f.substr(i, j + 1 - i);  // not a conversion: as written
      }
      i = j;
    }
    result = used;
  }
  if (site.ret_offset >= 0 && site.ret_bytes >= 4)
    std::memcpy(scratch + site.ret_offset, &result, 4);
  if (mem_.device_output && !out.empty()) mem_.device_output->append(out);
  return true;
}

}  // namespace rgpu::server::ptx::detail
