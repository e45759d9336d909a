// parse_result: what every wire parser returns, a view or the reason for a drop.
//
// Not std::expected (C++23) and not exceptions: the per-packet path must not throw, and
// the engine wants the reason as a small integer to index its counters. The view is held
// by value next to the reason, so a parse_result of a trivially copyable view is itself
// trivially copyable and is returned in registers or a small stack slot.
#pragma once

#include <cstdint>
#include <type_traits>

#include <linerate/wire/drop_reason.hpp>

namespace linerate::wire {

template <class View>
class parse_result {
    static_assert(std::is_default_constructible_v<View>, "an error result holds a value-initialised view");

public:
    // Implicit on purpose: a parser writes `return view;` or `return drop_reason::x;`.
    constexpr parse_result(View v) noexcept(std::is_nothrow_move_constructible_v<View>)
        : view_(static_cast<View &&>(v)) {}
    // Precondition: r != drop_reason::none (a success carries a view).
    constexpr parse_result(drop_reason r) noexcept : view_{}, error_(r) {}

    [[nodiscard]] constexpr bool ok() const noexcept { return error_ == drop_reason::none; }
    constexpr explicit operator bool() const noexcept { return ok(); }

    // Precondition: ok().
    [[nodiscard]] constexpr const View &operator*() const noexcept { return view_; }
    [[nodiscard]] constexpr const View *operator->() const noexcept { return &view_; }

    // drop_reason::none when ok().
    [[nodiscard]] constexpr drop_reason error() const noexcept { return error_; }

private:
    View view_;
    drop_reason error_ = drop_reason::none;
};

// Whether a parser verifies a checksum or trusts that the NIC already did (RX checksum
// offload reported the packet good). Never skip on a device that did not check it:
// RFC 9293 §3.1 MUST-3, the receiver MUST check the TCP checksum.
enum class checksum_mode : std::uint8_t { verify, skip };

} // namespace linerate::wire
