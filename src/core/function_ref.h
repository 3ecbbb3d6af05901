#pragma once
// FunctionRef<R(Args...)>: a non-owning reference to a callable, for callbacks run before the
// call that takes them returns (a visitor run under a lock, say). Two pointers, no allocation;
// the callable must outlive the call, so never store one.
#include <memory>
#include <type_traits>
#include <utility>

namespace tenx::core {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
                                          std::is_invocable_r_v<R, F&, Args...>,
                                      int> = 0>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): as std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace tenx::core
