// Initial sequence numbers, RFC 6528 §3 (see isn.hpp for the construction and the choice
// of PRF).
//
// AES-128 is written with the AES-NI intrinsics rather than taken from a library: the
// instructions are the cipher, and what is left (the FIPS 197 §5.2 key expansion with
// AESKEYGENASSIST, eleven round-key XORs) is short enough to check against the FIPS 197
// appendix C.1 vector in a unit test. libsodium has no AES-128, and OpenSSL's or Nettle's
// would cost an indirect call and a context of their own for one block per connection.
#include <linerate/tcp/isn.hpp>

#include <sodium.h>

#include <linerate/base/byteorder.hpp>

#include <algorithm>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <wmmintrin.h>
#define LINERATE_HAVE_AESNI 1
#else
#define LINERATE_HAVE_AESNI 0
#endif

namespace linerate::tcp {

static_assert(isn_generator::key_size == crypto_shorthash_KEYBYTES);
static_assert(isn_generator::key_size == aes128_block::key_size);
static_assert(crypto_shorthash_BYTES == 8, "F takes the low 32 bits of a 64-bit SipHash");

namespace {

// sodium_init() is thread-safe and idempotent; a function-local static makes the check
// happen once per process. It returns 0 on first success, 1 if already initialised, -1 on
// failure.
bool sodium_ready() noexcept {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

#if LINERATE_HAVE_AESNI
// FIPS 197 §5.2, one round of the key expansion: `assist` is AESKEYGENASSIST of the
// previous round key (SubWord(RotWord(w3)) xor Rcon in its top word), and each word of
// the new key is the XOR of the previous key's words up to it with that.
__attribute__((target("aes"))) __m128i expand_round(__m128i key, __m128i assist) noexcept {
    assist = _mm_shuffle_epi32(assist, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

__attribute__((target("aes"))) void expand_key(const std::uint8_t *key, std::uint8_t *round_keys) noexcept {
    __m128i k[11];
    k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(key));
    // The round constants Rcon[1..10] of FIPS 197 §5.2; AESKEYGENASSIST takes an immediate.
    k[1] = expand_round(k[0], _mm_aeskeygenassist_si128(k[0], 0x01));
    k[2] = expand_round(k[1], _mm_aeskeygenassist_si128(k[1], 0x02));
    k[3] = expand_round(k[2], _mm_aeskeygenassist_si128(k[2], 0x04));
    k[4] = expand_round(k[3], _mm_aeskeygenassist_si128(k[3], 0x08));
    k[5] = expand_round(k[4], _mm_aeskeygenassist_si128(k[4], 0x10));
    k[6] = expand_round(k[5], _mm_aeskeygenassist_si128(k[5], 0x20));
    k[7] = expand_round(k[6], _mm_aeskeygenassist_si128(k[6], 0x40));
    k[8] = expand_round(k[7], _mm_aeskeygenassist_si128(k[7], 0x80));
    k[9] = expand_round(k[8], _mm_aeskeygenassist_si128(k[8], 0x1b));
    k[10] = expand_round(k[9], _mm_aeskeygenassist_si128(k[9], 0x36));
    for (int i = 0; i < 11; ++i) _mm_store_si128(reinterpret_cast<__m128i *>(round_keys + 16 * i), k[i]);
}

// FIPS 197 §5.1: AddRoundKey, nine full rounds, and the last round without MixColumns.
__attribute__((target("aes"))) inline __m128i encrypt_block(const std::uint8_t *round_keys, __m128i b) noexcept {
    const auto *rk = reinterpret_cast<const __m128i *>(round_keys);
    b = _mm_xor_si128(b, _mm_load_si128(rk));
    for (int i = 1; i < 10; ++i) b = _mm_aesenc_si128(b, _mm_load_si128(rk + i));
    return _mm_aesenclast_si128(b, _mm_load_si128(rk + 10));
}

// F with AES: the block is built in registers from the tuple (the layout of offset()'s
// message, as two little-endian 64-bit halves) and F read from the first four bytes of
// the result, so no byte goes through memory: building the block byte by byte and
// loading it whole stalls on store forwarding, which cost more than the cipher.
__attribute__((target("aes"))) std::uint32_t aes_f(const std::uint8_t *round_keys, ipv4_addr local_ip,
                                                   std::uint16_t local_port, ipv4_addr remote_ip,
                                                   std::uint16_t remote_port, std::uint32_t word = 0) noexcept {
    // Bytes 0-7: local IP, local port, the high half of the remote IP, in network order.
    const std::uint64_t first = (std::uint64_t{local_ip.value} << 32) | (std::uint64_t{local_port} << 16) |
                                (remote_ip.value >> 16);
    // Bytes 8-11: the low half of the remote IP and the remote port; 12-15 the word
    // (zero for offset()).
    const std::uint64_t second = (std::uint64_t{(remote_ip.value & 0xffffu) << 16 | remote_port} << 32) | word;
    const __m128i block = _mm_set_epi64x(static_cast<long long>(__builtin_bswap64(second)),
                                         static_cast<long long>(__builtin_bswap64(first)));
    // The first four bytes, little-endian (x86 is).
    return static_cast<std::uint32_t>(_mm_cvtsi128_si32(encrypt_block(round_keys, block)));
}
#endif

} // namespace

bool aes128_block::available() noexcept {
#if LINERATE_HAVE_AESNI
    static const bool has = __builtin_cpu_supports("aes");
    return has;
#else
    return false;
#endif
}

aes128_block::aes128_block(std::span<const std::uint8_t, key_size> key) noexcept {
#if LINERATE_HAVE_AESNI
    expand_key(key.data(), round_keys_.data());
#else
    (void)key;
#endif
}

void aes128_block::encrypt(const std::uint8_t *in, std::uint8_t *out) const noexcept {
#if LINERATE_HAVE_AESNI
    const __m128i b = encrypt_block(round_keys_.data(), _mm_loadu_si128(reinterpret_cast<const __m128i *>(in)));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(out), b);
#else
    (void)in;
    (void)out;
#endif
}

isn_generator::isn_generator() {
    if (!sodium_ready()) throw std::runtime_error("isn_generator: libsodium failed to initialise (sodium_init)");
    randombytes_buf(key_.data(), key_.size());
    prf_ = aes128_block::available() ? isn_prf::aes128 : isn_prf::siphash;
    if (prf_ == isn_prf::aes128) aes_ = aes128_block{key_};
}

isn_generator::isn_generator(std::span<const std::uint8_t, key_size> key, isn_prf prf) noexcept {
    // Neither PRF needs libsodium initialised; only randombytes does.
    std::copy(key.begin(), key.end(), key_.begin());
    prf_ = prf != isn_prf::siphash && aes128_block::available() ? isn_prf::aes128 : isn_prf::siphash;
    if (prf_ == isn_prf::aes128) aes_ = aes128_block{key_};
}

namespace {

// F with SipHash: the message is the tuple in network byte order, 12 bytes, in RFC
// 6528's argument order: local IP (4), local port (2), remote IP (4), remote port (2);
// prf() appends its word (4 more). AES (aes_f, above) pads the 12 bytes with four zero
// bytes, or the word, to its 16-byte block. A fixed layout keeps ISNs reproducible
// across builds and hosts for a given key and PRF; network order is what a capture
// shows, so a golden value can be recomputed from one.
std::uint32_t siphash_f(const std::uint8_t *key, ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                        std::uint16_t remote_port, const std::uint32_t *word) noexcept {
    std::array<std::uint8_t, 16> msg{};
    store_be32(msg.data(), local_ip.value);
    store_be16(msg.data() + 4, local_port);
    store_be32(msg.data() + 6, remote_ip.value);
    store_be16(msg.data() + 10, remote_port);
    if (word != nullptr) store_be32(msg.data() + 12, *word);
    std::array<std::uint8_t, crypto_shorthash_BYTES> out{};
    // Cannot fail: crypto_shorthash always returns 0.
    (void)crypto_shorthash(out.data(), msg.data(), word != nullptr ? 16 : 12, key);
    // The first four output bytes as a little-endian number, as for AES (aes_f): for
    // SipHash, whose 64-bit result is serialised little-endian (SipHash paper §2), its
    // low 32 bits.
    return std::uint32_t{out[0]} | (std::uint32_t{out[1]} << 8) | (std::uint32_t{out[2]} << 16) |
           (std::uint32_t{out[3]} << 24);
}

} // namespace

std::uint32_t isn_generator::offset(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                    std::uint16_t remote_port) const noexcept {
#if LINERATE_HAVE_AESNI
    if (prf_ == isn_prf::aes128) return aes_f(aes_.round_keys(), local_ip, local_port, remote_ip, remote_port);
#endif
    return siphash_f(key_.data(), local_ip, local_port, remote_ip, remote_port, nullptr);
}

std::uint32_t isn_generator::prf(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                                 std::uint16_t remote_port, std::uint32_t word) const noexcept {
#if LINERATE_HAVE_AESNI
    if (prf_ == isn_prf::aes128) return aes_f(aes_.round_keys(), local_ip, local_port, remote_ip, remote_port, word);
#endif
    return siphash_f(key_.data(), local_ip, local_port, remote_ip, remote_port, &word);
}

seq32 isn_generator::generate(ipv4_addr local_ip, std::uint16_t local_port, ipv4_addr remote_ip,
                              std::uint16_t remote_port, std::uint64_t now_us) const noexcept {
    // RFC 6528 §3 / RFC 9293 §3.4.1: M ticks every 4 microseconds, modulo 2^32.
    const auto m = static_cast<std::uint32_t>(now_us / 4);
    return seq32{m} + offset(local_ip, local_port, remote_ip, remote_port);
}

} // namespace linerate::tcp
