// tests/server/test_client.h — a protocol-level client and a server launcher for server tests.
//
// Contract: TestClient speaks the data plane with protocol/ only (frames, ops records,
// data_plane.capnp), exactly as libcuda.so.1 would, so the tests exercise a real rgpu-server
// process. Transport failures throw net::NetError. ServerProcess starts rgpu-server with
// --listen 127.0.0.1:0 --port-file, waits for the port, keeps its stderr in a file (log()) and
// stops it with SIGTERM in its destructor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/ops.h"
#include "protocol/transport.h"

namespace rgpu::test {

struct HelloOptions {
  uint32_t version = 0;  // 0: ours
  uint32_t min_version = 0;
  std::string secret;
  std::string lease;
  uint64_t va_base = 0;
  std::string client_name = "server-test";
};

struct HelloResult {
  bool ok = false;
  uint32_t version = 0;
  std::string error;
  uint64_t session_id = 0;
  uint64_t vram_limit = 0;
  std::vector<uint8_t> device_props;
};

struct CallResult {
  uint32_t status = 0;  // CUresult
  std::vector<uint8_t> result;
  std::string error;
  std::vector<uint8_t> payload;
  std::string device_output;  // Reply.deviceOutput (protocol 5+)

  template <typename R>
  R as() const {
    R r{};
    if (result.size() == sizeof r) std::memcpy(&r, result.data(), sizeof r);
    return r;
  }
};

class TestClient {
 public:
  explicit TestClient(std::unique_ptr<net::Stream> s) : s_(std::move(s)) {}
  static std::unique_ptr<TestClient> connect(uint16_t port);

  HelloResult hello(const HelloOptions& o = {});
  CallResult call_raw(uint16_t op, const void* args, size_t args_len, const void* payload = nullptr,
                      size_t payload_len = 0);
  template <typename O>
  CallResult call(const typename O::Args& a, const void* payload = nullptr, size_t len = 0) {
    return call_raw(static_cast<uint16_t>(O::kCode), &a, sizeof a, payload, len);
  }
  // Appends an async record to the pending batch; flush() sends it as one Batch frame.
  void enqueue_raw(uint16_t op, const void* args, size_t args_len, const void* payload = nullptr,
                   size_t payload_len = 0);
  template <typename O>
  void enqueue(const typename O::Args& a, const void* payload = nullptr, size_t len = 0) {
    enqueue_raw(static_cast<uint16_t>(O::kCode), &a, sizeof a, payload, len);
  }
  void flush();
  void goodbye();
  net::Stream& stream() { return *s_; }

  // Convenience wrappers (status checked by the caller through the returned CallResult).
  uint64_t alloc(uint64_t bytes, uint32_t* status = nullptr);

 private:
  std::unique_ptr<net::Stream> s_;
  std::vector<uint8_t> batch_;
  uint32_t batch_count_ = 0;
};

class ServerProcess {
 public:
  // extra: flags after the defaults (--backend sim --listen 127.0.0.1:0 --port-file ...).
  explicit ServerProcess(std::vector<std::string> extra, bool insecure = true);
  ~ServerProcess();
  bool started() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool alive() const;
  std::string log() const;
  // Waits up to timeout_ms for `needle` to appear in the log.
  bool wait_log(const std::string& needle, int timeout_ms = 5000) const;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
};

std::vector<uint8_t> read_file(const std::string& path);

}  // namespace rgpu::test
