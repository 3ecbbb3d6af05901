#pragma once
// Clang's thread-safety analysis (-Wthread-safety): state shared between threads says which
// mutex guards it, and the compiler checks every access. scripts/test.sh builds the tree once
// with clang 14 and -Werror=thread-safety (the `thread-safety` preset); GCC ignores the
// annotations.
//
//   core::Mutex mu_;
//   std::vector<int> items_ GUARDED_BY(mu_);
//   void add(int v) { core::MutexLock lock(mu_); items_.push_back(v); }
//   void add_locked(int v) REQUIRES(mu_);
//
// core::Mutex is std::mutex with the annotations libstdc++'s lacks; core::MutexLock its
// scoped lock. Waiting on a condition: std::condition_variable_any with the Mutex itself
// (`cv.wait(mu_, pred)` inside a MutexLock's scope). The analysis does not see through
// lambdas run later or through pointers: such code says what it holds with REQUIRES, or
// documents why it needs no lock.
#include <mutex>

#if defined(__clang__)
#define TENX_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TENX_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TENX_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TENX_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TENX_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TENX_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) TENX_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TENX_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TENX_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TENX_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) TENX_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define ACQUIRED_AFTER(...) TENX_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES_SHARED(...) TENX_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) TENX_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) TENX_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) TENX_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS TENX_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tenx::core {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace tenx::core
