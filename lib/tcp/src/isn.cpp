// Initial sequence numbers, RFC 6528 §3 (see isn.hpp for the construction).
#include <linerate/tcp/isn.hpp>

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

namespace linerate::tcp {

static_assert(isn_generator::key_size == crypto_shorthash_KEYBYTES);
static_assert(crypto_shorthash_BYTES == 8, "F takes the low 32 bits of a 64-bit SipHash");

namespace {

// sodium_init() is thread-safe and idempotent; a function-local static makes the check
// happen once per process. It returns 0 on first success, 1 if already initialised, -1 on
// failure.
bool sodium_ready() noexcept {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

} // namespace

isn_generator::isn_generator() {
    if (!sodium_ready()) throw std::runtime_error("isn_generator: libsodium failed to initialise (sodium_init)");
    randombytes_buf(key_.data(), key_.size());
}

isn_generator::isn_generator(std::span<const std::uint8_t, key_size> key) noexcept {
    // crypto_shorthash needs no initialisation; only randombytes does.
    std::copy(key.begin(), key.end(), key_.begin());
}

std::uint32_t isn_generator::offset(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                    std::uint16_t remote_port) const noexcept {
    // The hashed message is the tuple in network byte order, 12 bytes, in RFC 6528's
    // argument order: local IP (4), local port (2), remote IP (4), remote port (2). A fixed
    // layout keeps ISNs reproducible across builds and hosts for a given key; network
    // order is what a capture shows, so a golden value can be recomputed from one.
    const std::array<std::uint8_t, 12> msg{
        static_cast<std::uint8_t>(local_ip.value >> 24),  static_cast<std::uint8_t>(local_ip.value >> 16),
        static_cast<std::uint8_t>(local_ip.value >> 8),   static_cast<std::uint8_t>(local_ip.value),
        static_cast<std::uint8_t>(local_port >> 8),       static_cast<std::uint8_t>(local_port),
        static_cast<std::uint8_t>(remote_ip.value >> 24), static_cast<std::uint8_t>(remote_ip.value >> 16),
        static_cast<std::uint8_t>(remote_ip.value >> 8),  static_cast<std::uint8_t>(remote_ip.value),
        static_cast<std::uint8_t>(remote_port >> 8),      static_cast<std::uint8_t>(remote_port),
    };
    std::array<std::uint8_t, crypto_shorthash_BYTES> out{};
    // Cannot fail: crypto_shorthash always returns 0.
    (void)crypto_shorthash(out.data(), msg.data(), msg.size(), key_.data());
    // SipHash's 64-bit result is serialised little-endian (SipHash paper §2); its low 32
    // bits are the first four bytes.
    return std::uint32_t{out[0]} | (std::uint32_t{out[1]} << 8) | (std::uint32_t{out[2]} << 16) |
           (std::uint32_t{out[3]} << 24);
}

seq32 isn_generator::generate(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                              std::uint16_t remote_port, std::uint64_t now_us) const noexcept {
    // RFC 6528 §3 / RFC 9293 §3.4.1: M ticks every 4 microseconds, modulo 2^32.
    const auto m = static_cast<std::uint32_t>(now_us / 4);
    return seq32{m} + offset(local_ip, local_port, remote_ip, remote_port);
}

} // namespace linerate::tcp
