#pragma once
// A move-only `void()` callable (std::move_only_function is C++23): lets a job own
// move-only state such as an Asio completion handler.
#include <memory>
#include <utility>

namespace tenx::core {

class UniqueFunction {
 public:
  UniqueFunction() = default;
  template <class F>
  UniqueFunction(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}  // NOLINT: implicit
  UniqueFunction(UniqueFunction&&) noexcept = default;
  UniqueFunction& operator=(UniqueFunction&&) noexcept = default;
  void operator()() { impl_->call(); }
  explicit operator bool() const { return impl_ != nullptr; }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F f) : f(std::move(f)) {}
    void call() override { f(); }
    F f;
  };
  std::unique_ptr<Base> impl_;
};

}  // namespace tenx::core
