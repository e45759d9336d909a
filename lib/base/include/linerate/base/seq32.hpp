// seq32: a 32-bit TCP sequence number with wrap-safe comparison and arithmetic.
//
// RFC 9293 §3.4: "all arithmetic dealing with sequence numbers must be performed
// modulo 2**32". The ordering is RFC 1982 serial-number arithmetic (§3.2) with
// SERIAL_BITS = 32: a < b when b is ahead of a by less than 2^31. Two numbers exactly
// 2^31 apart are unordered (neither is less), which RFC 1982 leaves undefined; we
// expose that honestly through std::partial_ordering instead of picking a side the
// way Linux's before()/after() do (where both a<b and b<a hold at that distance).
#pragma once

#include <compare>
#include <cstdint>

namespace linerate {

class seq32 {
public:
    constexpr seq32() noexcept = default;
    constexpr explicit seq32(std::uint32_t v) noexcept : v_(v) {}

    [[nodiscard]] constexpr std::uint32_t raw() const noexcept { return v_; }

    // Adding a byte count moves forward modulo 2^32 (RFC 9293 §3.4).
    constexpr seq32 &operator+=(std::uint32_t n) noexcept { v_ += n; return *this; }
    constexpr seq32 &operator-=(std::uint32_t n) noexcept { v_ -= n; return *this; }
    friend constexpr seq32 operator+(seq32 s, std::uint32_t n) noexcept { return s += n; }
    friend constexpr seq32 operator-(seq32 s, std::uint32_t n) noexcept { return s -= n; }

    // Signed distance from b to a (a - b), meaningful while |a - b| < 2^31.
    friend constexpr std::int32_t operator-(seq32 a, seq32 b) noexcept {
        return static_cast<std::int32_t>(a.v_ - b.v_);
    }

    friend constexpr bool operator==(seq32 a, seq32 b) noexcept = default;

    // RFC 1982 §3.2: a < b iff (b - a) mod 2^32 is in (0, 2^31).
    friend constexpr std::partial_ordering operator<=>(seq32 a, seq32 b) noexcept {
        const std::uint32_t ahead = b.v_ - a.v_;
        if (ahead == 0) return std::partial_ordering::equivalent;
        if (ahead < 0x8000'0000u) return std::partial_ordering::less;
        if (ahead > 0x8000'0000u) return std::partial_ordering::greater;
        return std::partial_ordering::unordered;
    }

private:
    std::uint32_t v_ = 0;
};

// RFC 9293 §3.4 range tests, written the way the RFC writes them.
// lo <= s < hi
[[nodiscard]] constexpr bool seq_in_window(seq32 s, seq32 lo, seq32 hi) noexcept {
    // Distances from lo avoid the partial-order corner: the window is at most 2^31 wide.
    return static_cast<std::uint32_t>(s - lo) < static_cast<std::uint32_t>(hi - lo);
}

[[nodiscard]] constexpr seq32 seq_max(seq32 a, seq32 b) noexcept { return (a < b) ? b : a; }
[[nodiscard]] constexpr seq32 seq_min(seq32 a, seq32 b) noexcept { return (b < a) ? b : a; }

} // namespace linerate
