#pragma once
// Benchmarks only: the rival MemoryStore is measured against, a plain LRU bounded by the same
// bytes with the same per-entry charge (MemoryStore::charge) and one mutex, as a C++ user would
// write it (std::list + std::unordered_map; the guide's "TTL + LRU" with maxmemory-policy
// allkeys-lru in process).
#include "cache/stores/memory_store.h"

#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tenx::cache::testing {

class LruBaseline {
 public:
  explicit LruBaseline(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

  EntryPtr lookup(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->entry;
  }

  // As MemoryStore::read: fn sees the entry under the lock, no reference taken.
  template <class Fn>
  bool read(const std::string& key, Fn&& fn) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    fn(*it->second->entry);
    return true;
  }

  void insert(const std::string& key, EntryPtr entry) {
    std::lock_guard lock(mu_);
    const std::size_t cost = MemoryStore::charge(key, *entry);
    if (cost > capacity_) return;
    if (auto it = index_.find(key); it != index_.end()) {
      bytes_ -= it->second->charge;
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.push_front(Item{key, std::move(entry), cost});
    index_.emplace(key, order_.begin());
    bytes_ += cost;
    while (bytes_ > capacity_) {
      auto& last = order_.back();
      bytes_ -= last.charge;
      index_.erase(last.key);
      order_.pop_back();
    }
  }

  std::size_t bytes() const { return bytes_; }

 private:
  struct Item {
    std::string key;
    EntryPtr entry;
    std::size_t charge;
  };
  const std::size_t capacity_;
  std::mutex mu_;
  std::list<Item> order_;
  std::unordered_map<std::string, std::list<Item>::iterator> index_;
  std::size_t bytes_ = 0;
};

}  // namespace tenx::cache::testing
