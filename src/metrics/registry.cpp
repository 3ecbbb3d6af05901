#include "metrics/registry.h"
#include "core/thread_annotations.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace tenx::metrics {

namespace {
std::atomic<std::uint64_t> g_next_registry_id{1};

// Prometheus `le` boundaries for duration histograms, in seconds.
constexpr double kLe[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

std::uint64_t key_hash(std::uint32_t family, const std::string_view* v, std::size_t n) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ family;
  for (std::size_t i = 0; i < n; ++i) h = XXH3_64bits_withSeed(v[i].data(), v[i].size(), h + i);
  return h;
}

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v))
    out += "NaN";
  else if (std::isinf(v))
    out += v > 0 ? "+Inf" : "-Inf";
  else if (v == std::floor(v) && std::fabs(v) < 1e15)
    fmt::format_to(std::back_inserter(out), "{}", static_cast<long long>(v));
  else
    fmt::format_to(std::back_inserter(out), "{}", v);
}

// HELP text escapes backslash and newline (text format 0.0.4).
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::counter:
      return "counter";
    case Kind::gauge:
      return "gauge";
    case Kind::histogram:
      return "histogram";
  }
  return "untyped";
}
}  // namespace

struct Registry::Collector {
  std::string name, help;
  Kind kind;
  std::function<void(std::vector<Sample>&)> collect;
};

struct Cell {
  std::atomic<double> value{0};
  std::unique_ptr<Histogram> hist;
};

struct CacheEntry {
  std::uint32_t family;
  std::uint32_t id;
  std::vector<std::string> values;
};

struct Registry::Shard {
  core::Mutex mu;                       // owner takes it to add cells; the scraper to read them
  std::atomic<std::uint64_t> swept{0};  // the retirement epoch this shard has freed up to
  std::vector<std::vector<std::unique_ptr<Cell>>> cells;     // [family][series]
  std::unordered_multimap<std::uint64_t, CacheEntry> cache;  // owner thread only

  Cell& cell(const Family& f, std::uint32_t id, Kind kind) {
    const auto fi = f.index_;
    if (fi < cells.size() && id < cells[fi].size() && cells[fi][id]) [[likely]]
      return *cells[fi][id];
    core::MutexLock lock(mu);
    if (cells.size() <= fi) cells.resize(fi + 1);
    auto& row = cells[fi];
    if (row.size() <= id) row.resize(id + 1);
    if (!row[id]) {
      row[id] = std::make_unique<Cell>();
      if (kind == Kind::histogram) row[id]->hist = std::make_unique<Histogram>();
    }
    return *row[id];
  }
};

// ---- Series ----

void Series::inc(double v) const {
  auto& cell = family_->registry_.local_shard().cell(*family_, id_, family_->kind_);
  cell.value.store(cell.value.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

void Series::observe_ns(std::uint64_t ns) const {
  family_->registry_.local_shard().cell(*family_, id_, Kind::histogram).hist->record(ns);
}

void Series::observe_seconds(double s) const {
  observe_ns(s <= 0 ? 0 : static_cast<std::uint64_t>(s * 1e9));
}

double Series::value() const {
  double sum = 0;
  core::MutexLock reg_lock(family_->registry_.mu_);
  for (auto& shard : family_->registry_.shards_) {
    core::MutexLock lock(shard->mu);
    const auto fi = family_->index_;
    if (fi < shard->cells.size() && id_ < shard->cells[fi].size() && shard->cells[fi][id_])
      sum += shard->cells[fi][id_]->value.load(std::memory_order_relaxed);
  }
  return sum;
}

Histogram Series::histogram() const {
  Histogram out;
  core::MutexLock reg_lock(family_->registry_.mu_);
  for (auto& shard : family_->registry_.shards_) {
    core::MutexLock lock(shard->mu);
    const auto fi = family_->index_;
    if (fi < shard->cells.size() && id_ < shard->cells[fi].size() && shard->cells[fi][id_] &&
        shard->cells[fi][id_]->hist)
      shard->cells[fi][id_]->hist->merge_into(out);
  }
  return out;
}

// ---- Family ----

Family::Family(Registry& r, std::uint32_t index, std::string name, std::string help, Kind kind,
               std::vector<std::string> labels)
    : registry_(r),
      index_(index),
      name_(std::move(name)),
      help_(std::move(help)),
      kind_(kind),
      label_names_(std::move(labels)) {}

Series Family::series(std::initializer_list<std::string_view> values) {
  return lookup(values.begin(), values.size());
}

Series Family::series(const std::vector<std::string_view>& values) {
  return lookup(values.data(), values.size());
}

Series Family::lookup(const std::string_view* values, std::size_t n) {
  if (n != label_names_.size())
    throw std::invalid_argument(
        fmt::format("metric {}: {} label values for {} labels", name_, n, label_names_.size()));
  auto& shard = registry_.local_shard();
  const auto h = key_hash(index_, values, n);
  auto [lo, hi] = shard.cache.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    const auto& e = it->second;
    if (e.family != index_) continue;
    bool same = true;
    for (std::size_t i = 0; i < n && same; ++i) same = e.values[i] == values[i];
    if (same) return Series(this, e.id);
  }
  CacheEntry entry{index_, 0, {}};
  for (std::size_t i = 0; i < n; ++i) entry.values.emplace_back(values[i]);
  {
    core::MutexLock lock(mu_);
    std::uint32_t id = 0;
    for (; id < series_values_.size(); ++id)
      if (!retired_[id] && series_values_[id] == entry.values) break;
    if (id == series_values_.size()) {
      series_values_.push_back(entry.values);
      retired_.push_back(false);
    }
    entry.id = id;
  }
  const auto id = entry.id;
  shard.cache.emplace(h, std::move(entry));
  return Series(this, id);
}

std::size_t Family::retire_if(const std::function<bool(const std::vector<std::string>&)>& match) {
  std::vector<std::uint32_t> ids;
  {
    core::MutexLock lock(mu_);
    for (std::uint32_t id = 0; id < series_values_.size(); ++id) {
      if (retired_[id] || !match(series_values_[id])) continue;
      retired_[id] = true;
      series_values_[id].clear();
      series_values_[id].shrink_to_fit();
      ids.push_back(id);
    }
  }
  if (ids.empty()) return 0;
  core::MutexLock lock(registry_.mu_);
  const auto epoch = registry_.epoch_.load(std::memory_order_relaxed) + 1;
  for (const auto id : ids) registry_.retired_.push_back({index_, id, epoch});
  // Entries every shard has swept are done with.
  std::uint64_t all_swept = epoch;
  for (const auto& shard : registry_.shards_)
    all_swept = std::min(all_swept, shard->swept.load(std::memory_order_relaxed));
  std::erase_if(registry_.retired_, [&](const auto& r) { return r.epoch <= all_swept; });
  registry_.epoch_.store(epoch, std::memory_order_release);
  return ids.size();
}

// ---- Registry ----

Registry::Registry() : id_(g_next_registry_id.fetch_add(1)) {}
Registry::~Registry() = default;

Registry& Registry::global() {
  static Registry* r = new Registry();  // never destroyed: threads may record during exit
  return *r;
}

Registry::Shard& Registry::local_shard() {
  struct Slot {
    std::uint64_t registry;
    Shard* shard;
  };
  thread_local std::vector<Slot> slots;
  for (auto& s : slots)
    if (s.registry == id_) [[likely]] {
      if (s.shard->swept.load(std::memory_order_relaxed) != epoch_.load(std::memory_order_relaxed))
          [[unlikely]]
        sweep(*s.shard);
      return *s.shard;
    }
  auto shard = std::make_unique<Shard>();
  Shard* raw = shard.get();
  {
    core::MutexLock lock(mu_);
    raw->swept.store(epoch_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    shards_.push_back(std::move(shard));  // owned by the registry: outlives its thread
  }
  slots.push_back({id_, raw});
  return *raw;
}

void Registry::sweep(Shard& shard) {
  std::vector<Retired> to_free;  // retired since this shard last swept
  std::uint64_t now;
  {
    core::MutexLock lock(mu_);
    now = epoch_.load(std::memory_order_relaxed);
    const auto since = shard.swept.load(std::memory_order_relaxed);
    for (const auto& r : retired_)
      if (r.epoch > since) to_free.push_back(r);
  }
  {
    core::MutexLock lock(shard.mu);
    for (const auto& r : to_free)
      if (r.family < shard.cells.size() && r.id < shard.cells[r.family].size())
        shard.cells[r.family][r.id].reset();
    // Cached label values of retired series would keep their strings, and a stale lookup
    // would find a retired id: start over (each thread refills it on its next lookups).
    shard.cache.clear();
  }
  shard.swept.store(now, std::memory_order_relaxed);
}

std::size_t Registry::cells_for_test() const {
  std::size_t n = 0;
  core::MutexLock lock(mu_);
  for (const auto& shard : shards_) {
    core::MutexLock slock(shard->mu);
    for (const auto& row : shard->cells)
      for (const auto& c : row) n += c ? 1 : 0;
  }
  return n;
}

Family& Registry::family(std::string name, std::string help, Kind kind,
                         std::vector<std::string> labels) {
  core::MutexLock lock(mu_);
  for (auto& f : families_) {
    if (f->name_ != name) continue;
    if (f->kind_ != kind || f->label_names_ != labels)
      throw std::invalid_argument("metric " + name + " registered twice with different shapes");
    return *f;
  }
  families_.push_back(std::unique_ptr<Family>(
      new Family(*this, static_cast<std::uint32_t>(families_.size()), std::move(name),
                 std::move(help), kind, std::move(labels))));
  return *families_.back();
}

Family& Registry::counter(std::string name, std::string help, std::vector<std::string> labels) {
  return family(std::move(name), std::move(help), Kind::counter, std::move(labels));
}
Family& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
  return family(std::move(name), std::move(help), Kind::gauge, std::move(labels));
}
Family& Registry::histogram(std::string name, std::string help, std::vector<std::string> labels) {
  return family(std::move(name), std::move(help), Kind::histogram, std::move(labels));
}

void Registry::add_collector(std::string name, std::string help, Kind kind,
                             std::function<void(std::vector<Sample>&)> collect) {
  core::MutexLock lock(mu_);
  collectors_.push_back(std::make_unique<Collector>(
      Collector{std::move(name), std::move(help), kind, std::move(collect)}));
}

std::string Registry::expose() const {
  std::string out;
  out.reserve(16 * 1024);
  core::MutexLock lock(mu_);
  auto labels_of = [](const Family& f, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
    std::string s;
    if (values.empty() && extra_name.empty()) return s;
    s += '{';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) s += ',';
      s += f.label_names_[i];
      s += "=\"";
      append_escaped(s, values[i]);
      s += '"';
    }
    if (!extra_name.empty()) {
      if (!values.empty()) s += ',';
      s += extra_name;
      s += "=\"";
      s += extra_value;
      s += '"';
    }
    s += '}';
    return s;
  };

  for (const auto& fp : families_) {
    auto& f = *fp;
    std::vector<std::vector<std::string>> series;
    std::vector<bool> retired;
    {
      core::MutexLock flock(f.mu_);
      series = f.series_values_;
      retired = f.retired_;
    }
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name_,
                   escape_help(f.help_), f.name_, kind_name(f.kind_));
    for (std::uint32_t id = 0; id < series.size(); ++id) {
      if (retired[id]) continue;
      if (f.kind_ != Kind::histogram) {
        double sum = 0;
        for (auto& shard : shards_) {
          core::MutexLock slock(shard->mu);
          if (f.index_ < shard->cells.size() && id < shard->cells[f.index_].size() &&
              shard->cells[f.index_][id])
            sum += shard->cells[f.index_][id]->value.load(std::memory_order_relaxed);
        }
        out += f.name_;
        out += labels_of(f, series[id]);
        out += ' ';
        append_number(out, sum);
        out += '\n';
        continue;
      }
      Histogram h;
      for (auto& shard : shards_) {
        core::MutexLock slock(shard->mu);
        if (f.index_ < shard->cells.size() && id < shard->cells[f.index_].size() &&
            shard->cells[f.index_][id] && shard->cells[f.index_][id]->hist)
          shard->cells[f.index_][id]->hist->merge_into(h);
      }
      for (double le : kLe) {
        out += f.name_;
        out += "_bucket";
        out += labels_of(f, series[id], "le", fmt::format("{}", le));
        out += ' ';
        append_number(
            out, static_cast<double>(h.count_at_or_below(static_cast<std::uint64_t>(le * 1e9))));
        out += '\n';
      }
      out += f.name_;
      out += "_bucket";
      out += labels_of(f, series[id], "le", "+Inf");
      out += ' ';
      append_number(out, static_cast<double>(h.count()));
      out += '\n';
      out += f.name_;
      out += "_sum";
      out += labels_of(f, series[id]);
      out += ' ';
      append_number(out, static_cast<double>(h.sum_ns()) / 1e9);
      out += '\n';
      out += f.name_;
      out += "_count";
      out += labels_of(f, series[id]);
      out += ' ';
      append_number(out, static_cast<double>(h.count()));
      out += '\n';
    }
  }
  for (const auto& c : collectors_) {
    std::vector<Sample> samples;
    c->collect(samples);
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", c->name,
                   escape_help(c->help), c->name, kind_name(c->kind));
    for (const auto& s : samples) {
      out += s.name;
      if (!s.labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < s.labels.size(); ++i) {
          if (i) out += ',';
          out += s.labels[i].first;
          out += "=\"";
          append_escaped(out, s.labels[i].second);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      append_number(out, s.value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace tenx::metrics
