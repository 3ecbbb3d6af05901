#pragma once
// IoBuffer: one contiguous byte buffer per connection, reused for every message on it.
// Readable bytes are [data(), data()+size()); reads land in writable(). Consumed bytes are
// reclaimed by moving the unread tail to the front only when space runs out, so a steady
// request/response exchange never allocates. Not thread-safe.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace tenx::http {

class IoBuffer {
 public:
  explicit IoBuffer(std::size_t capacity = 16 * 1024)
      : data_(std::make_unique<char[]>(capacity)), capacity_(capacity) {}

  std::string_view readable() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Makes at least `n` bytes writable (compacting, then growing up to max_capacity).
  // Returns false if that would exceed max_capacity.
  bool reserve(std::size_t n, std::size_t max_capacity) {
    if (capacity_ - end_ >= n) return true;
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (capacity_ - end_ >= n) return true;
    }
    std::size_t want = capacity_ * 2;
    while (want - end_ < n) want *= 2;
    if (want > max_capacity) {
      if (max_capacity - end_ < n) return false;
      want = max_capacity;
    }
    auto bigger = std::make_unique<char[]>(want);
    std::memcpy(bigger.get(), data_.get(), end_);
    data_ = std::move(bigger);
    capacity_ = want;
    return true;
  }
  char* write_ptr() { return data_.get() + end_; }
  std::size_t writable() const { return capacity_ - end_; }
  void commit(std::size_t n) { end_ += n; }
  void clear() { begin_ = end_ = 0; }
  std::size_t capacity() const { return capacity_; }

  // Parking: an empty buffer hands its storage back (an idle keep-alive connection keeps
  // none) and takes one again before its next read. Only for an empty buffer.
  std::unique_ptr<char[]> release(std::size_t& capacity) {
    capacity = capacity_;
    capacity_ = 0;
    begin_ = end_ = 0;
    return std::move(data_);
  }
  void adopt(std::unique_ptr<char[]> storage, std::size_t capacity) {
    data_ = std::move(storage);
    capacity_ = capacity;
    begin_ = end_ = 0;
  }
  bool parked() const { return !data_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace tenx::http
