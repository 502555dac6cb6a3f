// server/log.cc — see log.h.
#include "server/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace rgpu::server {

namespace {
LogLevel g_level = LogLevel::kInfo;
std::string g_tag;
}  // namespace

bool parse_log_level(const std::string& s, LogLevel* out) {
  if (s == "debug")
    *out = LogLevel::kDebug;
  else if (s == "info")
    *out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning")
    *out = LogLevel::kWarn;
  else if (s == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

void set_log_level(LogLevel l) {
  g_level = l;
}
void set_log_tag(const std::string& tag) {
  g_tag = tag;
}

void log_at(LogLevel l, const char* fmt, ...) {
  if (l < g_level) return;
  static const char* names[] = {"debug", "info", "WARNING", "ERROR"};
  char buf[4096];
  int n = std::snprintf(buf, sizeof buf, "rgpu-server[%d%s%s] %s: ", static_cast<int>(::getpid()),
                        g_tag.empty() ? "" : " ", g_tag.c_str(), names[static_cast<int>(l)]);
  if (n < 0) return;
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t mlen = m < 0 ? 0 : std::min(static_cast<size_t>(m), sizeof msg - 1);
  // Messages quote what clients sent (names, reasons, labels): a control character is written
  // as \xNN, so one message is always exactly one line and nobody can forge another.
  size_t len = static_cast<size_t>(n);
  for (size_t i = 0; i < mlen && len < sizeof buf - 6; ++i) {
    const unsigned char c = static_cast<unsigned char>(msg[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      buf[len++] = '\\';
      buf[len++] = 'x';
      buf[len++] = hex[c >> 4];
      buf[len++] = hex[c & 15];
    } else {
      buf[len++] = static_cast<char>(c);
    }
  }
  buf[len++] = '\n';
  ssize_t w = ::write(2, buf, len);
  (void)w;
}

}  // namespace rgpu::server
