#pragma once
// Metrics registry: counters, gauges and histograms with labels, recorded thread-locally and
// merged when scraped.
//
//   auto& requests = Registry::global().counter("http_requests_total", "Requests served.",
//                                                {"method", "route", "status"});
//   requests.series({"GET", "/api/posts", "200"}).inc();
//
// A Family is a metric name with its label names; a Series is one label-value combination.
// Series handles are cheap values, valid for the registry's lifetime and usable from any
// thread. Each thread writes into its own shard (a cell per series, created on first use),
// so recording takes no lock and shares no cache line with other threads; expose() sums the
// shards. Families are created at start-up (they take a lock); series() takes a lock only the
// first time a thread sees a label combination (a per-thread cache answers afterwards).
//
// Counters and gauges are summed over threads, so a gauge is something you add to and
// subtract from (open connections). Point-in-time values (memory in use) come from
// collectors: callbacks run at scrape time.
#include "core/thread_annotations.h"
#include "metrics/histogram.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::metrics {

enum class Kind { counter, gauge, histogram };

class Registry;
class Family;

class Series {
 public:
  Series() = default;
  void inc(double v = 1) const;              // counter, gauge
  void dec(double v = 1) const { inc(-v); }  // gauge
  void observe_ns(std::uint64_t ns) const;   // histogram
  void observe_seconds(double s) const;
  // This series' value summed over threads (counter / gauge).
  double value() const;
  // This series' histogram merged over threads.
  Histogram histogram() const;
  bool valid() const { return family_ != nullptr; }

 private:
  friend class Family;
  Series(Family* f, std::uint32_t id) : family_(f), id_(id) {}
  Family* family_ = nullptr;
  std::uint32_t id_ = 0;
};

// Output of one sample line, for collectors.
struct Sample {
  std::string name;  // full metric name
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class Family {
 public:
  Series series(std::initializer_list<std::string_view> label_values);
  Series series(const std::vector<std::string_view>& label_values);
  // Retires every series whose label values satisfy `match` (a server that left its pool):
  // it is no longer exposed, and each thread frees its cells (a histogram is ~18 KiB per
  // thread) the next time it records anything. A retired series' id is not reused; its slot
  // costs a few dozen bytes. Handles to it stay valid and record into nothing anyone reads.
  // Returns how many series were retired.
  std::size_t retire_if(const std::function<bool(const std::vector<std::string>&)>& match);
  const std::string& name() const { return name_; }
  Kind kind() const { return kind_; }

 private:
  friend class Registry;
  friend class Series;
  Family(Registry& r, std::uint32_t index, std::string name, std::string help, Kind kind,
         std::vector<std::string> labels);
  Series lookup(const std::string_view* values, std::size_t n);

  Registry& registry_;
  const std::uint32_t index_;
  const std::string name_;
  const std::string help_;
  const Kind kind_;
  const std::vector<std::string> label_names_;
  core::Mutex mu_;  // guards series_values_ and retired_ (slow path and scrape only)
  std::vector<std::vector<std::string>> series_values_ GUARDED_BY(mu_);  // by series id
  std::vector<bool> retired_ GUARDED_BY(mu_);                            // by series id
};

class Registry {
 public:
  Registry();
  ~Registry();
  static Registry& global();

  // Returns the existing family when name, kind and labels match; throws otherwise.
  Family& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  Family& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // Histogram of durations; exposed in seconds.
  Family& histogram(std::string name, std::string help, std::vector<std::string> labels = {});

  // A callback run at every scrape; appends samples of one family (name, help, kind).
  void add_collector(std::string name, std::string help, Kind kind,
                     std::function<void(std::vector<Sample>&)> collect);

  // Prometheus text exposition format 0.0.4.
  std::string expose() const;
  // Cells (one per series and recording thread) held by every thread, for tests of release.
  std::size_t cells_for_test() const;

 private:
  friend class Family;
  friend class Series;
  struct Shard;
  struct Collector;
  Family& family(std::string name, std::string help, Kind kind, std::vector<std::string> labels);
  Shard& local_shard();
  // On a shard's own thread: frees the cells of series retired since it last looked.
  void sweep(Shard& shard);
  struct Retired {
    std::uint32_t family, id;
    std::uint64_t epoch;
  };

  mutable core::Mutex mu_;  // guards families_, shards_, collectors_ (never on the hot path)
  std::vector<std::unique_ptr<Family>> families_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Shard>> shards_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Collector>> collectors_ GUARDED_BY(mu_);
  std::vector<Retired> retired_ GUARDED_BY(mu_);  // pruned once every shard swept
  std::atomic<std::uint64_t> epoch_{0};           // bumped by each retirement
  const std::uint64_t id_;
};

}  // namespace tenx::metrics
