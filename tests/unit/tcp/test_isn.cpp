// ISN generator: RFC 6528 §3 (ISN = M + F(tuple, secret)), RFC 9293 §3.4.1 MUST-8/MUST-9.
#include <linerate/tcp/isn.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <set>

using linerate::ipv4_addr;
using linerate::seq32;
using linerate::tcp::aes128_block;
using linerate::tcp::isn_generator;
using linerate::tcp::isn_prf;

namespace {

constexpr std::array<std::uint8_t, 16> test_key{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
const ipv4_addr local = ipv4_addr::from_octets(198, 18, 0, 1);
const ipv4_addr remote = ipv4_addr::from_octets(198, 18, 0, 2);

} // namespace

TEST_CASE("RFC 6528 §3: with a fixed key the SipHash ISN is a reproducible golden value", "[tcp][isn]") {
    // Golden computed independently with a pure-Python SipHash-2-4 (checked against the
    // SipHash paper's test vector) over 198.18.0.1:80 -> 198.18.0.2:40000 laid out as
    // c6 12 00 01 00 50 c6 12 00 02 9c 40: SipHash = 0xa11ab8810815d309, F = 0x0815d309.
    const isn_generator gen{test_key, isn_prf::siphash};
    REQUIRE(gen.prf() == isn_prf::siphash);
    CHECK(gen.offset(local, 80, remote, 40000) == 0x0815'd309u);
    CHECK(gen.generate(local, 80, remote, 40000, 0).raw() == 0x0815'd309u);
    // M = 1 s / 4 us = 250000 = 0x3d090.
    CHECK(gen.generate(local, 80, remote, 40000, 1'000'000).raw() == 0x0819'a399u);
}

TEST_CASE("RFC 6528 §3: M advances by one every 4 microseconds", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint64_t t0 = 123'456'789;
    const seq32 base = gen.generate(local, 80, remote, 40000, t0 - t0 % 4);
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 3) == base); // same 4 us tick
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 4) == base + 1);
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 4'000'000) == base + 1'000'000u);
}

TEST_CASE("RFC 6528 §3: M wraps modulo 2^32", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint32_t f = gen.offset(local, 80, remote, 40000);
    const std::uint64_t last_tick = (std::uint64_t{1} << 32) - 1; // M = 0xffffffff
    CHECK(gen.generate(local, 80, remote, 40000, last_tick * 4).raw() == f - 1);
    CHECK(gen.generate(local, 80, remote, 40000, (last_tick + 1) * 4).raw() == f);
    CHECK(gen.generate(local, 80, remote, 40000, (last_tick + 2) * 4).raw() == f + 1);
    // Wrapped or not, the sequence keeps moving forward in seq32 order.
    CHECK(gen.generate(local, 80, remote, 40000, last_tick * 4) <
          gen.generate(local, 80, remote, 40000, (last_tick + 2) * 4));
}

TEST_CASE("RFC 6528 §3: every element of the four-tuple changes F", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint32_t f = gen.offset(local, 80, remote, 40000);
    CHECK(gen.offset(ipv4_addr::from_octets(198, 18, 0, 3), 80, remote, 40000) != f);
    CHECK(gen.offset(local, 81, remote, 40000) != f);
    CHECK(gen.offset(local, 80, ipv4_addr::from_octets(198, 18, 0, 3), 40000) != f);
    CHECK(gen.offset(local, 80, remote, 40001) != f);
    // The layout is ordered: swapping the two ends is a different connection.
    CHECK(gen.offset(remote, 40000, local, 80) != f);
}

TEST_CASE("RFC 6528 §3: consecutive source ports give unrelated offsets", "[tcp][isn]") {
    // A weak F (a plain sum, say) would let an attacker who sees one ISN predict the next
    // port's; with either PRF the 1000 offsets are all distinct.
    const isn_generator gen{test_key, GENERATE(isn_prf::aes128, isn_prf::siphash)};
    std::set<std::uint32_t> seen;
    for (std::uint16_t port = 40000; port < 41000; ++port) seen.insert(gen.offset(local, 80, remote, port));
    CHECK(seen.size() == 1000);
}

TEST_CASE("RFC 6528 §3: a different secret key gives a different ISN", "[tcp][isn]") {
    std::array<std::uint8_t, 16> other_key = test_key;
    other_key[15] ^= 0x01;
    const isn_generator a{test_key};
    const isn_generator b{other_key};
    CHECK(a.generate(local, 80, remote, 40000, 42) != b.generate(local, 80, remote, 40000, 42));
}

TEST_CASE("RFC 6528 §3: generators with random secrets disagree", "[tcp][isn]") {
    // Two random 128-bit keys agreeing on all three offsets would be a 2^-96 event.
    const isn_generator a;
    const isn_generator b;
    int same = 0;
    for (std::uint16_t port : {1000, 2000, 3000})
        if (a.offset(local, 80, remote, port) == b.offset(local, 80, remote, port)) ++same;
    CHECK(same < 3);
    // Each is still deterministic for its own key.
    CHECK(a.generate(local, 80, remote, 1000, 77) == a.generate(local, 80, remote, 1000, 77));
}

// --- AES-128 with AES-NI, the PRF where the CPU has it ------------------------------------

TEST_CASE("FIPS 197 appendix C.1: AES-128 encrypts the example block to the known answer", "[tcp][isn][aes]") {
    if (!aes128_block::available()) {
        WARN("this CPU has no AES-NI: the AES-128 path is not tested here");
        return;
    }
    // Key 000102...0f, plaintext 00112233...ff, ciphertext 69c4e0d8 6a7b0430 d8cdb780 70b4c55a.
    const aes128_block aes{test_key};
    const std::array<std::uint8_t, 16> plain{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                             0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    const std::array<std::uint8_t, 16> cipher{0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                              0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
    std::array<std::uint8_t, 16> out{};
    aes.encrypt(plain.data(), out.data());
    CHECK(out == cipher);
}

TEST_CASE("RFC 6528 §3: F is AES-128 of the zero-padded tuple where the CPU has AES-NI", "[tcp][isn][aes]") {
    if (!aes128_block::available()) {
        WARN("this CPU has no AES-NI: the AES-128 path is not tested here");
        return;
    }
    const isn_generator gen{test_key};
    REQUIRE(gen.prf() == isn_prf::aes128); // automatic picks it
    // The block is the tuple in network order with four zero bytes (isn.cpp), and F the
    // first four ciphertext bytes read little-endian.
    const std::array<std::uint8_t, 16> block{0xc6, 0x12, 0x00, 0x01, 0x00, 0x50, 0xc6, 0x12,
                                             0x00, 0x02, 0x9c, 0x40, 0, 0, 0, 0};
    std::array<std::uint8_t, 16> out{};
    aes128_block{test_key}.encrypt(block.data(), out.data());
    const std::uint32_t f = out[0] | (out[1] << 8) | (out[2] << 16) | (std::uint32_t{out[3]} << 24);
    CHECK(gen.offset(local, 80, remote, 40000) == f);
    CHECK(gen.generate(local, 80, remote, 40000, 1'000'000).raw() == f + 250'000u);
    // The other PRF gives other values under the same key: why a capture pins one.
    CHECK(isn_generator(test_key, isn_prf::siphash).offset(local, 80, remote, 40000) != f);
}

TEST_CASE("RFC 6528 §3: under a fixed key each PRF is deterministic", "[tcp][isn]") {
    const isn_prf prf = GENERATE(isn_prf::aes128, isn_prf::siphash);
    const isn_generator a{test_key, prf}, b{test_key, prf};
    CHECK(a.prf() == b.prf());
    for (std::uint16_t port = 1; port < 2000; port += 7) {
        CHECK(a.offset(local, 80, remote, port) == b.offset(local, 80, remote, port));
        CHECK(a.offset(local, 80, remote, port) == a.offset(local, 80, remote, port));
        CHECK(a.ts_offset(local, remote) == b.ts_offset(local, remote));
    }
}

TEST_CASE("RFC 6528 §3: F's bits are balanced and its values spread over 32 bits", "[tcp][isn]") {
    // Not a test of pseudorandomness, a sanity check that no bit of the output is stuck
    // or biased (a wrong byte order, a truncated block): over 20,000 tuples each of the 32
    // bits is set in 50 % +- 2.5 % (about 7 standard deviations), and the top byte's 256
    // values each appear 78 +- 45 times.
    const isn_generator gen{test_key, GENERATE(isn_prf::aes128, isn_prf::siphash)};
    INFO("prf " << static_cast<int>(gen.prf()));
    constexpr int n = 20'000;
    std::array<int, 32> ones{};
    std::array<int, 256> top{};
    for (int i = 0; i < n; ++i) {
        const auto port = static_cast<std::uint16_t>(i);
        const std::uint32_t f = gen.offset(ipv4_addr{local.value + static_cast<std::uint32_t>(i >> 16)}, 80, remote, port);
        for (int bit = 0; bit < 32; ++bit) ones[bit] += (f >> bit) & 1;
        ++top[f >> 24];
    }
    for (int bit = 0; bit < 32; ++bit) {
        INFO("bit " << bit);
        CHECK(ones[bit] > n * 475 / 1000);
        CHECK(ones[bit] < n * 525 / 1000);
    }
    for (int v = 0; v < 256; ++v) {
        INFO("top byte " << v);
        CHECK(top[v] > 33);
        CHECK(top[v] < 123);
    }
}
