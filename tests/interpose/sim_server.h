// tests/interpose/sim_server.h — a real `rgpu-server --backend sim --insecure` for live tests.
//
// Contract: start() forks and execs RGPU_SERVER_PATH listening on a free loopback port (stderr
// to /dev/null unless RGPU_TEST_VERBOSE is set), waits up to 10 s for its port file and returns
// "127.0.0.1:PORT", or "" when the server did not start. stop() ends it (SIGTERM) and reaps it.
// With log_file set, the server's stderr (its log) goes there instead.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace rgpu::test {

class SimServer {
 public:
  // extra: further rgpu-server flags (plugins, TLS files).
  std::string start(const std::string& port_file, const std::vector<std::string>& extra = {},
                    const std::string& log_file = "") {
    std::remove(port_file.c_str());
    std::vector<std::string> args = {RGPU_SERVER_PATH, "--backend",   "sim",     "--listen",
                                     "127.0.0.1:0",    "--port-file", port_file, "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int out = log_file.empty() ? open("/dev/null", O_WRONLY)
                                 : open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0 && (!log_file.empty() || !getenv("RGPU_TEST_VERBOSE"))) dup2(out, 2);
      execv(RGPU_SERVER_PATH, argv.data());
      _exit(127);
    }
    std::string port;
    for (int i = 0; i < 200 && port.empty(); ++i) {
      usleep(50000);
      std::ifstream f(port_file);
      std::getline(f, port);
    }
    std::remove(port_file.c_str());
    return port.empty() ? "" : "127.0.0.1:" + port;
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace rgpu::test
