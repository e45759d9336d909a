// Internet checksum: RFC 1071 vectors, odd lengths, pseudo header, and RFC 1624
// incremental updates checked against full recomputation.
#include <linerate/wire/checksum.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

namespace {
// The plain RFC 1071 loop that csum_partial replaced, 16-bit big-endian words one at a
// time: the reference the 64-bit implementation is held to.
std::uint32_t reference_partial(std::span<const std::uint8_t> data, std::uint32_t sum) {
    std::uint64_t acc = sum;
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) acc += load_be16(&data[i]);
    if (i < data.size()) acc += std::uint64_t{data[i]} << 8; // RFC 1071 §4.1
    while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<std::uint32_t>(acc);
}

std::uint16_t sum_words_rfc1141(std::uint16_t hc, std::uint16_t m, std::uint16_t m_new) {
    // RFC 1141: HC' = HC + m + ~m' (one's complement sum), kept only to show RFC 1624 §3.
    std::uint32_t s = std::uint32_t{hc} + m + static_cast<std::uint16_t>(~m_new);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}
} // namespace

TEST_CASE("RFC 1071 §3: the numerical example sums to 0x2ddf0 and folds to 0xddf2", "[wire][checksum]") {
    const std::vector<std::uint8_t> data{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    // csum_partial keeps only the class modulo 0xffff (checksum.hpp): the RFC's 0x2ddf0.
    CHECK(csum_partial(data) % 0xffffu == 0x2ddf0u % 0xffffu);
    CHECK(csum_fold(csum_partial(data)) == static_cast<std::uint16_t>(~0xddf2u));
    CHECK(inet_checksum(data) == 0x220d);
}

TEST_CASE("RFC 1071 §4.1: an odd trailing byte is the high half of a zero-padded word", "[wire][checksum]") {
    CHECK(csum_partial(std::vector<std::uint8_t>{0xab}) == 0xab00u);
    CHECK(csum_partial(std::vector<std::uint8_t>{0x00, 0x01, 0xf2}) % 0xffffu == 0x0001u + 0xf200u);
    // Odd length equals the even length with an explicit zero appended.
    const std::vector<std::uint8_t> odd{0x12, 0x34, 0x56, 0x78, 0x9a};
    const std::vector<std::uint8_t> padded{0x12, 0x34, 0x56, 0x78, 0x9a, 0x00};
    CHECK(inet_checksum(odd) == inet_checksum(padded));
    CHECK(csum_partial(std::span<const std::uint8_t>{}) == 0u);
}

TEST_CASE("checksum: all-zero data checksums to 0xffff, all-0xff data to 0x0000", "[wire][checksum]") {
    for (std::size_t n : {2u, 20u, 1500u}) {
        INFO(n);
        CHECK(inet_checksum(std::vector<std::uint8_t>(n, 0x00)) == 0xffff);
        CHECK(inet_checksum(std::vector<std::uint8_t>(n, 0xff)) == 0x0000);
    }
    // 0xff odd tail: 0xffff words plus 0xff00 folds to 0xff00, complemented 0x00ff.
    CHECK(inet_checksum(std::vector<std::uint8_t>(3, 0xff)) == 0x00ff);
}

TEST_CASE("checksum: a buffer holding its own correct checksum verifies to zero", "[wire][checksum]") {
    const auto frame = bytes(test_vectors::icmp_echo_request);
    const auto ip = l3(frame).first(20);
    CHECK(inet_checksum(ip) == 0);
    // With the field zeroed, the computation gives what scapy stored (0x923b).
    auto copy = std::vector<std::uint8_t>(ip.begin(), ip.end());
    copy[10] = copy[11] = 0;
    CHECK(inet_checksum(copy) == 0x923b);
}

TEST_CASE("checksum: partial sums chain across even-length pieces", "[wire][checksum]") {
    std::mt19937 rng(1071);
    std::vector<std::uint8_t> data(1501);
    for (auto &b : data) b = static_cast<std::uint8_t>(rng());
    const std::span<const std::uint8_t> all(data);
    for (std::size_t cut = 0; cut <= data.size(); cut += 2) {
        const auto first = csum_partial(all.first(cut));
        CHECK(csum_fold(csum_partial(all.subspan(cut), first)) == inet_checksum(all));
    }
}

TEST_CASE("RFC 1071 §2: 64-bit native-order adds equal the 16-bit word loop at every length and offset",
          "[wire][checksum]") {
    // Random buffers of 0..2000 bytes at every start offset within 8 bytes (so every
    // memory alignment of the 64-bit loads), random initial sums, and a share of buffers
    // made of 0x00 and 0xff only, where the carries and the +0/-0 distinction bite.
    std::mt19937_64 rng(10712);
    std::vector<std::uint8_t> store(2000 + 8);
    for (std::size_t n = 0; n <= 2000; ++n) {
        for (std::size_t offset = 0; offset < 8; ++offset) {
            const int kind = static_cast<int>(rng() % 4);
            for (auto &b : store) {
                const auto r = static_cast<std::uint8_t>(rng());
                b = kind == 0 ? static_cast<std::uint8_t>(r & 1 ? 0xff : 0x00) : kind == 1 ? std::uint8_t{0xff} : r;
            }
            const std::span<const std::uint8_t> data(store.data() + offset, n);
            const std::uint32_t seed = rng() % 3 == 0 ? 0u : static_cast<std::uint32_t>(rng());
            const std::uint32_t got = csum_partial(data, seed);
            const std::uint32_t want = reference_partial(data, seed);
            INFO("length " << n << " offset " << offset << " seed " << seed);
            REQUIRE(csum_fold(got) == csum_fold(want));
            REQUIRE(got % 0xffffu == want % 0xffffu);
            REQUIRE((got == 0) == (want == 0));
        }
    }
}

TEST_CASE("RFC 1071 §2(A): 32-bit fields added whole in 64 bits fold like their 16-bit halves", "[wire][checksum]") {
    // csum_fold64 against csum_fold of the same fields added as 16-bit halves (the way
    // the TX path summed them before), for up to 24 random fields, a share of them at
    // the extremes where end-around carries chain (0xffffffff, 0xffff0000, 0).
    std::mt19937_64 rng(1071);
    for (int round = 0; round < 200000; ++round) {
        const int fields = 1 + static_cast<int>(rng() % 24);
        std::uint64_t whole = 0;
        std::uint32_t halves = 0;
        for (int i = 0; i < fields; ++i) {
            const int kind = static_cast<int>(rng() % 5);
            const std::uint32_t v = kind == 0   ? 0xffffffffu
                                    : kind == 1 ? 0xffff0000u
                                    : kind == 2 ? 0u
                                                : static_cast<std::uint32_t>(rng());
            whole += v;
            halves += (v >> 16) + (v & 0xffffu); // 24 fields of at most 2^17: no overflow
        }
        INFO("round " << round);
        REQUIRE(csum_fold64(whole) == csum_fold(halves));
    }
    CHECK(csum_fold64(0) == 0xffff);                     // only an all-zero sum is +0
    CHECK(csum_fold64(0xffff) == 0x0000);                // -0 stays -0
    CHECK(csum_fold64(0xffffffffffffffffull) == 0x0000); // every carry wraps around
}

TEST_CASE("checksum: large buffers do not lose carries", "[wire][checksum]") {
    // 200000 words of 0xffff overflow a naive 32-bit word sum; each one is -0, so the
    // checksum stays 0x0000.
    std::vector<std::uint8_t> big(400000, 0xff);
    CHECK(inet_checksum(big) == 0x0000);
    big.back() = 0xfe; // the last word becomes 0xfffe: sum is -1 -> checksum 0x0001
    CHECK(inet_checksum(big) == 0x0001);
    // A caller's initial sum near 2^32 is carried too.
    CHECK(csum_fold(csum_partial(big, 0xffffffffu)) == 0x0001);
}

TEST_CASE("RFC 9293 §3.1: the IPv4 pseudo header sum verifies real TCP segments", "[wire][checksum][tcp]") {
    for (auto t : {tcp_of(test_vectors::tcp_syn), tcp_of(test_vectors::tcp_syn_ack), tcp_of(test_vectors::tcp_data_odd),
                   tcp_of(test_vectors::tcp_fin_ack)}) {
        const auto seg = t.segment();
        const auto pseudo = ipv4_pseudo_header_sum(t.src, t.dst, ip_proto_tcp, static_cast<std::uint16_t>(seg.size()));
        CHECK(csum_fold(csum_partial(seg, pseudo)) == 0);
        // Swapping the addresses does not change the sum: the pseudo header is symmetric.
        CHECK(ipv4_pseudo_header_sum(t.dst, t.src, ip_proto_tcp, static_cast<std::uint16_t>(seg.size())) == pseudo);
    }
    // The pseudo header is exactly the 12 bytes of RFC 9293 §3.1, summed like any data.
    const std::vector<std::uint8_t> ph{198, 18, 0, 1, 198, 18, 0, 2, 0, 6, 0x05, 0xdc};
    CHECK(csum_fold(ipv4_pseudo_header_sum(client_ip, server_ip, ip_proto_tcp, 1500)) == inet_checksum(ph));
}

TEST_CASE("RFC 1624 §3: eqn. 3 gives 0x0000 where RFC 1141 gives 0xffff", "[wire][checksum][incremental]") {
    // Two words whose one's complement sum is 0x22d0, so the checksum is 0xdd2f; the
    // field 0x5555 changes to 0x3285 and the new sum is 0xffff (-0).
    std::vector<std::uint8_t> data{0x55, 0x55, 0xcd, 0x7a};
    REQUIRE(inet_checksum(data) == 0xdd2f);
    CHECK(csum_update16(0xdd2f, 0x5555, 0x3285) == 0x0000);
    CHECK(sum_words_rfc1141(0xdd2f, 0x5555, 0x3285) == 0xffff);
    data[0] = 0x32;
    data[1] = 0x85;
    CHECK(inet_checksum(data) == 0x0000);
}

TEST_CASE("RFC 1624: 16-bit incremental updates equal full recomputation (seeded)", "[wire][checksum][incremental]") {
    std::mt19937 rng(1624);
    const std::uint16_t corner[] = {0x0000, 0xffff, 0x0001, 0xfffe, 0x8000, 0x7fff};
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> data(2 * (2 + rng() % 30));
        for (auto &b : data) b = static_cast<std::uint8_t>(rng());
        // A real header is never all zero (IPv4 version, TCP data offset), which is the
        // one case where +0 and -0 differ between the two computations.
        data[0] = 0x45;
        const std::size_t at = 2 * (1 + rng() % (data.size() / 2 - 1));
        if (rng() % 4 == 0) store_be16(&data[at], corner[rng() % 6]);
        const std::uint16_t before = inet_checksum(data);
        const std::uint16_t old_value = load_be16(&data[at]);
        const std::uint16_t new_value = (rng() % 4 == 0) ? corner[rng() % 6] : static_cast<std::uint16_t>(rng());
        store_be16(&data[at], new_value);
        INFO("round " << round << " old " << old_value << " new " << new_value);
        REQUIRE(csum_update16(before, old_value, new_value) == inet_checksum(data));
    }
}

TEST_CASE("RFC 1624: 16-bit updates through the 0x0000/0xffff corners", "[wire][checksum][incremental]") {
    const std::uint16_t values[] = {0x0000, 0xffff, 0x0001, 0xfffe, 0x4500, 0x8000};
    for (std::uint16_t other : {0x0001, 0x4500, 0xfffe, 0xffff}) {
        for (std::uint16_t m : values) {
            for (std::uint16_t m2 : values) {
                std::vector<std::uint8_t> data(4);
                store_be16(&data[0], other);
                store_be16(&data[2], m);
                const auto before = inet_checksum(data);
                store_be16(&data[2], m2);
                INFO(other << " " << m << " -> " << m2);
                CHECK(csum_update16(before, m, m2) == inet_checksum(data));
            }
        }
    }
}

TEST_CASE("RFC 1624: 32-bit incremental updates equal full recomputation (seeded)", "[wire][checksum][incremental]") {
    std::mt19937 rng(0x32);
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> data(40);
        for (auto &b : data) b = static_cast<std::uint8_t>(rng());
        data[0] = 0x45;
        const std::size_t at = 2 * (1 + rng() % 18); // any 16-bit aligned offset
        const std::uint16_t before = inet_checksum(data);
        const std::uint32_t old_value = load_be32(&data[at]);
        std::uint32_t new_value = static_cast<std::uint32_t>(rng());
        if (round % 7 == 0) new_value = 0;
        if (round % 11 == 0) new_value = 0xffffffffu;
        store_be32(&data[at], new_value);
        INFO("round " << round);
        REQUIRE(csum_update32(before, old_value, new_value) == inet_checksum(data));
    }
}

TEST_CASE("RFC 1624: updating a real TCP header's sequence number keeps it valid", "[wire][checksum][incremental][tcp]") {
    auto t = tcp_of(test_vectors::tcp_data_odd);
    auto seg = t.segment();
    const std::uint16_t check = load_be16(seg.data() + 16);
    const std::uint32_t old_seq = load_be32(seg.data() + 4);
    store_be32(seg.data() + 4, old_seq + 1000);
    store_be16(seg.data() + 16, csum_update32(check, old_seq, old_seq + 1000));
    CHECK(parse_tcp(seg, t.src, t.dst).ok());
}
