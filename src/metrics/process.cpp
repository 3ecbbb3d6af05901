#include "metrics/process.h"

#include "core/check.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

namespace tenx::metrics {

ProcessStats read_process_stats() {
  ProcessStats s;
  const long page = ::sysconf(_SC_PAGESIZE);
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2) {
      s.virtual_bytes = size * static_cast<std::uint64_t>(page);
      s.resident_bytes = resident * static_cast<std::uint64_t>(page);
    }
    std::fclose(f);
  }
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') ++s.open_fds;
    ::closedir(d);
    if (s.open_fds) --s.open_fds;  // the directory handle itself
  }
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) s.max_fds = rl.rlim_cur;
  // Start time: field 22 of /proc/self/stat (ticks after boot) + boot time from /proc/stat.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    auto rp = line.rfind(')');
    if (rp != std::string::npos) {
      std::istringstream rest(line.substr(rp + 2));
      std::string field;
      unsigned long long start_ticks = 0;
      for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) start_ticks = std::stoull(field);
      std::ifstream pstat("/proc/stat");
      std::string key;
      unsigned long long btime = 0;
      while (pstat >> key) {
        if (key == "btime") {
          pstat >> btime;
          break;
        }
      }
      if (ticks > 0)
        s.start_time_seconds = static_cast<double>(btime) +
                               static_cast<double>(start_ticks) / static_cast<double>(ticks);
    }
  }
  return s;
}

void register_process_metrics(Registry& registry) {
  static std::once_flag global_once;
  auto do_register = [&registry] {
    struct Def {
      const char* name;
      const char* help;
      Kind kind;
      double (*read)();
    };
    static const Def defs[] = {
        {"process_resident_memory_bytes", "Resident memory size in bytes.", Kind::gauge,
         [] { return static_cast<double>(read_process_stats().resident_bytes); }},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", Kind::gauge,
         [] { return static_cast<double>(read_process_stats().virtual_bytes); }},
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         Kind::counter, [] { return read_process_stats().cpu_seconds; }},
        {"process_open_fds", "Number of open file descriptors.", Kind::gauge,
         [] { return static_cast<double>(read_process_stats().open_fds); }},
        {"process_max_fds", "Maximum number of open file descriptors.", Kind::gauge,
         [] { return static_cast<double>(read_process_stats().max_fds); }},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         Kind::gauge, [] { return read_process_stats().start_time_seconds; }},
        {"tenx_bugs_total", "Internal invariant violations survived (TENX_BUG).", Kind::counter,
         [] { return static_cast<double>(core::bug_count()); }},
    };
    for (const auto& d : defs) {
      registry.add_collector(d.name, d.help, d.kind, [&d](std::vector<Sample>& out) {
        out.push_back(Sample{d.name, {}, d.read()});
      });
    }
  };
  if (&registry == &Registry::global()) {
    std::call_once(global_once, do_register);
  } else {
    do_register();
  }
}

}  // namespace tenx::metrics
