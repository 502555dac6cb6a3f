// cli/main.cc — `rgpu`: the user and admin command line. Parses options, dispatches verbs.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "cli/cli.h"
#include "cli/verbs.h"
#include "protocol/control/acquire.h"
#include "protocol/control/control_version.h"
#include "protocol/version.h"

namespace rgpu::cli {

int error(const std::string& msg) {
  fprintf(stderr, "rgpu: %s\n", msg.c_str());
  return 1;
}

int usage_error(const std::string& msg, const char* usage) {
  fprintf(stderr, "rgpu: %s\n%s", msg.c_str(), usage);
  return 2;
}

}  // namespace rgpu::cli

namespace {

const char* kUsage =
    "usage: rgpu [--pool HOST:PORT] [--token T] VERB ...   (rgpu --version)\n"
    "  run [-n N] [--vram SIZE] [--compute SHARE] [--label k=v] [--wait S] [--policy P]\n"
    "      [--max-price PRICE] -- CMD ARGS\n"
    "                               run CMD on N remote vGPUs\n"
    "  server list|info|drain|undrain|remove   providers (admin for changes)\n"
    "  session list|kill            sessions (leases with a running session)\n"
    "  vgpu list                    placed vGPUs\n"
    "  token create|list|revoke     tokens (admin)\n"
    "  rate set|list                rates: per GPU-hour, GiB-hour, GB moved; the pool fee\n"
    "  ledger head|export|verify|consistency   the signed ledger and its proofs\n"
    "  payout record                a payout made on an external rail (admin)\n"
    "  earnings                     earned, paid and pending (providers), spent (users)\n"
    "  status                       pool summary\n"
    "  usage [--since] [--by]       sessions, time, bytes, cost (yours; admins: everyone's)\n"
    "  smi [--json]                 an nvidia-smi-like view of this environment's vGPUs\n"
    "Common: --pool (or RGPU_POOL, default 127.0.0.1:7070; a list a:7070,b:7070 names the\n"
    "        replicas of one pool, tried in turn), --token (or RGPU_TOKEN, --token-file FILE),\n"
    "        --json on every list, --help on every verb.\n"
    "TLS to a pool that serves it: RGPU_POOL_TLS_CA, RGPU_POOL_TLS_CERT, RGPU_POOL_TLS_KEY\n"
    "        (`rgpu run` passes them and RGPU_TLS_CA/_CERT/_KEY on to the program's shim).\n";

// Flags that take a value; everything else starting with "-" is a switch.
const std::set<std::string> kValued = {
    "--pool",   "--token",    "--token-file", "-n",     "--vram", "--label",        "--wait",
    "--policy", "--reason",   "--deadline",   "--role", "--name", "--max-price",    "--gpu-hour",
    "--model",  "--provider", "--gib-hour",   "--gb",   "--bill", "--fee",          "--since",
    "--format", "--out",      "--pool-key",   "--ref",  "--by",   "--provider-key", "--compute"};

}  // namespace

int main(int argc, char** argv) {
  using namespace rgpu::cli;
  Args a;
  std::vector<std::string> words;
  for (int i = 1; i < argc; i++) {
    std::string s = argv[i];
    if (s == "--") {
      for (int j = i + 1; j < argc; j++) a.command.push_back(argv[j]);
      break;
    }
    if (s.size() > 1 && s[0] == '-') {
      std::string k = s, v;
      auto eq = s.find('=');
      if (s.rfind("--", 0) == 0 && eq != std::string::npos) {
        k = s.substr(0, eq);
        v = s.substr(eq + 1);
      } else if (kValued.count(s)) {
        if (i + 1 >= argc) return usage_error(s + " needs a value", kUsage);
        v = argv[++i];
      }
      a.flags_given.push_back(k);
      if (k == "--version") {
        printf("rgpu %s (control plane %u, data plane protocol %u)\n", RGPU_VERSION,
               rgpu::control::kControlVersion, rgpu::kProtocolVersion);
        return 0;
      }
      if (k == "--help" || k == "-h")
        a.help = true;
      else if (k == "--json")
        a.json = true;
      else
        a.opts.emplace(k, v);
      continue;
    }
    words.push_back(s);
  }
  const char* env_pool = getenv("RGPU_POOL");
  const char* env_token = getenv("RGPU_TOKEN");
  a.pool = rgpu::control::normalize_pool_endpoint(a.get("--pool", env_pool ? env_pool : ""));
  a.token = a.get("--token", env_token ? env_token : "");
  if (a.has("--token-file")) {
    std::ifstream f(a.get("--token-file"));
    if (!f) return error("cannot read --token-file " + a.get("--token-file"));
    f >> a.token;
  }
  if (words.empty()) {
    if (a.help) {
      printf("%s", kUsage);
      return 0;
    }
    return usage_error("which verb?", kUsage);
  }
  std::string verb = words[0];
  std::string sub = words.size() > 1 ? words[1] : "";
  // Verbs without sub-verbs take positionals right after the verb; the others after the sub-verb.
  size_t first_pos =
      (verb == "run" || verb == "status" || verb == "usage" || verb == "smi" || verb == "earnings")
          ? 1
          : 2;
  if (words.size() > first_pos) a.pos.assign(words.begin() + first_pos, words.end());
  if (std::string why = check_verb(verb, sub, a); !why.empty()) return usage_error(why, "");
  if (verb == "run") return cmd_run(a);
  if (verb == "server") return cmd_server(sub, a);
  if (verb == "session") return cmd_session(sub, a);
  if (verb == "vgpu") return cmd_vgpu(sub, a);
  if (verb == "token") return cmd_token(sub, a);
  if (verb == "status") return cmd_status(a);
  if (verb == "rate") return cmd_rate(sub, a);
  if (verb == "ledger") return cmd_ledger(sub, a);
  if (verb == "payout") return cmd_payout(sub, a);
  if (verb == "earnings") return cmd_earnings(a);
  if (verb == "usage") return cmd_usage(a);
  if (verb == "smi") return cmd_smi(a);
  if (verb == "help") {
    printf("%s", kUsage);
    return 0;
  }
  return usage_error("unknown verb '" + verb + "'", kUsage);  // check_verb knows every verb
}
