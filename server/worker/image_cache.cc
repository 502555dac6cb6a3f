// server/worker/image_cache.cc — see image_cache.h.
#include "server/worker/image_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <vector>

#include "protocol/control/lease.h"
#include "protocol/image_digest.h"
#include "server/log.h"

namespace rgpu::server {
namespace {

bool is_digest_name(const char* n) {
  if (std::strlen(n) != 64) return false;
  for (const char* p = n; *p; ++p)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

}  // namespace

std::string ImageCache::path_of(const std::string& digest) const {
  return dir_ + "/" + control::to_hex(digest);
}

void ImageCache::warn(const std::string& what) {
  if (warned_) return;
  warned_ = true;
  log_error("image cache %s: %s (images are sent again instead)", dir_.c_str(), what.c_str());
}

bool ImageCache::get(const std::string& digest, std::string* bytes) {
  if (digest.size() != 32) return false;
  const std::string path = path_of(digest);
  // A regular file of at most the cache's size, never through a symlink, never blocking (a FIFO
  // planted in the directory must not hold the session).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max_) {
    ::close(fd);
    return false;
  }
  bytes->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes->size()) {
    const ssize_t r = ::read(fd, bytes->data() + done, bytes->size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  const std::string actual =
      done == bytes->size()
          ? image_sha256(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size())
          : std::string();
  if (actual != digest) {
    if (!actual.empty()) {  // (a failed read or digest is not the file's fault)
      log_error("image cache: %s does not hold the image its name says; deleted", path.c_str());
      ::unlink(path.c_str());
    }
    bytes->clear();
    return false;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // used now: evicted last
  return true;
}

void ImageCache::put(const uint8_t* data, size_t n) {
  if (n == 0 || n > max_ / 4) return;
  const std::string digest = image_sha256(data, n);
  if (digest.empty()) return;
  const std::string path = path_of(digest);
  if (::access(path.c_str(), F_OK) == 0) {
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    return;
  }
  for (size_t at = 1; at <= dir_.size(); ++at) {  // every missing level, 0700
    if (at != dir_.size() && dir_[at] != '/') continue;
    if (::mkdir(dir_.substr(0, at).c_str(), 0700) != 0 && errno != EEXIST)
      return warn(std::string("cannot create it: ") + std::strerror(errno));
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a dead worker's with this pid; never followed if a link
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return warn(std::string("cannot write: ") + std::strerror(errno));
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  const bool written = done == n;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno ? errno : EIO;
    ::unlink(tmp.c_str());
    return warn(std::string("cannot write: ") + std::strerror(e));
  }
  evict();
}

void ImageCache::evict() {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  struct Entry {
    std::string path;
    timespec mtime;
    uint64_t bytes;
  };
  std::vector<Entry> files;
  uint64_t total = 0;
  const time_t now = ::time(nullptr);
  while (dirent* e = ::readdir(d)) {
    struct stat st {};
    const std::string p = dir_ + "/" + e->d_name;
    if (!is_digest_name(e->d_name)) {
      // A temporary file a killed worker left (an hour is longer than any write takes).
      if (std::strstr(e->d_name, ".tmp.") && ::lstat(p.c_str(), &st) == 0 &&
          now - st.st_mtim.tv_sec > 3600)
        ::unlink(p.c_str());
      continue;
    }
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.push_back({p, st.st_mtim, static_cast<uint64_t>(st.st_size)});
    total += static_cast<uint64_t>(st.st_size);
  }
  ::closedir(d);
  if (total <= max_) return;
  std::sort(files.begin(), files.end(), [](const Entry& a, const Entry& b) {
    return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec
                                            : a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  for (const Entry& f : files) {
    if (total <= max_) break;
    if (::unlink(f.path.c_str()) == 0) total -= f.bytes;
  }
}

}  // namespace rgpu::server
