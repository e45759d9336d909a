// Receive-side scaling: the Toeplitz hash a NIC computes over a packet's addresses
// and ports, the redirection table (RETA) that turns the hash into a queue, and the
// choice of source ports for active opens so that replies come back to the opener.
//
// The design choice: one lcore owns a connection, so both directions of a flow must
// reach the same queue. A symmetric key does that for every tuple (see
// symmetric_rss_key). Where a device has no RSS, one lcore receives and dispatches
// in software with the very same hash and table (toeplitz, reta_map), so a flow's
// owner does not depend on who steers it. The hashing itself is DPDK's rte_thash,
// kept out of this header so that it compiles without <rte_*.h>; nothing here
// needs EAL.
#pragma once

#include <linerate/base/addr.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace linerate::device {

// 40 bytes of 0x6d, 0x5a repeated: with this key the Toeplitz hash of (a -> b)
// equals that of (b -> a) (Woo and Park, "Scalable TCP Session Monitoring with
// Symmetric Receive-side Scaling"), so both directions of a connection land on one
// queue. Why: the hash XORs, for each set input bit i, the 32-bit key window that
// starts at bit i. A key with a 16-bit period has the same window at i, i + 16 and
// i + 32, and swapping the two addresses moves bits by 32, swapping the ports by 16.
inline constexpr std::array<std::uint8_t, 40> symmetric_rss_key{
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

// The shortest key that can hash an IPv4/TCP 4-tuple: 12 bytes of input plus the
// 32-bit window that slides past its last bit.
inline constexpr std::size_t min_rss_key_size = 16;

// The 0x6d, 0x5a pattern repeated to `bytes` bytes, for devices whose key is not 40
// bytes long (it keeps the 16-bit period, so it stays symmetric).
[[nodiscard]] std::vector<std::uint8_t> make_symmetric_rss_key(std::size_t bytes);

// The Toeplitz hash in software, bit for bit what a NIC computes with the same key.
class toeplitz {
public:
    // Keeps the key converted for rte_softrss_be (rte_convert_rss_key). Throws
    // std::invalid_argument for a key shorter than min_rss_key_size; bytes beyond
    // the 40th reach no IPv4 tuple and are ignored.
    explicit toeplitz(std::span<const std::uint8_t> key = symmetric_rss_key);

    // The hash a NIC computes for an IPv4/TCP packet as it travels: source address,
    // destination address, source port, destination port (addresses host order).
    [[nodiscard]] std::uint32_t ipv4_tcp(ipv4_addr src, ipv4_addr dst, std::uint16_t sport,
                                         std::uint16_t dport) const noexcept;
    // The hash over the addresses only (IPv4 packets other than TCP, and fragments).
    [[nodiscard]] std::uint32_t ipv4(ipv4_addr src, ipv4_addr dst) const noexcept;

private:
    // The key's first 40 bytes as 32-bit words in CPU order, as rte_softrss_be
    // wants them; 40 bytes is what the longest tuple DPDK hashes (IPv6 with ports)
    // reads, so the array is the same whatever the key's length.
    std::array<std::uint32_t, 10> key_{};
};

// How a hash picks a queue: the redirection table (RETA) has reta_size entries (a
// power of two), entry i holds queue i % queues, and a NIC indexes it with the
// hash's low bits. Software dispatch uses the same function, so a flow's owner is
// the same whether the NIC or software steers it.
struct reta_map {
    unsigned reta_size = 128;
    unsigned queues = 1;

    // Requires reta_size a power of two and queues >= 1.
    [[nodiscard]] constexpr unsigned queue_of(std::uint32_t hash) const noexcept {
        return (hash & (reta_size - 1)) % queues;
    }

    friend constexpr bool operator==(const reta_map &, const reta_map &) noexcept = default;
};

// RSS-aware source port choice for active opens (as Seastar, F-Stack and mTCP do):
// the first port p, scanning from `start` upward through [lo, hi] and wrapping, such
// that the hash of the RETURN direction (remote:remote_port -> local:p, as the reply
// arrives) lands on `queue`, and is_free(p) holds. is_free is asked only about ports
// that land on the queue, and may take the port when it says yes (the engine opens
// the connection inside it, so that one table probe both checks and reserves). A `start` outside [lo, hi] scans from lo. nullopt when no
// port in the range qualifies (or lo > hi).
template <class IsFree>
    requires std::predicate<IsFree &, std::uint16_t>
[[nodiscard]] std::optional<std::uint16_t> choose_source_port(const toeplitz &h, const reta_map &m, unsigned queue,
                                                              ipv4_addr local, ipv4_addr remote,
                                                              std::uint16_t remote_port, std::uint16_t lo,
                                                              std::uint16_t hi, std::uint16_t start,
                                                              IsFree &&is_free) {
    if (lo > hi) return std::nullopt;
    const std::uint32_t count = std::uint32_t{hi} - lo + 1; // up to 65536
    std::uint32_t i = (start >= lo && start <= hi) ? std::uint32_t{start} - lo : 0;
    if (m.queues == 1) {
        // One queue takes every hash: the first free port is the answer, without a
        // Toeplitz hash per candidate (the usual case of a one-lcore client).
        for (std::uint32_t n = 0; n < count; ++n, i = i + 1 == count ? 0 : i + 1) {
            const auto p = static_cast<std::uint16_t>(lo + i);
            if (is_free(p)) return p;
        }
        return std::nullopt;
    }
    // Toeplitz is linear over GF(2): hash(x ^ y) == hash(x) ^ hash(y). Only the
    // local port changes from one candidate to the next, so hash the fixed part once
    // and each candidate as a tuple holding nothing but its port (16 input bits
    // instead of up to 96).
    const std::uint32_t fixed = h.ipv4_tcp(remote, local, remote_port, 0);
    for (std::uint32_t n = 0; n < count; ++n, i = i + 1 == count ? 0 : i + 1) {
        const auto p = static_cast<std::uint16_t>(lo + i);
        if (m.queue_of(fixed ^ h.ipv4_tcp(ipv4_addr{}, ipv4_addr{}, 0, p)) != queue) continue;
        if (is_free(p)) return p;
    }
    return std::nullopt;
}

} // namespace linerate::device
