// protocol/control/replay_guard.h — refuses a lease id that already opened a session here.
//
// Contract: the server holds one LeaseReplayGuard. After verify_lease() succeeds it calls
// claim(lease_id, expires_unix, now): true the first time an id is seen, false (replay) on any
// later call, until the id's expiry has passed (an expired lease is refused by verify_lease
// anyway, so forgetting it then is safe). Thread-safe. Memory is bounded by the number of
// unexpired leases. With a state file (open()) used ids survive a server restart and a crash:
// each claim is appended and fsynced before it returns true (a claim that cannot be written
// returns false: the session is refused rather than the id forgotten); pruning rewrites the
// file atomically (rename).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace rgpu::control {

class LeaseReplayGuard {
 public:
  LeaseReplayGuard() = default;
  // Loads and appends used ids to `state_file` (one "id expires" line each, mode 0600).
  explicit LeaseReplayGuard(std::string state_file);
  // The same on an existing guard; false with *error when the file cannot be written.
  bool open(std::string state_file, std::string* error);

  // True if `lease_id` was not used before (and marks it used); false on replay.
  bool claim(const std::string& lease_id, int64_t expires_unix, int64_t now_unix);
  bool seen(const std::string& lease_id) const;
  size_t size() const;

 private:
  void prune(int64_t now_unix);

  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> used_;  // id -> expiry
  std::string state_file_;
  int64_t last_prune_ = 0;
};

}  // namespace rgpu::control
