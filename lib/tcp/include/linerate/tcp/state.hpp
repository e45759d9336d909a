// TCP connection states (RFC 9293 §3.3.2), in the RFC's order and with its spelling,
// and a small set type so that predicates read like the RFC:
// `in(fin_wait_1 | closing | last_ack)`.
#pragma once

#include <cstdint>
#include <string_view>

namespace linerate::tcp {

enum class state : std::uint8_t {
    closed,
    listen,
    syn_sent,
    syn_received,
    established,
    fin_wait_1,
    fin_wait_2,
    close_wait,
    closing,
    last_ack,
    time_wait,
};
inline constexpr std::size_t state_count = 11;

[[nodiscard]] constexpr std::string_view to_string(state s) noexcept {
    constexpr std::string_view names[state_count] = {
        "CLOSED",     "LISTEN",     "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
        "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",  "LAST-ACK",     "TIME-WAIT",
    };
    const auto i = static_cast<std::size_t>(s);
    return i < state_count ? names[i] : std::string_view{"?"};
}

class state_set {
public:
    constexpr state_set() noexcept = default;
    constexpr state_set(state s) noexcept : bits_(bit(s)) {} // NOLINT: implicit on purpose

    [[nodiscard]] constexpr bool contains(state s) const noexcept { return (bits_ & bit(s)) != 0; }
    friend constexpr state_set operator|(state_set a, state_set b) noexcept { return state_set(a.bits_ | b.bits_); }
    friend constexpr bool operator==(state_set, state_set) noexcept = default;

private:
    constexpr explicit state_set(std::uint16_t bits) noexcept : bits_(bits) {}
    static constexpr std::uint16_t bit(state s) noexcept {
        return static_cast<std::uint16_t>(1u << static_cast<unsigned>(s));
    }
    std::uint16_t bits_ = 0;
};

[[nodiscard]] constexpr state_set operator|(state a, state b) noexcept { return state_set(a) | state_set(b); }

// RFC 9293 §3.3.2: the states after the handshake completes, in which sequence
// numbers of both sides are known ("synchronized states", §3.5.2 case 3).
inline constexpr state_set synchronized_states = state::established | state::fin_wait_1 | state::fin_wait_2 |
                                                 state::close_wait | state::closing | state::last_ack |
                                                 state::time_wait;

} // namespace linerate::tcp
