/// @file
/// The small value types of linerate's public API: connection handles, addresses,
/// close reasons, timer handles and the error the stack throws.
///
/// Like every public header, it includes standard headers only, so that a program
/// that embeds linerate needs nothing but `pkg-config --cflags --libs linerate` (no
/// DPDK, no toml++, no fmt on its include path).
#pragma once

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace linerate {

/// A connection, as the lcore that owns it names it.
///
/// Valid from the callback that announces it (handler::on_accepted, or the return of
/// lcore_context::connect) until handler::on_closed returns; afterwards the same value
/// may name a new connection. It means nothing on another lcore.
struct conn {
    /// The connection's index in its lcore's connection pool.
    std::uint32_t id = ~std::uint32_t{0};

    /// True unless default-constructed (the "no connection" value).
    [[nodiscard]] constexpr bool valid() const noexcept { return id != ~std::uint32_t{0}; }
    /// Same connection (on the same lcore).
    friend constexpr bool operator==(conn, conn) noexcept = default;
};

/// Why a connection ended; handed to handler::on_closed.
enum class close_reason : std::uint8_t {
    normal,  ///< Both sides closed (FINs exchanged and acknowledged).
    reset,   ///< The peer reset an established connection.
    refused, ///< The peer answered our SYN with a reset (nobody listening there).
    timeout, ///< Retransmissions ran out (SYN, data, FIN or keepalive went unanswered).
    aborted, ///< This side aborted it: lcore_context::abort, or the stack stopping.
};

/// The name of a close reason: "normal", "reset", "refused", "timeout" or "aborted".
[[nodiscard]] constexpr std::string_view to_string(close_reason r) noexcept {
    switch (r) {
    case close_reason::normal: return "normal";
    case close_reason::reset: return "reset";
    case close_reason::refused: return "refused";
    case close_reason::timeout: return "timeout";
    case close_reason::aborted: return "aborted";
    }
    return "unknown";
}

/// An IPv4 address in host byte order (198.18.0.1 is 0xc6120001).
struct ipv4_address {
    /// The address, most significant octet first.
    std::uint32_t value = 0;

    /// From four octets: `from_octets(198, 18, 0, 1)`.
    [[nodiscard]] static constexpr ipv4_address from_octets(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                                            std::uint8_t d) noexcept {
        return ipv4_address{(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d};
    }

    /// A dotted quad of exactly four decimal octets ("198.18.0.1"); nullopt otherwise.
    [[nodiscard]] static constexpr std::optional<ipv4_address> parse(std::string_view text) noexcept {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            if (i > 0) {
                if (text.empty() || text.front() != '.') return std::nullopt;
                text.remove_prefix(1);
            }
            std::uint32_t octet = 0;
            std::size_t digits = 0;
            while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' && digits < 4) {
                octet = octet * 10 + static_cast<std::uint32_t>(text[digits] - '0');
                ++digits;
            }
            if (digits == 0 || digits > 3 || octet > 255) return std::nullopt;
            text.remove_prefix(digits);
            v = (v << 8) | octet;
        }
        if (!text.empty()) return std::nullopt;
        return ipv4_address{v};
    }

    /// The dotted quad.
    [[nodiscard]] std::string to_string() const {
        std::string s;
        for (int shift = 24; shift >= 0; shift -= 8) {
            char buf[4];
            const auto r = std::to_chars(buf, buf + sizeof buf, (value >> shift) & 0xffu);
            s.append(buf, r.ptr);
            if (shift > 0) s.push_back('.');
        }
        return s;
    }

    /// Ordered as unsigned integers.
    friend constexpr auto operator<=>(ipv4_address, ipv4_address) noexcept = default;
};

/// One end of a connection: address and TCP port.
struct endpoint {
    /// The IPv4 address.
    ipv4_address address{};
    /// The TCP port, host byte order.
    std::uint16_t port = 0;

    /// Same address and port.
    friend constexpr bool operator==(const endpoint &, const endpoint &) noexcept = default;
};

/// Why lcore_context::connect opened nothing.
enum class connect_error : std::uint8_t {
    none,        ///< It did not fail.
    no_route,    ///< No port's subnet holds the destination, and no port has a gateway.
    no_source,   ///< Every local port that steers back to this lcore is in use towards that destination.
    no_memory,   ///< This lcore's connection pool is full (see `[tcp] max_connections`).
    not_running, ///< Called outside the lcore's loop (before stack::run started it).
};

/// The name of a connect error: "none", "no_route", "no_source", "no_memory" or "not_running".
[[nodiscard]] constexpr std::string_view to_string(connect_error e) noexcept {
    switch (e) {
    case connect_error::none: return "none";
    case connect_error::no_route: return "no_route";
    case connect_error::no_source: return "no_source";
    case connect_error::no_memory: return "no_memory";
    case connect_error::not_running: return "not_running";
    }
    return "unknown";
}

/// What lcore_context::connect returns: the new connection, or why there is none.
struct connect_result {
    /// The connection (its SYN is on its way); not valid() when error is set.
    conn connection{};
    /// connect_error::none on success.
    connect_error error = connect_error::none;

    /// True when a connection was opened.
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return error == connect_error::none; }
};

/// An application timer armed with lcore_context::schedule, for lcore_context::cancel.
///
/// Holds a generation count, so cancelling a timer that already fired (and whose slot
/// now serves another timer) is a harmless no-op.
struct timer_id {
    /// The timer's slot in its lcore's timer pool.
    std::uint32_t slot = ~std::uint32_t{0};
    /// Which use of the slot this is.
    std::uint32_t generation = 0;

    /// False for the value schedule() returns when its pool is full.
    [[nodiscard]] constexpr bool valid() const noexcept { return slot != ~std::uint32_t{0}; }
    /// Same slot, same use.
    friend constexpr bool operator==(timer_id, timer_id) noexcept = default;
};

/// What kind of failure an error reports, so that a program can choose its exit status.
enum class error_kind : std::uint8_t {
    configuration, ///< The configuration file: what() is "FILE:LINE: message".
    device,        ///< EAL, a port or a pool could not be set up: what() names what failed.
    usage,         ///< A call the stack cannot honour (a listener table full, listen() while running, ...).
};

/// Thrown by stack's constructor and set-up calls. Never thrown on an lcore's loop.
class error : public std::runtime_error {
public:
    /// An error of the given kind with the given message.
    error(error_kind kind, const std::string &message);
    /// Defined in the library, so that its type information is one and the same in
    /// the library and in the program that catches it.
    ~error() override;

    /// What kind of failure it is.
    [[nodiscard]] error_kind kind() const noexcept { return kind_; }

private:
    error_kind kind_;
};

} // namespace linerate
