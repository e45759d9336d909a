// Initial sequence numbers: RFC 6528, as RFC 9293 §3.4.1 requires (MUST-8: a clock-driven
// ISN; MUST-9: RFC 6528's keyed-hash construction).
//
//   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a timer ticking every 4 microseconds (RFC 6528 §3, RFC 9293 §3.4.1), so a new
// incarnation of the same four-tuple starts above the old one's sequence space, and F is
// a keyed pseudorandom function, so an off-path attacker cannot predict another
// connection's ISN (the attacks of RFC 6528 §1). RFC 6528 §3 asks for a PRF and names MD5
// only as an example; any keyed PRF will do. linerate's F is one of two:
//   - AES-128 (FIPS 197) with AES-NI, where the CPU has it: one block, a few dozen
//     instructions once the key is expanded (at construction), where SipHash-2-4 costs
//     about 170 more (perf/instructions). Its ten rounds are one dependent chain, so a
//     lone call's latency gains less than its throughput (perf/micro isn/*). A block
//     cipher under a secret key is a PRP, which is a PRF for all purposes here (the
//     birthday bound is 2^64 blocks).
//   - SipHash-2-4 (libsodium's crypto_shorthash), as Linux uses for secure_tcp_seq(),
//     where the CPU lacks AES-NI (an old or emulated x86, or another architecture).
// The same F gives the TSval offset (ts_offset below).
//
// Reproducibility: under a fixed key, F is a function of the key and the tuple for a
// given PRF, on every machine and build. The two PRFs give different values, so a
// generator that picks the PRF itself (isn_prf::automatic) gives one sequence of ISNs on a
// machine with AES-NI and another without. Whatever must be identical across machines (a
// recorded capture, a golden value) pins the PRF: isn_prf::siphash is available everywhere.
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

// AES-128 encryption of single blocks with AES-NI (FIPS 197), the round keys expanded
// once at construction. Only where available() is true: the instructions fault elsewhere.
class aes128_block {
public:
    static constexpr std::size_t key_size = 16;
    static constexpr std::size_t block_size = 16;

    // Whether this CPU has AES-NI (CPUID, read once); always false off x86.
    [[nodiscard]] static bool available() noexcept;

    aes128_block() noexcept = default; // a zero key schedule, to be assigned over
    // Precondition: available().
    explicit aes128_block(std::span<const std::uint8_t, key_size> key) noexcept;

    // Precondition: available() and a key was given.
    void encrypt(const std::uint8_t *in, std::uint8_t *out) const noexcept;

    // FIPS 197 §5.2's expanded key, round 0 first.
    [[nodiscard]] const std::uint8_t *round_keys() const noexcept { return round_keys_.data(); }

private:
    // FIPS 197 §5.2: Nr + 1 = 11 round keys of 16 bytes, aligned for 16-byte loads.
    alignas(16) std::array<std::uint8_t, 11 * block_size> round_keys_{};
};

// Which keyed PRF an isn_generator uses as F (see the top of this file).
enum class isn_prf : std::uint8_t {
    automatic, // aes128 where the CPU has AES-NI, siphash otherwise
    aes128,    // taken as siphash where the CPU lacks AES-NI (prf() says which ran)
    siphash,
};

class isn_generator {
public:
    static constexpr std::size_t key_size = 16; // AES-128's and crypto_shorthash_KEYBYTES

    // Random secret key (libsodium's randombytes_buf), PRF chosen by the CPU. Throws
    // std::runtime_error if libsodium cannot initialise, because then no secret can be
    // trusted; this runs once at start, never on the per-packet path.
    isn_generator();
    // Fixed secret key, for reproducible tests and captures. Never use a published key on
    // a real network: RFC 6528 §3 requires the secret to be unknown to attackers. The
    // values repeat across machines only with a pinned PRF (see the top of this file).
    explicit isn_generator(std::span<const std::uint8_t, key_size> key,
                           isn_prf prf = isn_prf::automatic) noexcept;

    // The PRF in use: aes128 or siphash, never automatic.
    [[nodiscard]] isn_prf prf() const noexcept { return prf_; }

    // RFC 6528 §3: ISN = M + F(...). `now_us` is microseconds from any monotonic origin.
    [[nodiscard]] seq32 generate(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                 std::uint16_t remote_port, std::uint64_t now_us) const noexcept;

    // F alone (the M = 0 part), exposed for tests: 32 bits of the PRF's output for the
    // 12-byte tuple laid out as described in isn.cpp.
    [[nodiscard]] std::uint32_t offset(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                       std::uint16_t remote_port) const noexcept;

    // F over the tuple and a 32-bit word: the 16-byte message is offset()'s 12 bytes
    // followed by `word` in network order (for AES the block offset() pads with zeros,
    // so word 0 gives offset()'s value). Other uses of the key (SYN cookies, which set
    // one of the word's top two bits) keep to words offset() never takes.
    [[nodiscard]] std::uint32_t prf(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                    std::uint16_t remote_port, std::uint32_t word) const noexcept;

    // RFC 7323 appendix A: the TSval offset of a pair of addresses, F over the two
    // addresses with the ports zeroed, spread over 32 bits. Per pair, as Linux's
    // secure_tcp_ts_off; see connection.cpp for why.
    [[nodiscard]] std::uint32_t ts_offset(ipv4_addr local_ip, ipv4_addr remote_ip) const noexcept {
        return offset(local_ip, 0, remote_ip, 0) * 0x9E3779B1u;
    }

private:
    aes128_block aes_{}; // expanded once, used when prf_ is aes128
    std::array<std::uint8_t, key_size> key_{};
    isn_prf prf_ = isn_prf::siphash;
};

// The TSval offsets of recently seen address pairs, one cache per shard (so unshared and
// unlocked). A connection rate benchmark, or a busy server, opens connection after
// connection between the same few hundred pairs; the offset is a function of the pair
// and the key, so keeping it saves one PRF call per connection (with SipHash about a sixth
// of the protocol core's work on a short connection, with AES-NI far less) and changes no
// value. Direct-mapped, 256 entries (4 KiB): a miss only costs the PRF call that would
// have run anyway.
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
