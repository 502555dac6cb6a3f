// pool_manager/schedule.cc — see schedule.h.
#include "pool_manager/schedule.h"

#include <cstdio>
#include <ctime>
#include <sstream>

namespace rgpu::pool {
namespace {

bool parse_hhmm(std::string s, int* minute) {
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  int h = -1, m = -1, n = 0;
  if (sscanf(s.c_str(), "%2d:%2d%n", &h, &m, &n) != 2 || n != static_cast<int>(s.size()))
    return false;
  if (s[0] < '0' || s[0] > '9') return false;
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) return false;
  *minute = h * 60 + m;
  return true;
}

}  // namespace

bool Schedule::parse(const std::string& text, Schedule* out, std::string* error) {
  Schedule s;
  if (text.empty() || text == "always") {
    *out = s;
    return true;
  }
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto dash = part.find('-');
    int a, b;
    if (dash == std::string::npos || !parse_hhmm(part.substr(0, dash), &a) ||
        !parse_hhmm(part.substr(dash + 1), &b) || a == b) {
      if (error)
        *error = "bad schedule window '" + part +
                 "': use HH:MM-HH:MM in local time, e.g. 22:00-07:00 (comma separates windows)";
      return false;
    }
    s.windows_.push_back({a, b});
  }
  if (s.windows_.empty()) {
    if (error) *error = "empty schedule; use HH:MM-HH:MM or 'always'";
    return false;
  }
  *out = s;
  return true;
}

bool Schedule::allows(int m) const {
  if (windows_.empty()) return true;
  for (auto [a, b] : windows_) {
    if (a < b ? (m >= a && m < b) : (m >= a || m < b)) return true;
  }
  return false;
}

int Schedule::local_minute(int64_t unix_s) {
  time_t t = static_cast<time_t>(unix_s);
  struct tm tm {};
  localtime_r(&t, &tm);
  return tm.tm_hour * 60 + tm.tm_min;
}

}  // namespace rgpu::pool
