// pool_manager/schedule.h — when a provider lends: daily windows in local time.
//
// Contract: parse() accepts "" or "always" (every minute), or comma-separated "HH:MM-HH:MM"
// windows; a window whose end is before its start wraps midnight ("22:00-07:00" = 22:00..23:59
// and 00:00..06:59). The start minute is inside, the end minute is not. Bad text gets an error
// naming the bad part. allows() says whether a minute of the day (0..1439) is inside a window.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rgpu::pool {

class Schedule {
 public:
  static bool parse(const std::string& text, Schedule* out, std::string* error);
  bool allows(int minute_of_day) const;
  bool always() const { return windows_.empty(); }
  // Local minute of day for a Unix time (localtime_r).
  static int local_minute(int64_t unix_s);

 private:
  std::vector<std::pair<int, int>> windows_;  // [start, end) minutes
};

}  // namespace rgpu::pool
