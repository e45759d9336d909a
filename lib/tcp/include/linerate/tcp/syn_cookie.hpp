// SYN cookies (RFC 4987 §3.6): a listener whose SYN queue is full answers a SYN with a
// SYN-ACK whose sequence number encodes what it would have kept, and keeps nothing; the
// ACK that completes the handshake gives the number back (SEG.ACK - 1), and a valid one
// creates the connection there and then. A flood of spoofed SYNs then fills no queue.
//
// The encoding is Linux's (net/ipv4/syncookies.c), so that what its users know of it
// holds here:
//
//   ISS = H(tuple, SEG.SEQ) + SEG.SEQ + (count << 24) + ((H(tuple, count) + mss_index) mod 2^24)
//
// where H is a keyed PRF (isn_generator::prf, the same secret as the RFC 6528 ISNs,
// kept apart by the word it hashes; Linux's first term hashes the tuple alone, see
// syn_cookie.cpp for why the peer's ISN is hashed here), count a coarse clock (periods of 2^26 µs, 67 s,
// where Linux counts minutes: a shift rather than a division) and mss_index the entry
// of a four-entry MSS table. A cookie is valid for the period it was made in and the
// next one (Linux's MAX_SYNCOOKIE_AGE of 2), and a forgery passes with probability
// 4 / 2^24 for a given period. What the 32 bits cannot hold (window scale, SACK) goes
// into the low 6 bits of the SYN-ACK's TSval, which the ACK echoes in TSecr; without
// timestamps the SYN-ACK offers neither (Linux's tcp_clear_options for that case) and
// the connection runs without them.
//
// No DPDK and no state: the shard calls this on the slow path of a listener under
// pressure.
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/tcp/isn.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/tcp/settings.hpp>

#include <array>
#include <cstdint>
#include <optional>

namespace linerate::tcp {

// What a valid cookie ACK restores of the SYN it answers.
struct cookie_options {
    std::uint16_t mss = 0;                      // from the table
    std::optional<std::uint8_t> window_scale{}; // the peer's shift, when both sides scale
    bool sack_permitted = false;
    bool timestamps = false; // the ACK carried them, so the SYN did
};

class syn_cookie_codec {
public:
    // Linux's msstab for IPv4: the MSS of the common paths (the IPv4 minimum, tunnels
    // and PPPoE, Ethernet). A peer is given the largest entry not above its MSS; below
    // 536 it gets 536, which RFC 1122 §3.3.2 has every IPv4 host accept (EMTU_R >= 576).
    static constexpr std::array<std::uint16_t, 4> mss_table{536, 1300, 1440, 1460};
    static constexpr unsigned period_shift = 26;      // 2^26 µs = 67.1 s per count
    static constexpr unsigned count_bits = 8;         // the count's low bits, in the cookie's top byte
    static constexpr unsigned data_bits = 32 - count_bits;
    static constexpr std::uint32_t data_mask = (std::uint32_t{1} << data_bits) - 1;
    static constexpr std::uint32_t max_age = 2; // periods: the one it was made in and the next

    // The TSval's low bits (Linux's TSBITS and cookie_init_timestamp's layout): window
    // scale in bits 0-3 (15: none), SACK-permitted in bit 4, ECN in bit 5 (never set:
    // linerate does not negotiate ECN).
    static constexpr unsigned ts_bits = 6;
    static constexpr std::uint32_t ts_mask = (std::uint32_t{1} << ts_bits) - 1;
    static constexpr std::uint32_t ts_no_wscale = 0xf;
    static constexpr std::uint32_t ts_sack = 1u << 4;
    static constexpr std::uint32_t ts_ecn = 1u << 5;

    explicit syn_cookie_codec(const isn_generator &prf) noexcept : prf_(prf) {}

    // The coarse clock of a time in µs (any monotonic origin, as isn_generator's).
    [[nodiscard]] static std::uint32_t count_at(std::uint64_t now_us) noexcept {
        return static_cast<std::uint32_t>(now_us >> period_shift);
    }
    // The table entry for a peer's MSS (RFC 9293 §3.7.1 MUST-15: 536 without the option).
    [[nodiscard]] static std::uint8_t mss_index(std::uint16_t peer_mss) noexcept;

    // The ISS of a cookie SYN-ACK for the SYN `peer_isn` (SEG.SEQ) on tuple t.
    [[nodiscard]] seq32 encode(const four_tuple &t, seq32 peer_isn, std::uint8_t mss_index,
                               std::uint32_t count) const noexcept;
    // The MSS a cookie encodes, if it is one this codec made for t and peer_isn in the
    // period of `count` or the one before; nullopt for anything else.
    [[nodiscard]] std::optional<std::uint16_t> decode(const four_tuple &t, seq32 peer_isn, seq32 cookie,
                                                      std::uint32_t count) const noexcept;

    // The cookie SYN-ACK's TSval: `tsval` (what the connection would send now) with its
    // low bits replaced by the options, and never above tsval, so that the peer sees no
    // TSval from the future and the connection's later ones are never older.
    [[nodiscard]] static std::uint32_t ts_encode(std::uint32_t tsval, std::optional<std::uint8_t> peer_wscale,
                                                 bool sack_permitted) noexcept;
    // The options an ACK's TSecr gives back; nullopt when they are not a valid encoding
    // (a window scale field of 15 is none, 0-14 a shift, anything else a forgery).
    [[nodiscard]] static std::optional<cookie_options> ts_decode(std::uint32_t tsecr) noexcept;

private:
    // H of Linux's cookie_hash: `which` 0 is the term of the peer's ISN, 1 the counted one.
    [[nodiscard]] std::uint32_t hash(const four_tuple &t, std::uint32_t which, std::uint32_t value) const noexcept;

    const isn_generator &prf_;
};

} // namespace linerate::tcp
