// cli/cli.h — what every `rgpu` verb shares: parsed options and the pool connection.
//
// Contract: Args holds the options of one invocation: --pool (or RGPU_POOL, default
// 127.0.0.1:7070), --token (or RGPU_TOKEN, or --token-file), --json, --help, and the verb's own
// flags and positionals. Verbs return the process exit status: 0 ok, 1 refused/failed (message
// on stderr saying what to do), 2 bad usage.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace rgpu::cli {

struct Args {
  std::string pool;
  std::string token;
  bool json = false;
  bool help = false;
  std::vector<std::string> pos;                  // positionals after the verb
  std::multimap<std::string, std::string> opts;  // --flag value (or "" for switches)
  std::vector<std::string> command;              // after "--" (rgpu run)
  std::vector<std::string> flags_given;          // every flag as typed, --json/--help included

  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
};

int cmd_run(const Args& a);
int cmd_server(const std::string& sub, const Args& a);
int cmd_session(const std::string& sub, const Args& a);
int cmd_vgpu(const std::string& sub, const Args& a);
int cmd_token(const std::string& sub, const Args& a);
int cmd_status(const Args& a);
int cmd_rate(const std::string& sub, const Args& a);
int cmd_ledger(const std::string& sub, const Args& a);
int cmd_payout(const std::string& sub, const Args& a);
int cmd_earnings(const Args& a);
int cmd_usage(const Args& a);
int cmd_smi(const Args& a);
// Where the shim and libnvidia-ml.so.1 are: RGPU_SHIM_DIR, else <this binary>/../lib/rgpu.
std::string shim_dir();

int error(const std::string& msg);  // prints "rgpu: msg" to stderr, returns 1
int usage_error(const std::string& msg, const char* usage);  // returns 2

}  // namespace rgpu::cli
