// protocol/control/replay_guard.cc — see replay_guard.h.
#include "protocol/control/replay_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace rgpu::control {

LeaseReplayGuard::LeaseReplayGuard(std::string state_file) {
  std::string error;
  open(std::move(state_file), &error);
}

bool LeaseReplayGuard::open(std::string state_file, std::string* error) {
  std::lock_guard<std::mutex> l(mu_);
  state_file_ = std::move(state_file);
  std::ifstream f(state_file_);
  std::string id;
  int64_t exp;
  while (f >> id >> exp) used_[id] = exp;
  // Appending must work before the first session relies on it.
  int fd = ::open(state_file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot keep used leases in " + state_file_ + ": " + std::strerror(errno);
    state_file_.clear();
    return false;
  }
  ::close(fd);
  return true;
}

bool LeaseReplayGuard::claim(const std::string& lease_id, int64_t expires_unix, int64_t now_unix) {
  std::lock_guard<std::mutex> l(mu_);
  if (now_unix - last_prune_ >= 60) prune(now_unix);
  if (!used_.emplace(lease_id, expires_unix).second) return false;
  if (!state_file_.empty()) {
    // On disk before the session opens (fsync): a restart, even a crash, forgets no used id.
    std::string line = lease_id + ' ' + std::to_string(expires_unix) + '\n';
    int fd = ::open(state_file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    bool ok = fd >= 0 &&
              ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) {  // cannot promise the id stays used: refuse the session rather than risk replay
      used_.erase(lease_id);
      return false;
    }
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
  size_t before = used_.size();
  for (auto it = used_.begin(); it != used_.end();) {
    if (it->second <= now_unix)
      it = used_.erase(it);
    else
      ++it;
  }
  if (state_file_.empty() || used_.size() == before) return;
  // Rewritten whole and renamed over the old file: a crash leaves the old list or the new one.
  const std::string tmp = state_file_ + ".new";
  {
    std::ofstream f(tmp, std::ios::trunc);
    for (auto& [id, exp] : used_) f << id << ' ' << exp << '\n';
    if (!f.flush()) return;
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  ::rename(tmp.c_str(), state_file_.c_str());
}

}  // namespace rgpu::control
