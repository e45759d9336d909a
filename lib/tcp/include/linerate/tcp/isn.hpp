// Initial sequence numbers: RFC 6528, as RFC 9293 §3.4.1 requires (MUST-8: a clock-driven
// ISN; MUST-9: RFC 6528's keyed-hash construction).
//
//   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a timer ticking every 4 microseconds (RFC 6528 §3, RFC 9293 §3.4.1), so a new
// incarnation of the same four-tuple starts above the old one's sequence space, and F is
// a keyed pseudorandom function, so an off-path attacker cannot predict another
// connection's ISN (the attacks of RFC 6528 §1). F is SipHash-2-4 (libsodium's
// crypto_shorthash), as Linux uses SipHash for secure_tcp_seq().
//
// The core never reads a clock: the caller passes `now_us`, microseconds from any
// monotonic origin. M is now_us / 4 taken modulo 2^32, so it wraps about every 4.77 hours,
// as the RFC 793 clock did.
//
// The secret is drawn once per generator (one per process or per shard); a fixed key can
// be given instead so that tests and captures are reproducible.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/base/seq32.hpp>

#include <array>
#include <cstdint>
#include <span>

namespace linerate::tcp {

class isn_generator {
public:
    static constexpr std::size_t key_size = 16; // crypto_shorthash_KEYBYTES

    // Random secret key (libsodium's randombytes_buf). Throws std::runtime_error if
    // libsodium cannot initialise, because then no secret can be trusted; this runs once
    // at start, never on the per-packet path.
    isn_generator();
    // Fixed secret key, for reproducible tests and captures. Never use a published key on
    // a real network: RFC 6528 §3 requires the secret to be unknown to attackers.
    explicit isn_generator(std::span<const std::uint8_t, key_size> key) noexcept;

    // RFC 6528 §3: ISN = M + F(...). `now_us` is microseconds from any monotonic origin.
    [[nodiscard]] seq32 generate(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                 std::uint16_t remote_port, std::uint64_t now_us) const noexcept;

    // F alone (the M = 0 part), exposed for tests: the low 32 bits of SipHash-2-4 of the
    // 12-byte tuple laid out as described in isn.cpp.
    [[nodiscard]] std::uint32_t offset(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                       std::uint16_t remote_port) const noexcept;

    // RFC 7323 appendix A: the TSval offset of a pair of addresses, F over the two
    // addresses with the ports zeroed, spread over 32 bits. Per pair, as Linux's
    // secure_tcp_ts_off; see connection.cpp for why.
    [[nodiscard]] std::uint32_t ts_offset(ipv4_addr local_ip, ipv4_addr remote_ip) const noexcept {
        return offset(local_ip, 0, remote_ip, 0) * 0x9E3779B1u;
    }

private:
    std::array<std::uint8_t, key_size> key_{};
};

// The TSval offsets of recently seen address pairs, one cache per shard (so unshared and
// unlocked). A connection rate benchmark, or a busy server, opens connection after
// connection between the same few hundred pairs; the offset is a function of the pair
// and the key, so keeping it saves one SipHash per connection (about a sixth of the
// protocol core's work on a short connection) and changes no value. Direct-mapped,
// 256 entries (4 KiB): a miss only costs the hash that would have run anyway.
class ts_offset_cache {
public:
    [[nodiscard]] std::uint32_t get(const isn_generator &isn, ipv4_addr local_ip, ipv4_addr remote_ip) noexcept {
        const std::uint64_t key = (std::uint64_t{local_ip.value} << 32) | remote_ip.value;
        // Multiplicative hashing of both addresses; the top bits are the best mixed.
        entry &e = entries_[static_cast<std::uint32_t>((local_ip.value ^ (remote_ip.value * 0x9E3779B1u)) * 0x85EBCA6Bu) >>
                            (32 - index_bits)];
        if (e.key != key) {
            e.key = key;
            e.value = isn.ts_offset(local_ip, remote_ip);
        }
        return e.value;
    }

private:
    static constexpr unsigned index_bits = 8;
    struct entry {
        // 255.255.255.255 on both sides: no connection has it, so no pair hits a fresh entry.
        std::uint64_t key = ~std::uint64_t{0};
        std::uint32_t value = 0;
    };
    std::array<entry, std::size_t{1} << index_bits> entries_{};
};

} // namespace linerate::tcp
