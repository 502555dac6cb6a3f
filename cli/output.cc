// cli/output.cc — see output.h.
#include "cli/output.h"

#include <cstdio>
#include <ctime>

namespace rgpu::cli {

void Table::print() const {
  std::vector<size_t> w;
  for (auto& r : rows_)
    for (size_t i = 0; i < r.size(); i++) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (auto& r : rows_) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    printf("%s\n", line.c_str());
  }
}

void Json::sep() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.back()) out_ += ",";
  first_.back() = false;
}

Json& Json::obj() {
  sep();
  out_ += "{";
  first_.push_back(true);
  close_.push_back('}');
  return *this;
}
Json& Json::arr() {
  sep();
  out_ += "[";
  first_.push_back(true);
  close_.push_back(']');
  return *this;
}
Json& Json::end() {
  if (close_.empty()) return *this;
  out_ += close_.back();
  close_.pop_back();
  first_.pop_back();
  return *this;
}
void Json::quote(const std::string& v) {
  out_ += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out_ += '\\';
      out_ += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      snprintf(b, sizeof b, "\\u%04x", c);
      out_ += b;
    } else {
      out_ += static_cast<char>(c);
    }
  }
  out_ += '"';
}
Json& Json::key(const std::string& k) {
  sep();
  quote(k);
  out_ += ":";
  after_key_ = true;
  return *this;
}
Json& Json::str(const std::string& v) {
  sep();
  quote(v);
  return *this;
}
Json& Json::num(double v) {
  sep();
  char b[64];
  snprintf(b, sizeof b, "%.3f", v);
  out_ += b;
  return *this;
}
Json& Json::num(int64_t v) {
  sep();
  out_ += std::to_string(v);
  return *this;
}
Json& Json::num(uint64_t v) {
  sep();
  out_ += std::to_string(v);
  return *this;
}
Json& Json::boolean(bool v) {
  sep();
  out_ += v ? "true" : "false";
  return *this;
}
void Json::print() const {
  printf("%s\n", out_.c_str());
}

std::string human_time(int64_t t) {
  if (t == 0) return "-";
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  localtime_r(&tt, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
  return b;
}

std::string gib(uint64_t bytes) {
  char b[32];
  snprintf(b, sizeof b, "%.1f GiB", double(bytes) / double(1ull << 30));
  return b;
}

// "24h", "7d", "90m", "3600s" ago, or a local date "YYYY-MM-DD"; -1 when it is neither.
int64_t parse_since(const std::string& s) {
  if (s.empty()) return 0;
  int y, mo, d;
  char tail;
  if (std::sscanf(s.c_str(), "%d-%d-%d%c", &y, &mo, &d, &tail) == 3) {
    std::tm tm{};
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_isdst = -1;
    const time_t t = std::mktime(&tm);
    if (t == -1 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d)
      return -1;  // no such day (2024-02-30)
    return static_cast<int64_t>(t);
  }
  char* end = nullptr;
  const double n = std::strtod(s.c_str(), &end);
  const std::string unit = end;
  const double per = unit == "s"   ? 1
                     : unit == "m" ? 60
                     : unit == "h" ? 3600
                     : unit == "d" ? 86400
                                   : 0;
  if (end == s.c_str() || per == 0 || !(n >= 0) || !(n * per < 1e11)) return -1;
  return static_cast<int64_t>(std::time(nullptr) - n * per);
}

}  // namespace rgpu::cli
