// cli/rates.cc — `rgpu rate set|list`: the pool's rates (pool_manager/billing.h).
#include <cstdio>

#include "cli/cli.h"
#include "cli/output.h"
#include "cli/pool_call.h"
#include "protocol/control/money.h"

namespace rgpu::cli {
namespace {

const char* kRateUsage =
    "usage: rgpu rate set [--gpu-hour PRICE [--model NAME | --provider NAME]] [--gib-hour PRICE]\n"
    "                     [--gb PRICE] [--bill wall|busy] [--fee PERCENT]              (admin)\n"
    "         a new rate version (what is not given is kept); sessions keep the version\n"
    "         they started under. PRICE in credits: per GPU-hour (a slice pays its share of\n"
    "         the GPU's memory), per GiB-hour of device memory, per GB moved; the pool fee\n"
    "         is the share of each cost the pool keeps, the provider earns the rest.\n"
    "       rgpu rate list [--json]     every version, newest last\n";

// "15" or "12.5" percent -> parts per million.
bool parse_percent(const std::string& text, uint32_t* ppm) {
  int64_t micro = 0;  // the same decimal grammar as money: percent x 1e6
  if (!control::parse_money(text, &micro) || micro > 100 * control::kMicro) return false;
  *ppm = static_cast<uint32_t>((micro + 50) / 100);  // rounded, not truncated
  return true;
}

}  // namespace

int cmd_rate(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kRateUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  if (sub == "set") {  // bad input is a usage error before the pool is contacted
    int64_t v = 0;
    uint32_t ppm = 0;
    for (const char* f : {"--gpu-hour", "--gib-hour", "--gb"})
      if (a.has(f) && !control::parse_money(a.get(f), &v))
        return usage_error(std::string(f) + " wants an amount of credits, e.g. 0.50", kRateUsage);
    if (a.has("--bill") && a.get("--bill") != "wall" && a.get("--bill") != "busy")
      return usage_error("--bill wants wall or busy", kRateUsage);
    if (a.has("--fee") && !parse_percent(a.get("--fee"), &ppm))
      return usage_error("--fee wants a percentage from 0 to 100", kRateUsage);
  }
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    if (sub == "set") {
      auto req = c->session().setRatesRequest();
      auto ch = req.initChange();
      int64_t v = 0;
      bool any = false;
      auto money = [&](const char* flag, auto set) {
        if (!a.has(flag)) return true;
        if (!control::parse_money(a.get(flag), &v)) return false;
        set(v);
        any = true;
        return true;
      };
      if (!money("--gpu-hour", [&](int64_t x) { ch.setGpuHour(x), ch.setSetGpuHour(true); }) ||
          !money("--gib-hour", [&](int64_t x) { ch.setGibHour(x), ch.setSetGibHour(true); }) ||
          !money("--gb", [&](int64_t x) { ch.setGbMoved(x), ch.setSetGbMoved(true); }))
        return usage_error("prices are amounts of credits, e.g. 0.50", kRateUsage);
      ch.setModel(a.get("--model"));
      ch.setProvider(a.get("--provider"));
      if (a.has("--bill")) {
        const std::string b = a.get("--bill");
        if (b != "wall" && b != "busy") return usage_error("--bill wants wall or busy", kRateUsage);
        ch.setBillBusy(b == "busy");
        ch.setSetBillBusy(true);
        any = true;
      }
      if (a.has("--fee")) {
        uint32_t ppm = 0;
        if (!parse_percent(a.get("--fee"), &ppm))
          return usage_error("--fee wants a percentage from 0 to 100", kRateUsage);
        ch.setFeePpm(ppm);
        ch.setSetFeePpm(true);
        any = true;
      }
      if (!any) return usage_error("say what changes", kRateUsage);
      auto resp = c->wait(req.send());
      if (refused(resp)) return 1;
      fprintf(stderr, "rgpu: rates version %lld set\n", static_cast<long long>(resp.getVersion()));
      return 0;
    }
    auto resp = c->wait(c->session().listRatesRequest().send());
    if (refused(resp)) return 1;
    auto overrides = [](auto list) {
      std::string s;
      for (auto o : list)
        s += (s.empty() ? "" : ", ") + std::string(o.getKey().cStr()) + "=" +
             control::format_money(o.getGpuHour());
      return s.empty() ? std::string("-") : s;
    };
    if (a.json) {
      Json j;
      j.arr();
      for (auto r : resp.getRates()) {
        j.obj().key("version").num(int64_t(r.getVersion())).key("set").num(int64_t(r.getSetUnix()));
        j.key("set_by").str(r.getSetBy().cStr());
        j.key("gpu_hour").str(control::format_money(r.getGpuHour()));
        j.key("gpu_hour_by_model").obj();
        for (auto o : r.getByModel())
          j.key(o.getKey().cStr()).str(control::format_money(o.getGpuHour()));
        j.end().key("gpu_hour_by_provider").obj();
        for (auto o : r.getByProvider())
          j.key(o.getKey().cStr()).str(control::format_money(o.getGpuHour()));
        j.end();
        j.key("gib_hour").str(control::format_money(r.getGibHour()));
        j.key("gb_moved").str(control::format_money(r.getGbMoved()));
        j.key("bill").str(r.getBillBusy() ? "busy" : "wall");
        j.key("fee_percent").num(r.getFeePpm() / 1e4);
        j.end();
      }
      j.end().print();
      return 0;
    }
    Table t(
        {"VERSION", "SET", "GPU-HOUR", "BY MODEL", "BY PROVIDER", "GIB-HOUR", "GB", "BILL", "FEE"});
    for (auto r : resp.getRates()) {
      char fee[32];
      snprintf(fee, sizeof fee, "%.4g %%", r.getFeePpm() / 1e4);
      t.add({std::to_string(r.getVersion()), human_time(r.getSetUnix()),
             control::format_money(r.getGpuHour()), overrides(r.getByModel()),
             overrides(r.getByProvider()), control::format_money(r.getGibHour()),
             control::format_money(r.getGbMoved()), r.getBillBusy() ? "busy" : "wall", fee});
    }
    if (t.size() == 0)
      printf("no rates set: every session is free (rgpu rate set --gpu-hour PRICE)\n");
    else
      t.print();
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

}  // namespace rgpu::cli
