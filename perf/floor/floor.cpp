// perf/floor: the limit of linerate's I/O path on this machine, with no TCP in it.
//
// Two instances joined by the same device a cps run uses (the memif files of
// drivers-config, with their descriptors, mempool and lcore), each on one core:
//
//   floor [EAL options] -- --role bounce --config SERVER.toml [--duration S]
//   floor [EAL options] -- --role source --config CLIENT.toml [--duration S]
//                          [--window N] [--json FILE]
//
// The source puts a window of frames on the link, the frames of a short connection
// in its sizes (SYN 74, ACK with a 1-byte request 67, FIN 66 bytes, and the replies
// come back the same size as the three that answer them), and from then on both sides
// do what the cheapest possible stack would: receive a burst, swap the Ethernet
// addresses (so each frame's header line is read and written, as any stack must), and
// send the burst back. No allocation beyond the driver's own, no parsing, no state.
// Whatever rate this reaches, no TCP stack on this path can beat.
//
// The source counts the frames that come back per second. Each is one frame in each
// direction, and a connection of the benchmark is six frames (three each way), so
//
//   connections/s the path allows = frames returned per second / 3.
//
// It prints one row per second and, at the end, the median of the seconds between the
// first and the last (both partial), as text and with --json as JSON. The bounce side
// stops at --duration or on SIGINT/SIGTERM.
#include "app_common.hpp"

#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace linerate;

std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

constexpr unsigned burst = 32;
// The sizes of the client's three frames of a 1-byte connection with timestamps: a SYN
// with MSS, SACK-permitted, timestamps and window scale (20 option bytes), the ACK that
// carries the request (12), the FIN (12). The server's three replies are 74, 67, 66 too.
constexpr std::array<std::uint16_t, 3> frame_sizes{74, 67, 66};

struct options {
    std::string role;
    std::string config;
    double duration_s = 10;
    unsigned window = 768;
    std::string json;
};

bool parse(const app::split_args &args, options &o) {
    const auto &v = args.own;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const bool has_value = i + 1 < v.size();
        if (v[i] == "--role" && has_value) o.role = v[++i];
        else if (v[i] == "--config" && has_value) o.config = v[++i];
        else if (v[i] == "--duration" && has_value) o.duration_s = std::stod(v[++i]);
        else if (v[i] == "--window" && has_value) o.window = static_cast<unsigned>(std::stoul(v[++i]));
        else if (v[i] == "--json" && has_value) o.json = v[++i];
        else {
            std::fprintf(stderr, "floor: unknown or incomplete option '%s'\n", v[i].c_str());
            return false;
        }
    }
    if ((o.role != "bounce" && o.role != "source") || o.config.empty() || o.duration_s <= 0 || o.window == 0) {
        std::fprintf(stderr, "usage: floor [EAL options] -- --role bounce|source --config FILE [--duration S] "
                             "[--window N] [--json FILE]\n");
        return false;
    }
    return true;
}

// Swaps source and destination MAC: the frame goes back where it came from.
inline void turn_around(rte_mbuf *m) noexcept {
    auto *eth = rte_pktmbuf_mtod(m, rte_ether_hdr *);
    const rte_ether_addr a = eth->src_addr;
    eth->src_addr = eth->dst_addr;
    eth->dst_addr = a;
}

// The source's first window: frames of the three sizes in turn, addressed to the peer
// (broadcast: memif delivers whatever it is given, and the bounce side swaps anyway).
bool fill_window(rte_mempool *pool, std::uint16_t port, unsigned window, std::vector<rte_mbuf *> &out) {
    rte_ether_addr self{};
    rte_eth_macaddr_get(port, &self);
    out.resize(window);
    if (rte_pktmbuf_alloc_bulk(pool, out.data(), window) != 0) {
        std::fprintf(stderr, "floor: cannot allocate a window of %u mbufs (see [mempool] mbufs)\n", window);
        return false;
    }
    for (unsigned i = 0; i < window; ++i) {
        rte_mbuf *m = out[i];
        const std::uint16_t len = frame_sizes[i % frame_sizes.size()];
        auto *p = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, len));
        std::memset(p, 0, len);
        auto *eth = reinterpret_cast<rte_ether_hdr *>(p);
        std::memset(&eth->dst_addr, 0xff, sizeof eth->dst_addr);
        eth->src_addr = self;
        eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    }
    return true;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int run(const options &o, const config::app_config &cfg, std::uint16_t port, rte_mempool *pool) {
    const std::uint64_t hz = rte_get_tsc_hz();
    const bool source = o.role == "source";

    // Wait for the peer: memif's link comes up when both ends have connected. The line
    // tells perf/floor/run that the bounce side (memif's server) is listening.
    std::fprintf(stderr, "floor: %s: port started, waiting for the peer\n", o.role.c_str());
    const std::uint64_t link_deadline = rte_rdtsc() + 30 * hz;
    for (;;) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) break;
        if (rte_rdtsc() > link_deadline || stop_requested.load(std::memory_order_relaxed)) {
            std::fprintf(stderr, "floor: %s: the link did not come up within 30 s\n", cfg.ports[0].name.c_str());
            return 1;
        }
        rte_delay_ms(10);
    }
    std::fprintf(stderr, "floor: %s running\n", o.role.c_str());

    // Frames the device did not take yet, sent again first: nothing is dropped, so the
    // window stays whole.
    std::vector<rte_mbuf *> backlog;
    backlog.reserve(std::size_t{o.window} + cfg.ports[0].rx_descriptors + burst);
    if (source && !fill_window(pool, port, o.window, backlog)) return 1;

    std::vector<double> per_second;
    std::uint64_t returned = 0, second_count = 0;
    const std::uint64_t start = rte_rdtsc();
    const std::uint64_t end = start + static_cast<std::uint64_t>(o.duration_s * static_cast<double>(hz));
    std::uint64_t next_row = start + hz;
    std::array<rte_mbuf *, burst> rx{};
    for (;;) {
        if (!backlog.empty()) {
            const std::uint16_t sent =
                rte_eth_tx_burst(port, 0, backlog.data(), static_cast<std::uint16_t>(std::min<std::size_t>(backlog.size(), 512)));
            backlog.erase(backlog.begin(), backlog.begin() + sent);
        }
        const std::uint16_t n = rte_eth_rx_burst(port, 0, rx.data(), burst);
        for (std::uint16_t i = 0; i < n; ++i) turn_around(rx[i]);
        if (n != 0) {
            second_count += n;
            const std::uint16_t sent = backlog.empty() ? rte_eth_tx_burst(port, 0, rx.data(), n) : 0;
            backlog.insert(backlog.end(), rx.begin() + sent, rx.begin() + n);
        }
        const std::uint64_t now = rte_rdtsc();
        if (now >= next_row) {
            returned += second_count;
            if (source) {
                std::printf("%zu s: %llu frames/s back, %llu connections/s allowed\n", per_second.size() + 1,
                            static_cast<unsigned long long>(second_count),
                            static_cast<unsigned long long>(second_count / 3));
                std::fflush(stdout);
            }
            per_second.push_back(static_cast<double>(second_count));
            second_count = 0;
            next_row += hz;
        }
        if (now >= end || stop_requested.load(std::memory_order_relaxed)) break;
    }
    returned += second_count;
    rte_pktmbuf_free_bulk(backlog.data(), static_cast<unsigned>(backlog.size()));
    if (!source) return 0;

    // The first second includes the start; every full second after it counts.
    std::vector<double> steady(per_second.size() > 2 ? per_second.begin() + 1 : per_second.begin(), per_second.end());
    const double frames = median(steady);
    if (frames == 0) {
        std::fprintf(stderr, "floor: no frame came back\n");
        return 1;
    }
    std::printf("floor: median %.0f frames/s back (%.0f frames/s on the link), %.0f connections/s allowed "
                "(6 frames each); window %u, %llu frames in %.1f s\n",
                frames, 2 * frames, frames / 3, o.window, static_cast<unsigned long long>(returned), o.duration_s);
    if (!o.json.empty()) {
        std::ofstream f(o.json);
        f << "{\"benchmark\": \"perf/floor\", \"window\": " << o.window << ", \"duration_s\": " << o.duration_s
          << ", \"frames_back_per_second\": " << frames << ", \"frames_on_link_per_second\": " << 2 * frames
          << ", \"connections_per_second_allowed\": " << frames / 3 << ", \"per_second\": [";
        for (std::size_t i = 0; i < per_second.size(); ++i) f << (i ? ", " : "") << per_second[i];
        f << "]}\n";
        if (!f) {
            std::fprintf(stderr, "floor: cannot write %s\n", o.json.c_str());
            return 1;
        }
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    const auto args = app::split_command_line(argc, argv, "floor");
    options o;
    if (!parse(args, o)) return 2;
    const auto cfg = app::load_config(o.config, "");
    if (!cfg) return 2;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
        device::eal eal(device::eal_arguments(*cfg, args.program, args.eal));
        device::mbuf_pool pool("floor", cfg->mempool);
        device::port port(cfg->ports[0], pool.get(), 1, 1);
        return run(o, *cfg, port.id(), pool.get());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "floor: %s\n", e.what());
        return 1;
    }
}
