// Result<T, E>: a value or the error that stopped us from producing it.
//
// Errors a peer or an administrator can cause travel as values (a ConfigError, a store Error, an
// LMTP Reply), never as exceptions. Result is the carrier: it holds exactly one of the two.
// Reading value() of an error (or error() of a value) is a bug and throws std::logic_error.
#pragma once

#include <stdexcept>
#include <utility>
#include <variant>

namespace cubby {

template <typename E>
struct Failure {
  E error;
};
template <typename E>
Failure<std::decay_t<E>> fail(E&& e) {
  return {std::forward<E>(e)};
}

// [[nodiscard]]: an error cannot be dropped by ignoring the whole Result (the build makes the
// warning an error).
template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Failure<E> f) : v_(std::in_place_index<1>, std::move(f.error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked<0>(); }
  const T& value() const& { return checked<0>(); }
  T&& value() && { return std::move(checked<0>()); }
  const E& error() const { return const_cast<Result*>(this)->template checked<1>(); }

  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  template <size_t I>
  auto& checked() {
    if (v_.index() != I) throw std::logic_error(I == 0 ? "Result: value() of an error" : "Result: error() of a value");
    return std::get<I>(v_);
  }
  std::variant<T, E> v_;
};

}  // namespace cubby
