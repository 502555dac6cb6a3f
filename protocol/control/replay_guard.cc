// protocol/control/replay_guard.cc — see replay_guard.h.
#include "protocol/control/replay_guard.h"

#include <fstream>

namespace rgpu::control {

LeaseReplayGuard::LeaseReplayGuard(std::string state_file) : state_file_(std::move(state_file)) {
  std::ifstream f(state_file_);
  std::string id;
  int64_t exp;
  while (f >> id >> exp) used_[id] = exp;
}

bool LeaseReplayGuard::claim(const std::string& lease_id, int64_t expires_unix, int64_t now_unix) {
  std::lock_guard<std::mutex> l(mu_);
  if (now_unix - last_prune_ >= 60) prune(now_unix);
  if (!used_.emplace(lease_id, expires_unix).second) return false;
  if (!state_file_.empty()) {
    std::ofstream f(state_file_, std::ios::app);
    f << lease_id << ' ' << expires_unix << '\n';
  }
  return true;
}

bool LeaseReplayGuard::seen(const std::string& lease_id) const {
  std::lock_guard<std::mutex> l(mu_);
  return used_.count(lease_id) != 0;
}

size_t LeaseReplayGuard::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return used_.size();
}

void LeaseReplayGuard::prune(int64_t now_unix) {
  last_prune_ = now_unix;
  for (auto it = used_.begin(); it != used_.end();) {
    if (it->second <= now_unix)
      it = used_.erase(it);
    else
      ++it;
  }
  if (!state_file_.empty()) {
    std::ofstream f(state_file_, std::ios::trunc);
    for (auto& [id, exp] : used_) f << id << ' ' << exp << '\n';
  }
}

}  // namespace rgpu::control
