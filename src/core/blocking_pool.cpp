#include "core/blocking_pool.h"
#include "core/thread_annotations.h"

namespace tenx::core {

BlockingPool::BlockingPool(std::size_t threads, std::size_t max_queue) : max_queue_(max_queue) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
}

BlockingPool::~BlockingPool() {
  {
    core::MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool BlockingPool::submit(UniqueFunction job) {
  {
    core::MutexLock lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

std::size_t BlockingPool::queued() const {
  core::MutexLock lock(mu_);
  return queue_.size();
}

void BlockingPool::worker() {
  for (;;) {
    UniqueFunction job;
    {
      core::MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(mu_);
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace tenx::core
