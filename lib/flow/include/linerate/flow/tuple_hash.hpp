// The keyed hash of a 4-tuple, shared by the structures a shard looks 4-tuples up in
// (the connection table and the TIME-WAIT log's index): the shard hashes each arriving
// segment's 4-tuple once and both use that value.
//
// Keyed by a per-shard random seed. A peer chooses its address and port, and with an
// unkeyed hash it could pick 4-tuples that all land in one cluster and make every
// lookup walk it (hash flooding). The mixing is two 64x64->128-bit multiplies folded
// with xor (as wyhash does), a few cycles: it runs for every packet, where SipHash
// would cost too much. It is not a cryptographic PRF; it only has to keep an attacker
// who never sees a hash value from aiming at a slot.
#pragma once

#include <linerate/tcp/segment.hpp>

#include <cstdint>

namespace linerate::flow {

namespace detail {
__extension__ using u128 = unsigned __int128;

// 64x64 -> 128-bit multiply folded to 64 bits: every input bit reaches every output bit.
[[nodiscard]] inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
    const u128 p = static_cast<u128>(a) * b;
    return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}

// The 12 key bytes as two words: the addresses, and the ports in the upper half of the
// second word (the table keeps its ref in the lower half).
[[nodiscard]] constexpr std::uint64_t key_addrs(const tcp::four_tuple &t) noexcept {
    return (std::uint64_t{t.local_ip.value} << 32) | t.remote_ip.value;
}
[[nodiscard]] constexpr std::uint64_t key_ports(const tcp::four_tuple &t) noexcept {
    return (std::uint64_t{t.local_port} << 48) | (std::uint64_t{t.remote_port} << 32);
}
[[nodiscard]] constexpr tcp::four_tuple key_of(std::uint64_t addrs, std::uint64_t ports_ref) noexcept {
    return tcp::four_tuple{ipv4_addr{static_cast<std::uint32_t>(addrs >> 32)}, ipv4_addr{static_cast<std::uint32_t>(addrs)},
                           static_cast<std::uint16_t>(ports_ref >> 48), static_cast<std::uint16_t>(ports_ref >> 32)};
}

// splitmix64 (Steele, Lea, Flood 2014): spreads the one seed into independent hash keys.
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t &state) noexcept {
    std::uint64_t z = (state += 0x9e37'79b9'7f4a'7c15u);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9u;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebu;
    return z ^ (z >> 31);
}
} // namespace detail

class tuple_hash {
public:
    explicit tuple_hash(std::uint64_t seed) noexcept {
        std::uint64_t state = seed;
        for (auto &k : key_) k = detail::splitmix64(state);
    }

    // Two instances built from one seed give the same values.
    [[nodiscard]] std::uint64_t operator()(const tcp::four_tuple &t) const noexcept {
        const std::uint64_t h = detail::mum(detail::key_addrs(t) ^ key_[0], (detail::key_ports(t) >> 32) ^ key_[1]);
        return detail::mum(h ^ key_[2], key_[3]);
    }

private:
    std::uint64_t key_[4];
};

} // namespace linerate::flow
