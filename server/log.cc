// server/log.cc — see log.h.
#include "server/log.h"

#include <unistd.h>

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
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  ssize_t w = ::write(2, buf, len);
  (void)w;
}

}  // namespace rgpu::server
