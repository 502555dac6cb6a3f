// tests/server/test_client.cc — see test_client.h.
#include "tests/server/test_client.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "protocol/batch_record.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/version.h"

namespace rgpu::test {

std::unique_ptr<TestClient> TestClient::connect(uint16_t port) {
  net::Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  return std::make_unique<TestClient>(net::connect(ep));
}

HelloResult TestClient::hello(const HelloOptions& o) {
  {
    capnp::MallocMessageBuilder msg;
    auto h = msg.initRoot<wire::Hello>();
    h.setProtocolVersion(o.version ? o.version : kProtocolVersion);
    h.setMinProtocolVersion(o.min_version ? o.min_version
                                          : (o.version ? o.version : kMinProtocolVersion));
    h.setSecret(o.secret);
    if (!o.lease.empty())
      h.setLease(
          capnp::Data::Reader(reinterpret_cast<const uint8_t*>(o.lease.data()), o.lease.size()));
    h.setClientName(o.client_name);
    h.setVaBase(o.va_base);
    write_frame(*s_, FrameKind::kHello, msg);
  }
  InFrame f = read_frame(*s_);
  skip_payload(*s_, f.payload_len);
  HelloResult r;
  if (f.kind != FrameKind::kHelloReply) {
    r.error = "not a HelloReply";
    return r;
  }
  auto reader = f.reader();
  auto rep = reader.getRoot<wire::HelloReply>();
  r.ok = rep.getOk();
  r.version = rep.getProtocolVersion();
  r.error = rep.getError();
  r.session_id = rep.getSessionId();
  r.vram_limit = rep.getVramLimit();
  auto p = rep.getDeviceProps();
  r.device_props.assign(p.begin(), p.end());
  return r;
}

CallResult TestClient::call_raw(uint16_t op, const void* args, size_t args_len, const void* payload,
                                size_t payload_len) {
  flush();
  {
    capnp::MallocMessageBuilder msg;
    auto req = msg.initRoot<wire::Request>();
    req.setOp(op);
    req.setArgs(capnp::Data::Reader(static_cast<const uint8_t*>(args), args_len));
    write_frame(*s_, FrameKind::kRequest, msg, payload, payload_len);
  }
  InFrame f = read_frame(*s_);
  CallResult r;
  if (f.kind != FrameKind::kReply) {
    skip_payload(*s_, f.payload_len);
    throw net::NetError(net::NetError::kProtocol, "expected a Reply");
  }
  auto reader = f.reader();
  auto rep = reader.getRoot<wire::Reply>();
  r.status = rep.getStatus();
  auto res = rep.getResults();
  r.result.assign(res.begin(), res.end());
  r.error = rep.getErrorText();
  auto out = rep.getDeviceOutput();
  r.device_output.assign(reinterpret_cast<const char*>(out.begin()), out.size());
  r.payload.resize(f.payload_len);
  if (f.payload_len) read_payload(*s_, r.payload.data(), f.payload_len);
  return r;
}

void TestClient::enqueue_raw(uint16_t op, const void* args, size_t args_len, const void* payload,
                             size_t payload_len) {
  if (!append_batch_record(&batch_, op, args, args_len, payload, payload_len))
    throw std::length_error("batch record too long");
  ++batch_count_;
}

void TestClient::flush() {
  if (batch_count_ == 0) return;
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<wire::Batch>();
  b.setCount(batch_count_);
  b.setRecords(capnp::Data::Reader(batch_.data(), batch_.size()));
  write_frame(*s_, FrameKind::kBatch, msg);
  batch_.clear();
  batch_count_ = 0;
}

void TestClient::goodbye() {
  flush();
  capnp::MallocMessageBuilder msg;
  msg.initRoot<wire::Goodbye>().setReason("test done");
  write_frame(*s_, FrameKind::kGoodbye, msg);
}

uint64_t TestClient::alloc(uint64_t bytes, uint32_t* status) {
  op::MemAlloc::Args a{bytes};
  CallResult r = call<op::MemAlloc>(a);
  if (status) *status = r.status;
  return r.as<op::MemAlloc::Result>().dptr;
}

// --- ServerProcess -----------------------------------------------------------------------

ServerProcess::ServerProcess(std::vector<std::string> extra, bool insecure) {
  char tmpl[] = "/tmp/rgpu-server-test-XXXXXX";
  if (!::mkdtemp(tmpl)) return;
  dir_ = tmpl;
  const std::string port_file = dir_ + "/port";
  const std::string log_file = dir_ + "/server.log";
  std::vector<std::string> args = {RGPU_SERVER_BIN, "--backend",   "sim",    "--listen",
                                   "127.0.0.1:0",   "--port-file", port_file};
  if (insecure) args.push_back("--insecure");
  for (auto& e : extra) args.push_back(e);
  pid_ = ::fork();
  if (pid_ == 0) {
    FILE* lf = std::fopen(log_file.c_str(), "w");
    if (lf) ::dup2(fileno(lf), 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::unsetenv("RGPU_SECRET");
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 500 && port_ == 0; ++i) {
    std::ifstream pf(port_file);
    unsigned p = 0;
    if (pf >> p) port_ = static_cast<uint16_t>(p);
    if (port_ == 0) {
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st;
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
  }
  if (!dir_.empty() && !::getenv("RGPU_KEEP_TEST_LOGS")) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
}

bool ServerProcess::alive() const {
  if (pid_ <= 0) return false;
  int st;
  return ::waitpid(pid_, &st, WNOHANG) == 0;
}

std::string ServerProcess::log() const {
  std::ifstream f(dir_ + "/server.log");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool ServerProcess::wait_log(const std::string& needle, int timeout_ms) const {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    if (log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

}  // namespace rgpu::test
