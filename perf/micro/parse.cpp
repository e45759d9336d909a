// Receive parsing: the one-pass recogniser (wire::parse_fast) against the general chain
// the engine ran before it (parse_ethernet, parse_ipv4, parse_tcp, parse_tcp_options),
// both verifying both checksums in software, on the three frames a connection-rate run
// receives most: a Linux SYN (MSS, SACK-permitted, timestamps, NOP, window scale), a pure
// ACK with NOP NOP timestamps, and a full-MSS data segment with timestamps.
//
// Each iteration parses one of 64 copies of the frame in turn, differing in their ports,
// so that neither parser's result can be hoisted out of the loop.
#include "micro.hpp"

#include <linerate/wire/wire.hpp>

#include <string>
#include <utility>
#include <vector>

namespace linerate::perf {
namespace {

enum class shape { syn, ack, data_1448 };

constexpr std::size_t copies = 64;

std::vector<std::vector<std::uint8_t>> frames(shape s) {
    const ipv4_addr src = ipv4_addr::from_octets(198, 18, 0, 1), dst = ipv4_addr::from_octets(198, 18, 0, 2);
    wire::tcp_options o;
    o.has_timestamp = true;
    o.ts_val = 123456;
    o.ts_ecr = 654321;
    if (s == shape::syn) {
        o.mss = 1460;
        o.sack_permitted = true;
        o.window_scale = 7;
    }
    std::uint8_t opts[wire::tcp_max_options_len];
    const std::size_t opt_len = wire::write_tcp_options(opts, o);
    std::vector<std::uint8_t> payload(s == shape::data_1448 ? 1448 : 0);
    std::mt19937_64 rng(static_cast<std::uint64_t>(s));
    for (auto &b : payload) b = static_cast<std::uint8_t>(rng());
    const std::size_t tcp_len = wire::tcp_min_header_len + opt_len + payload.size();
    std::vector<std::vector<std::uint8_t>> out;
    for (std::size_t i = 0; i < copies; ++i) {
        std::vector<std::uint8_t> f(std::max<std::size_t>(wire::ethernet_min_frame_len, 34 + tcp_len));
        (void)wire::write_ethernet(f, mac_addr{{2, 0, 0, 0, 0, 2}}, mac_addr{{2, 0, 0, 0, 0, 1}}, wire::ethertype_ipv4);
        (void)wire::write_ipv4(std::span(f).subspan(14),
                               wire::ipv4_fields{.total_length = static_cast<std::uint16_t>(20 + tcp_len),
                                                 .protocol = wire::ip_proto_tcp, .src = src, .dst = dst});
        const wire::tcp_fields t{.src_port = static_cast<std::uint16_t>(40000 + i),
                                 .dst_port = 80,
                                 .seq = seq32{1000},
                                 .ack = seq32{2000},
                                 .flags = wire::tcp_flags{s == shape::syn ? wire::tcp_flags::syn : wire::tcp_flags::ack},
                                 .window = 502};
        (void)wire::write_tcp(std::span(f).subspan(34), t, std::span(opts, opt_len), payload, src, dst);
        out.push_back(std::move(f));
    }
    return out;
}

void parse_fast(benchmark::State &state, shape s) {
    const auto fs = frames(s);
    wire::fast_tcp_frame out;
    std::size_t i = 0;
    for (auto _ : state) {
        if (!wire::parse_fast(fs[i], wire::checksum_mode::verify, wire::checksum_mode::verify, out))
            return fail(state, "parse_fast refused a valid frame");
        benchmark::DoNotOptimize(out);
        i = (i + 1) % copies;
    }
    state.SetItemsProcessed(state.iterations());
}

void parse_general(benchmark::State &state, shape s) {
    const auto fs = frames(s);
    std::size_t i = 0;
    for (auto _ : state) {
        // The engine's chain before parse_fast (responder, then the TCP input path).
        const auto eth = wire::parse_ethernet(fs[i]);
        if (!eth || eth->ethertype != wire::ethertype_ipv4) return fail(state, "parse_ethernet refused a valid frame");
        const auto ip = wire::parse_ipv4(eth->payload);
        if (!ip) return fail(state, "parse_ipv4 refused a valid frame");
        const auto tv = wire::parse_tcp(ip->payload, ip->src, ip->dst);
        if (!tv) return fail(state, "parse_tcp refused a valid frame");
        const auto opts = wire::parse_tcp_options(tv->options);
        if (!opts) return fail(state, "parse_tcp_options refused valid options");
        benchmark::DoNotOptimize(*opts);
        benchmark::DoNotOptimize(*tv);
        i = (i + 1) % copies;
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_parse() {
    for (const auto &[name, s] : {std::pair{"syn", shape::syn}, std::pair{"ack", shape::ack},
                                  std::pair{"data_1448", shape::data_1448}}) {
        const shape sh = s;
        benchmark::RegisterBenchmark((std::string("parse/fast/") + name).c_str(),
                                     [sh](benchmark::State &st) { parse_fast(st, sh); });
        benchmark::RegisterBenchmark((std::string("parse/general/") + name).c_str(),
                                     [sh](benchmark::State &st) { parse_general(st, sh); });
    }
}

} // namespace linerate::perf
