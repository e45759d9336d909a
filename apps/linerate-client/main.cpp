// linerate-client: opens TCP connections at a paced rate, sends a request on each, reads
// the response and ends the connection as asked; reports per second and at the end.
//
//   linerate-client [EAL options] -- --config FILE --target IP:PORT [options]
//
// Each lcore runs a generator (generator.hpp) that owns its connections; the source
// port of each is chosen so the server's answers come back to the lcore that opened it
// (RSS or software steering). The control thread reads the lcores' counters each
// interval and prints one row; it also ends the run: when the duration is over (or
// every lcore has opened its share of --connections) no connection is opened any more,
// open ones get --drain-timeout seconds to finish, and what is left is reset and
// counted as unfinished. So a run never hangs, whatever the peer does.
//
// Exit status: 0 when failed / attempted <= --max-error-rate, 1 otherwise or on a device
// error, 2 for bad options or configuration.
#include "app_common.hpp"
#include "generator.hpp"
#include "lcore_state.hpp"
#include "modes.hpp"
#include "request.hpp"

#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/runtime.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using linerate::ipv4_addr;
namespace client = linerate::client;

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler stores to it");
extern "C" void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

struct options {
    std::string config_path;
    std::string target;
    double rate = 0;
    std::uint64_t concurrency = 0;
    std::uint64_t connections = 0;
    double duration_s = 0;
    double ramp_s = 0;
    std::int64_t request_size = -1; // -1: an HTTP GET
    std::int64_t response_size = -1;
    std::uint32_t requests_per_connection = 1;
    std::string close = "server";
    std::string source_ips;
    std::string source_ports;
    double stats_interval_s = 1;
    std::string json_path;
    double max_error_rate = 0;
    double drain_timeout_s = -1; // -1: 10 s plus what --hold and --request-interval add
    double hold_s = 0;
    double request_interval_s = 0;
    double min_rate = 0;
    std::string json_lines_path;
    std::string histogram_path;
    std::string histogram_of = "connect";
    double warmup_s = 0;
    std::string lcores;
    std::uint16_t serve = 0;
    std::string log_level = "info";
    bool check_config = false;
    bool all_counters = false;
    std::string flood; // empty: connections
    client::http_shape http;
};

// Reads another thread's counters word by word (see relaxed_copy in the engine).
client::gen_counters read_counters(const client::gen_counters &src) {
    client::gen_counters out;
    auto *d = reinterpret_cast<std::uint64_t *>(&out);
    const auto *s = reinterpret_cast<const std::uint64_t *>(&src);
    static_assert(sizeof(client::gen_counters) % 8 == 0);
    for (std::size_t i = 0; i < sizeof out / 8; ++i) d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
    return out;
}

client::gen_counters sum(const std::vector<std::unique_ptr<client::generator>> &gens) {
    client::gen_counters t;
    for (const auto &g : gens) {
        const auto c = read_counters(g->stats());
        const auto *s = reinterpret_cast<const std::uint64_t *>(&c);
        auto *d = reinterpret_cast<std::uint64_t *>(&t);
        for (std::size_t i = 0; i < sizeof t / 8; ++i) d[i] += s[i];
    }
    return t;
}

// One row of the per-second table.
struct row {
    double t = 0;
    double new_per_s = 0;
    double flood_per_s = 0;
    std::uint64_t open = 0;
    double requests_per_s = 0;
    std::uint64_t syn_retrans = 0;
    std::uint64_t data_retrans = 0;
    std::uint64_t resets_in = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t errors = 0;
    double rx_pps = 0, tx_pps = 0, rx_gbps = 0, tx_gbps = 0;
    std::uint64_t missed = 0; // opens (or flood segments) due in this interval and not made
    double missed_per_s = 0;
    // This interval's latency percentiles, microseconds (0: nothing recorded).
    std::uint64_t connect_p50 = 0, connect_p99 = 0, first_byte_p50 = 0, first_byte_p99 = 0;
    // Below TCP: each port's rte_eth_stats over the interval, and each lcore's busy
    // share (cycles of turns that moved a frame over all its cycles).
    std::vector<linerate::engine::port_stats> ports;
    std::vector<double> busy;
    std::uint64_t port_drops = 0; // imissed + ierrors + oerrors + rx_nombuf, all ports
};

struct sample {
    client::gen_counters g;
    linerate::engine::counters e;
    linerate::tcp::counters t;
    std::vector<linerate::engine::port_stats> ports;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> cycles; // per lcore: loop, busy
};

sample take_sample(const std::vector<std::unique_ptr<client::generator>> &gens, const linerate::engine::runtime &rt) {
    sample s{sum(gens), rt.totals(), rt.tcp_totals(), rt.ports_stats(), {}};
    for (const auto &w : rt.snapshot()) s.cycles.emplace_back(w.engine.loop_cycles, w.engine.busy_cycles);
    return s;
}

row make_row(const sample &a, const sample &b, double t, double dt) {
    row r;
    r.t = t;
    r.new_per_s = static_cast<double>(b.g.opened - a.g.opened) / dt;
    r.flood_per_s = static_cast<double>(b.g.flood_sent - a.g.flood_sent) / dt;
    r.open = b.g.opened - b.g.closed;
    r.requests_per_s = static_cast<double>(b.g.responses - a.g.responses) / dt;
    r.syn_retrans = b.t.syn_retrans - a.t.syn_retrans;
    r.data_retrans = (b.t.retrans_segs - b.t.syn_retrans) - (a.t.retrans_segs - a.t.syn_retrans);
    r.resets_in = b.g.resets_in - a.g.resets_in;
    r.timeouts = b.g.timeouts - a.g.timeouts;
    r.errors = b.g.failed - a.g.failed;
    r.rx_pps = static_cast<double>(b.e.rx_frames - a.e.rx_frames) / dt;
    r.tx_pps = static_cast<double>(b.e.tx_frames - a.e.tx_frames) / dt;
    r.rx_gbps = static_cast<double>(b.e.rx_bytes - a.e.rx_bytes) * 8 / dt / 1e9;
    r.tx_gbps = static_cast<double>(b.e.tx_bytes - a.e.tx_bytes) * 8 / dt / 1e9;
    r.missed = b.g.missed - a.g.missed;
    r.missed_per_s = static_cast<double>(r.missed) / dt;
    for (std::size_t i = 0; i < b.ports.size() && i < a.ports.size(); ++i) {
        const auto &x = a.ports[i], &y = b.ports[i];
        r.ports.push_back({y.name, y.ipackets - x.ipackets, y.opackets - x.opackets, y.ibytes - x.ibytes,
                           y.obytes - x.obytes, y.imissed - x.imissed, y.ierrors - x.ierrors, y.oerrors - x.oerrors,
                           y.rx_nombuf - x.rx_nombuf});
        const auto &p = r.ports.back();
        r.port_drops += p.imissed + p.ierrors + p.oerrors + p.rx_nombuf;
    }
    for (std::size_t i = 0; i < b.cycles.size() && i < a.cycles.size(); ++i) {
        const std::uint64_t loop = b.cycles[i].first - a.cycles[i].first;
        r.busy.push_back(loop == 0 ? 0.0 : static_cast<double>(b.cycles[i].second - a.cycles[i].second) /
                                               static_cast<double>(loop));
    }
    return r;
}

// A flood's rows count segments sent where a connection run's count connections opened.
void print_header(bool flood) {
    std::printf("%7s %9s %8s %9s %7s %7s %7s %6s %7s %10s %10s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "time",
                flood ? "sent/s" : "new/s", "open", "req/s", "synrtx", "rtx", "rst-in", "tmo", "errors", "rx-pps",
                "tx-pps", "rx-Gbps", "tx-Gbps", "missed", "con-p50", "con-p99", "fb-p50", "fb-p99", "nic-drop", "busy%");
}

void print_row(const row &r, bool flood) {
    const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    std::string busy;
    for (const double b : r.busy) busy += fmt::format("{}{:.0f}", busy.empty() ? "" : "/", b * 100);
    std::printf("%6.1fs %9.0f %8llu %9.0f %7llu %7llu %7llu %6llu %7llu %10.0f %10.0f %8.3f %8.3f %8llu %8llu %8llu "
                "%8llu %8llu %8llu  %s\n",
                r.t, flood ? r.flood_per_s : r.new_per_s, u(r.open), r.requests_per_s, u(r.syn_retrans),
                u(r.data_retrans), u(r.resets_in), u(r.timeouts), u(r.errors), r.rx_pps, r.tx_pps, r.rx_gbps,
                r.tx_gbps, u(r.missed), u(r.connect_p50), u(r.connect_p99), u(r.first_byte_p50), u(r.first_byte_p99),
                u(r.port_drops), busy.c_str());
    std::fflush(stdout);
}

// A JSON string: the options and paths a user typed may hold anything.
std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            out += fmt::format("\\u{:04x}", c);
        } else {
            out += ch;
        }
    }
    return out + '"';
}

std::string row_json(const row &r) {
    std::string j = fmt::format(
        "{{\"t\": {:.3f}, \"new_per_s\": {:.1f}, \"flood_per_s\": {:.1f}, \"open\": {}, \"requests_per_s\": {:.1f}, "
        "\"syn_retrans\": {}, \"data_retrans\": {}, \"resets_in\": {}, \"timeouts\": {}, "
        "\"errors\": {}, \"rx_pps\": {:.1f}, \"tx_pps\": {:.1f}, \"rx_gbps\": {:.6f}, "
        "\"tx_gbps\": {:.6f}, \"missed\": {}, \"missed_per_s\": {:.1f}, \"connect_p50_us\": {}, "
        "\"connect_p99_us\": {}, \"first_byte_p50_us\": {}, \"first_byte_p99_us\": {}, \"port_drops\": {}, "
        "\"ports\": [",
        r.t, r.new_per_s, r.flood_per_s, r.open, r.requests_per_s, r.syn_retrans, r.data_retrans, r.resets_in,
        r.timeouts, r.errors, r.rx_pps, r.tx_pps, r.rx_gbps, r.tx_gbps, r.missed, r.missed_per_s, r.connect_p50,
        r.connect_p99, r.first_byte_p50, r.first_byte_p99, r.port_drops);
    for (std::size_t i = 0; i < r.ports.size(); ++i) {
        const auto &p = r.ports[i];
        j += fmt::format("{}{{\"name\": {}, \"ipackets\": {}, \"opackets\": {}, \"ibytes\": {}, \"obytes\": {}, "
                         "\"imissed\": {}, \"ierrors\": {}, \"oerrors\": {}, \"rx_nombuf\": {}}}",
                         i ? ", " : "", json_string(p.name), p.ipackets, p.opackets, p.ibytes, p.obytes, p.imissed,
                         p.ierrors, p.oerrors, p.rx_nombuf);
    }
    j += "], \"busy\": [";
    for (std::size_t i = 0; i < r.busy.size(); ++i) j += fmt::format("{}{:.4f}", i ? ", " : "", r.busy[i]);
    return j + "]}";
}

// Every option of the run, as given or defaulted, so a result file says how it was made.
std::string options_json(const options &o) {
    return fmt::format(
        "{{\"config\": {}, \"target\": {}, \"rate\": {}, \"concurrency\": {}, \"connections\": {}, "
        "\"duration\": {}, \"ramp\": {}, \"request_size\": {}, \"response_size\": {}, "
        "\"requests_per_connection\": {}, \"request_interval\": {}, \"hold\": {}, \"close\": {}, "
        "\"source_ips\": {}, \"source_ports\": {}, \"stats_interval\": {}, \"json\": {}, \"json_lines\": {}, "
        "\"max_error_rate\": {}, \"min_rate\": {}, \"drain_timeout\": {}, \"warmup\": {}, \"lcores\": {}, "
        "\"serve\": {}, \"flood\": {}, \"histogram\": {}, \"histogram_of\": {}, \"method\": {}, \"host\": {}, "
        "\"path\": {}, \"headers\": [{}]}}",
        json_string(o.config_path), json_string(o.target), o.rate, o.concurrency, o.connections, o.duration_s,
        o.ramp_s, o.request_size, o.response_size, o.requests_per_connection, o.request_interval_s, o.hold_s,
        json_string(o.close), json_string(o.source_ips), json_string(o.source_ports), o.stats_interval_s,
        json_string(o.json_path), json_string(o.json_lines_path), o.max_error_rate, o.min_rate, o.drain_timeout_s,
        o.warmup_s, json_string(o.lcores), o.serve, json_string(o.flood), json_string(o.histogram_path),
        json_string(o.histogram_of), json_string(o.http.method), json_string(o.http.host), json_string(o.http.path),
        [&] {
            std::string h;
            for (const auto &f : o.http.headers) {
                if (!h.empty()) h += ", ";
                h += json_string(f);
            }
            return h;
        }());
}

std::string run_json(const options &o) {
    return fmt::format("\"version\": {}, \"config\": {}, \"options\": {}", json_string(LINERATE_VERSION),
                       json_string(o.config_path), options_json(o));
}

struct latency {
    std::string_view name;
    client::histogram h;
};

constexpr std::array<double, 4> percentiles{0.50, 0.90, 0.99, 0.999};

std::vector<std::uint8_t> make_request(const options &opt, const client::http_shape &shape,
                                       const client::target_range &target) {
    if (opt.request_size < 0) {
        const std::string r = client::http_request(shape, target);
        return {r.begin(), r.end()};
    }
    // Raw bytes that are not an HTTP method (no capital first letter), so a linerate
    // server in respond mode takes them as a whole request, and an echo server returns them.
    std::vector<std::uint8_t> r(static_cast<std::size_t>(opt.request_size));
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint8_t>('a' + i % 26);
    return r;
}

} // namespace

int main(int argc, char **argv) {
    auto [program, eal_args, own_args] = linerate::app::split_command_line(argc, argv, "linerate-client");

    options opt;
    CLI::App app{"linerate-client: opens TCP connections at a paced rate on DPDK, sends a request on each, reads "
                 "the response and reports connections, requests, retransmissions, errors and latency.\n\n"
                 "  linerate-client [EAL options] -- --config FILE --target IP:PORT [options]\n",
                 "linerate-client"};
    app.footer("EAL options go before `--`; the file's [eal] args come first, then these.\n"
               "The run opens connections for --duration seconds (default 10) or until --connections have been "
               "attempted, then waits up to --drain-timeout seconds for open ones; what is left is reset and "
               "counted as unfinished. SIGINT or SIGTERM ends it at once.\n"
               "Exit status: 0 when the error rate is at most --max-error-rate, 1 otherwise or on a device "
               "failure, 2 bad configuration or options.");
    app.add_option("-c,--config", opt.config_path, "configuration file (see drivers-config/*.toml)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("-t,--target", opt.target, "server address and port, IP:PORT, or ranges of both cycled like the "
                                              "sources, e.g. 198.18.1.2-198.18.1.9:80-89")
        ->required();
    app.add_option("--rate", opt.rate, "new connections per second over all lcores (0: as fast as --concurrency "
                                       "allows)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--concurrency", opt.concurrency, "cap on open connections over all lcores (0: none; "
                                                     "default 0, or 1000 with --rate 0)");
    app.add_option("-n,--connections", opt.connections, "connections to attempt in all, then stop (0: no limit)");
    app.add_option("-d,--duration", opt.duration_s, "seconds to open connections for (default 10 without "
                                                    "--connections)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--ramp", opt.ramp_s, "seconds to reach --rate from zero, linearly")->check(CLI::NonNegativeNumber);
    app.add_option("--method", opt.http.method, "HTTP request method (default GET)");
    app.add_option("--host", opt.http.host, "HTTP Host field (default: the first target, with its port unless 80)");
    app.add_option("--path", opt.http.path, "HTTP request target (default /)");
    app.add_option("--header", opt.http.headers, "an extra HTTP header field, 'Name: value' (repeatable)");
    app.add_option("--request-size", opt.request_size, "send N raw bytes as the request instead of an HTTP GET")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 20));
    app.add_option("--response-size", opt.response_size, "raw requests: bytes expected back (default: the request "
                                                         "size, as from an echo server); HTTP responses carry "
                                                         "their own length")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30));
    app.add_option("--requests-per-connection", opt.requests_per_connection, "requests sent one after another "
                                                                             "on each connection (keep-alive); 0: connect, "
                                                                             "then close as --close says")
        ->check(CLI::Range(0u, 1u << 20));
    app.add_option("--close", opt.close, "who ends the connection: client (FIN after the last response), server "
                                         "(wait for the server's FIN) or reset (RST after the last response)")
        ->check(CLI::IsMember({"client", "server", "reset"}));
    app.add_option("--source-ips", opt.source_ips, "source addresses A or A-B inside the port's prefix (default: "
                                                   "the port's own address)");
    app.add_option("--source-ports", opt.source_ports, "source ports LO-HI (default 1024-65535)");
    app.add_option("--stats-interval", opt.stats_interval_s, "seconds between rows (0: none)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--json", opt.json_path, "write the summary and every row as JSON to this file");
    app.add_option("--json-lines", opt.json_lines_path, "stream JSON lines to this file as the run goes: the run's "
                                                         "options first, then one object per row, then the summary");
    app.add_option("--histogram", opt.histogram_path, "write the run's latency histogram to this file as "
                                                      "HdrHistogram's percentile distribution (.hgrm), in ms");
    app.add_option("--histogram-of", opt.histogram_of, "which latency --histogram writes: connect (SYN to "
                                                       "established, the default), first-byte or connection")
        ->check(CLI::IsMember({"connect", "first-byte", "connection"}));
    app.add_option("--hold", opt.hold_s, "seconds each connection stays open after its last response (or after "
                                         "the handshake with --requests-per-connection 0), then ends as --close "
                                         "says")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--request-interval", opt.request_interval_s, "seconds between a response and the next "
                                                                 "request on a connection")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--min-rate", opt.min_rate, "exit status 1 when the rate achieved over the opening time "
                                               "(connections, or flood segments, per second) is below this")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-error-rate", opt.max_error_rate, "failed / attempted above which the exit status is 1")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--drain-timeout", opt.drain_timeout_s, "seconds open connections get to finish after the "
                                                           "opening ends (default 10, plus --hold and the "
                                                           "request intervals)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--warmup", opt.warmup_s, "seconds to wait after the ports start before opening connections "
                                             "(for a peer that configures its side of the link first)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--lcores", opt.lcores, "lcores to run on, e.g. 0,1 or 0-3 (replaces the file's)");
    app.add_option("--serve", opt.serve, "also serve on this port, in this process (respond mode for HTTP, echo "
                                         "for raw requests): a loopback benchmark over net_ring")
        ->check(CLI::Range(1, 65535));
    app.add_option("-l,--log-level", opt.log_level, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_flag("--check-config", opt.check_config, "validate the configuration and options, and exit");
    app.add_flag("--all-counters", opt.all_counters, "print every counter at exit, zeros included");
    app.add_option("--flood", opt.flood, "instead of connections, send segments of no connection at --rate "
                                         "(0: as fast as the device takes them) from random --source-ips (any "
                                         "addresses, which this end neither owns nor answers for) and "
                                         "--source-ports: syn, ack, rst or fin; --connections counts segments")
        ->check(CLI::IsMember({"syn", "ack", "rst", "fin"}));
    try {
        std::reverse(own_args.begin(), own_args.end()); // CLI11 takes them last-first
        app.parse(own_args);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    auto log = spdlog::stderr_color_mt("app.client");
    spdlog::set_default_logger(log);
    spdlog::set_level(spdlog::level::from_str(opt.log_level));

    const auto bad = [](const std::string &msg) {
        std::cerr << msg << '\n';
        return 2;
    };
    const auto target = client::parse_target(opt.target);
    if (!target) return bad("--target: '" + opt.target + "' is not IP:PORT, or ranges A-B:P-Q of them");
    if (opt.request_size >= 0 && (!opt.http.headers.empty() || opt.http.method != "GET" || opt.http.path != "/" ||
                                  !opt.http.host.empty()))
        return bad("--method, --host, --path and --header shape the HTTP request, which --request-size replaces");
    if (const auto why = client::http_shape_error(opt.http)) return bad(*why);
    std::optional<std::pair<ipv4_addr, std::uint32_t>> sources;
    if (!opt.source_ips.empty() && !(sources = client::parse_ip_range(opt.source_ips)))
        return bad("--source-ips: '" + opt.source_ips + "' is not an address or a range A-B");
    std::optional<std::pair<std::uint16_t, std::uint16_t>> ports;
    if (!opt.source_ports.empty() && !(ports = client::parse_port_range(opt.source_ports)))
        return bad("--source-ports: '" + opt.source_ports + "' is not a range LO-HI of ports 1..65535");
    if (opt.response_size >= 0 && opt.request_size < 0)
        return bad("--response-size: only for raw requests (--request-size); HTTP responses carry their length");
    const auto flood = opt.flood.empty() ? client::flood_kind::none : *client::parse_flood_kind(opt.flood);
    if (flood != client::flood_kind::none && !sources)
        return bad("--flood: needs --source-ips, the addresses the segments claim to come from");
    if (opt.duration_s == 0 && opt.connections == 0) opt.duration_s = 10;
    if (opt.drain_timeout_s < 0)
        opt.drain_timeout_s = 10 + opt.hold_s +
                              opt.request_interval_s * std::max<double>(0, double(opt.requests_per_connection) - 1);
    if (opt.rate == 0 && opt.concurrency == 0 && flood == client::flood_kind::none)
        opt.concurrency = 1000; // as fast as possible, but bounded

    const auto loaded = linerate::app::load_config(opt.config_path, opt.lcores);
    if (!loaded) return 2;
    const linerate::config::app_config &cfg = *loaded;
    if (opt.check_config) {
        std::cout << opt.config_path << ": ok\n";
        return 0;
    }

    const std::vector<std::uint8_t> request = make_request(opt, opt.http, *target);
    const std::vector<std::uint8_t> served_response = linerate::server::http_response(64);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    int status = 0;
    try {
        linerate::engine::runtime rt(cfg, program, eal_args);
        for (const auto &p : rt.ports())
            log->info("port {} ({}, port id {}): mac {}, address {}, {} RX / {} TX queue(s), rss {}, tx checksum {}",
                      p.name, p.device_name, p.port_id, p.mac, p.address, p.rx_queues, p.tx_queues,
                      p.rss ? "on" : "off", p.tx_checksum);
        // A flood's sources are spoofed: the port neither owns them nor answers ARP for
        // them, so what the target sends back to them goes nowhere, as in a real flood.
        if (sources && flood == client::flood_kind::none) rt.add_addresses(sources->first, sources->second);
        if (ports) rt.set_source_ports(ports->first, ports->second);
        const unsigned nw = rt.workers();

        // Each lcore takes an equal share of the rate, the cap and the count.
        client::run_phase phase;
        // The run's stop flag, set by the control thread (below); each lcore's context
        // (what the handlers act with, as liblinerate's stack makes it) refers to it.
        std::atomic<bool> stop{false};
        std::vector<std::unique_ptr<linerate::api::lcore_state>> contexts;
        std::vector<std::unique_ptr<client::generator>> gens;
        for (unsigned w = 0; w < nw; ++w) {
            client::settings s;
            s.target = target->first;
            s.target_port = target->port_lo;
            s.target_count = target->count;
            s.target_port_count = static_cast<std::uint32_t>(target->port_hi - target->port_lo) + 1;
            s.rate = opt.rate / nw;
            s.ramp_s = opt.ramp_s;
            s.concurrency = opt.concurrency == 0 ? 0 : std::max<std::uint64_t>(1, (opt.concurrency + nw - 1) / nw);
            s.connections = opt.connections == 0 ? client::unlimited
                                                 : opt.connections / nw + (w < opt.connections % nw ? 1 : 0);
            s.requests_per_connection = opt.requests_per_connection;
            s.no_response = opt.request_size >= 0 && opt.response_size == 0;
            s.hold_us = static_cast<std::uint64_t>(opt.hold_s * 1e6);
            s.request_interval_us = static_cast<std::uint64_t>(opt.request_interval_s * 1e6);
            s.response_size = static_cast<std::uint32_t>(
                opt.request_size < 0 ? 0 : opt.response_size >= 0 ? opt.response_size : opt.request_size);
            s.close = opt.close == "client" ? client::close_mode::client
                      : opt.close == "reset" ? client::close_mode::reset
                                             : client::close_mode::server;
            s.request = request;
            s.flood = flood;
            if (sources) s.sources = {.first = sources->first, .count = sources->second};
            if (ports) {
                s.sources.port_lo = ports->first;
                s.sources.port_hi = ports->second;
            }
            s.seed = 0x6c696e6572617465ull + w; // each lcore its own stream
            gens.push_back(std::make_unique<client::generator>(s, phase, cfg.tcp.max_connections));
            // The generator opens connections every turn, after the context's own poll.
            contexts.push_back(std::make_unique<linerate::api::lcore_state>(rt.lcore_of(w), 0, stop));
            contexts.back()->chain(gens.back().get());
            gens.back()->set_context(*contexts.back());
        }
        rt.set_pollers([&](unsigned w) -> linerate::engine::poller * { return contexts[w].get(); });

        std::vector<std::unique_ptr<linerate::server::server_app>> servers;
        // Raw requests with a --response-size get the server's raw respond mode, closing
        // first unless the client closes (perf/instructions' loopback of perf/cps's cases);
        // raw requests without one are echoed; HTTP requests get the HTTP response.
        const bool raw_respond = opt.request_size >= 0 && opt.response_size >= 0;
        const std::vector<std::uint8_t> served =
            raw_respond ? linerate::server::raw_response(static_cast<std::uint64_t>(opt.response_size)) : served_response;
        if (opt.serve != 0) {
            const auto mode = opt.request_size < 0 || raw_respond ? linerate::server::mode::respond
                                                                   : linerate::server::mode::echo;
            for (unsigned w = 0; w < nw; ++w)
                servers.push_back(
                    std::make_unique<linerate::server::server_app>(mode, served, opt.close != "client"));
            if (!rt.listen(opt.serve, [&](unsigned w) -> linerate::handler & { return *servers[w]; })) {
                log->error("cannot listen on port {}", opt.serve);
                return 2;
            }
        }
        log->info("{} lcore(s){}, target {}, rate {}, concurrency {}, {}, close {}", nw,
                  rt.software_dispatch() ? " (software dispatch)" : "", opt.target,
                  opt.rate == 0 ? std::string("unlimited") : fmt::format("{}/s", opt.rate),
                  opt.concurrency == 0 ? std::string("unlimited") : std::to_string(opt.concurrency),
                  opt.connections != 0 ? fmt::format("{} connections", opt.connections)
                                       : fmt::format("{} s", opt.duration_s),
                  opt.close);
        log->info("running; SIGINT or SIGTERM stops");

        // --json-lines: the run's options now, a line per row as it is made, the summary
        // at the end; each line flushed, so a run cut short still leaves what it did.
        std::ofstream lines;
        if (!opt.json_lines_path.empty()) {
            lines.open(opt.json_lines_path);
            if (!lines) {
                log->error("cannot write {}", opt.json_lines_path);
                return 2;
            }
            lines << "{\"type\": \"start\", " << run_json(opt) << "}" << std::endl;
        }
        // This interval's latency percentiles: each lcore switches to its other pair of
        // histograms (generator::start_interval), and the finished pairs are merged.
        std::uint32_t interval = 0;
        const auto interval_latency = [&](row &r) {
            const std::uint32_t next = interval + 1;
            for (const auto &g : gens) g->start_interval(next);
            // Each lcore switches at its next loop turn; bounded in case one is stuck, whose
            // histograms are then left out of this row (it may still be writing them).
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
            client::histogram con, fb;
            for (const auto &g : gens) {
                while (!g->interval_started(next) && std::chrono::steady_clock::now() < deadline)
                    std::this_thread::yield();
                if (!g->interval_started(next)) continue;
                con.merge(g->interval_connect_us(interval));
                fb.merge(g->interval_first_byte_us(interval));
                g->clear_interval(interval);
            }
            interval = next;
            r.connect_p50 = con.percentile(0.50);
            r.connect_p99 = con.percentile(0.99);
            r.first_byte_p50 = fb.percentile(0.50);
            r.first_byte_p99 = fb.percentile(0.99);
        };

        // The control thread: rows, and the run's end (see the file's comment).
        std::vector<row> rows;
        double opening_s = 0;
        const auto started = std::chrono::steady_clock::now();
        const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
        std::thread control([&] {
            // The run starts when every lcore's loop is polling (starting its ports takes
            // a moment after this thread's clock began) and the warm-up is over, so that
            // --duration is the time the generators really had: a pacer started 50 ms
            // late would fall 50 ms of its rate short. Bounded, in case a loop never
            // comes up (the run then ends by its duration as before).
            const auto all_polling = [&] {
                for (const auto &g : gens)
                    if (!g->polling()) return false;
                return true;
            };
            while ((elapsed() < opt.warmup_s || (!all_polling() && elapsed() < opt.warmup_s + 30)) &&
                   !stop_requested.load(std::memory_order_relaxed))
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            const double warm = elapsed();
            phase.started.store(true, std::memory_order_relaxed);
            const auto take = [&] { return take_sample(gens, rt); };
            sample prev = take();
            double prev_t = warm;
            double next_row = warm + opt.stats_interval_s;
            double drain_from = -1;
            if (opt.stats_interval_s > 0) print_header(flood != client::flood_kind::none);
            for (;;) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                const double now = elapsed();
                const bool interrupted = stop_requested.load(std::memory_order_relaxed);
                if (drain_from < 0) {
                    bool all_done = opt.connections != 0;
                    for (const auto &g : gens) all_done = all_done && g->quota_done();
                    if (interrupted || all_done || (opt.duration_s > 0 && now - warm >= opt.duration_s)) {
                        phase.opening.store(false, std::memory_order_relaxed);
                        drain_from = now;
                        opening_s = now - warm;
                    }
                }
                // The whole sample (every lcore's and port's counters) only for a row: the
                // end of the run needs the generators' counts alone, and this loop turns
                // fifty times a second.
                const bool row_due = opt.stats_interval_s > 0 && now >= next_row;
                const sample cur = row_due ? take() : sample{sum(gens), {}, {}, {}, {}};
                if (row_due) {
                    rows.push_back(make_row(prev, cur, now - warm, now - prev_t));
                    interval_latency(rows.back());
                    print_row(rows.back(), flood != client::flood_kind::none);
                    if (lines.is_open()) {
                        std::string j = row_json(rows.back());
                        lines << "{\"type\": \"interval\", " << j.substr(1) << std::endl;
                    }
                    prev = cur;
                    prev_t = now;
                    next_row += opt.stats_interval_s;
                }
                if (drain_from >= 0 &&
                    (interrupted || cur.g.opened == cur.g.closed || now - drain_from >= opt.drain_timeout_s)) {
                    stop.store(true, std::memory_order_relaxed);
                    return;
                }
            }
        });
        linerate::engine::run_options ro;
        // A backstop only: the control thread ends the run well before.
        ro.duration_ms = static_cast<std::uint64_t>((opt.warmup_s + opt.duration_s + opt.drain_timeout_s + 60) * 1000);
        if (opt.connections != 0) ro.duration_ms = 0;
        rt.run(stop, ro);
        stop.store(true);
        control.join();
        const double total_s = elapsed();
        if (opening_s == 0) opening_s = total_s;

        // The summary. The lcores have stopped: their counters and histograms are final.
        const client::gen_counters g = sum(gens);
        std::array<latency, 3> lat{{{"connect", {}}, {"first-byte", {}}, {"connection", {}}}};
        for (const auto &gen : gens) {
            lat[0].h.merge(gen->connect_us());
            lat[1].h.merge(gen->first_byte_us());
            lat[2].h.merge(gen->connection_us());
        }
        const std::uint64_t attempted = g.opened + g.failures[static_cast<std::size_t>(client::failure::no_route)];
        // A flood opens nothing: it failed only if it sent nothing.
        const double error_rate = flood != client::flood_kind::none ? (g.flood_sent == 0 ? 1.0 : 0.0)
                                  : attempted == 0                  ? 1.0
                                                                    : static_cast<double>(g.failed) / static_cast<double>(attempted);
        const double cps = static_cast<double>(g.opened) / std::max(opening_s, 1e-3);
        std::printf("summary: %.1f s opening, %.1f s in all, %u lcore(s)\n", opening_s, total_s, nw);
        std::printf("  connections: attempted %llu, opened %llu, established %llu, completed %llu, failed %llu "
                    "(error rate %.4f%%)\n",
                    static_cast<unsigned long long>(attempted), static_cast<unsigned long long>(g.opened),
                    static_cast<unsigned long long>(g.established), static_cast<unsigned long long>(g.completed),
                    static_cast<unsigned long long>(g.failed), error_rate * 100);
        std::printf("  rate: %.0f connections/s opened over the opening time\n", cps);
        const double flood_rate = static_cast<double>(g.flood_sent) / std::max(opening_s, 1e-3);
        if (flood != client::flood_kind::none)
            std::printf("  flood: %s segments sent %llu, %.0f/s over the opening time, missed (due, not sent) %llu\n",
                        std::string(client::to_string(flood)).c_str(), static_cast<unsigned long long>(g.flood_sent),
                        flood_rate, static_cast<unsigned long long>(g.missed));
        std::printf("  requests %llu, responses %llu, bytes out %llu, bytes in %llu\n",
                    static_cast<unsigned long long>(g.requests), static_cast<unsigned long long>(g.responses),
                    static_cast<unsigned long long>(g.bytes_out), static_cast<unsigned long long>(g.bytes_in));
        std::printf("  errors:");
        for (std::size_t i = 0; i < client::failure_count; ++i) {
            const auto name = client::to_string(static_cast<client::failure>(i));
            std::printf(" %.*s %llu", static_cast<int>(name.size()), name.data(),
                        static_cast<unsigned long long>(g.failures[i]));
        }
        std::printf("\n  deferred opens (limits of this end): no_source %llu, no_memory %llu; missed (due at the rate,"
                    " not made) %llu\n",
                    static_cast<unsigned long long>(g.deferred[0]), static_cast<unsigned long long>(g.deferred[1]),
                    static_cast<unsigned long long>(g.missed));
        std::printf("latency (us)        count      p50      p90      p99    p99.9      max\n");
        for (const auto &l : lat)
            std::printf("  %-12.*s %10llu %8llu %8llu %8llu %8llu %8llu\n", static_cast<int>(l.name.size()),
                        l.name.data(), static_cast<unsigned long long>(l.h.count()),
                        static_cast<unsigned long long>(l.h.percentile(percentiles[0])),
                        static_cast<unsigned long long>(l.h.percentile(percentiles[1])),
                        static_cast<unsigned long long>(l.h.percentile(percentiles[2])),
                        static_cast<unsigned long long>(l.h.percentile(percentiles[3])),
                        static_cast<unsigned long long>(l.h.max()));
        linerate::app::print_counters(rt, opt.all_counters);
        linerate::app::print_lcores(rt);
        linerate::app::print_ports(rt);
        std::fflush(stdout);

        // The summary as JSON: everything above but the rows, which --json adds and
        // --json-lines has already streamed.
        std::string j = fmt::format("  {},\n  \"seconds_opening\": {:.3f},\n  \"seconds\": {:.3f},\n  \"lcores_used\": {},\n"
                                    "  \"attempted\": {},\n  \"opened\": {},\n  \"established\": {},\n"
                                    "  \"completed\": {},\n  \"failed\": {},\n  \"error_rate\": {:.6f},\n"
                                    "  \"connections_per_second\": {:.1f},\n  \"requests\": {},\n"
                                    "  \"responses\": {},\n  \"bytes_out\": {},\n  \"bytes_in\": {},\n  \"errors\": {{",
                                    run_json(opt), opening_s, total_s, nw, attempted, g.opened, g.established,
                                    g.completed, g.failed, error_rate, cps, g.requests, g.responses, g.bytes_out,
                                    g.bytes_in);
        for (std::size_t i = 0; i < client::failure_count; ++i)
            j += fmt::format("{}\"{}\": {}", i ? ", " : "", client::to_string(static_cast<client::failure>(i)),
                             g.failures[i]);
        j += fmt::format("}},\n  \"deferred\": {{\"no_source\": {}, \"no_memory\": {}}},\n  \"missed\": {},\n"
                         "  \"flood\": {{\"kind\": \"{}\", \"sent\": {}, \"per_second\": {:.1f}}},\n"
                         "  \"latency_us\": {{",
                         g.deferred[0], g.deferred[1], g.missed, client::to_string(flood), g.flood_sent, flood_rate);
        for (std::size_t k = 0; k < lat.size(); ++k)
            j += fmt::format("{}\n    \"{}\": {{\"count\": {}, \"p50\": {}, \"p90\": {}, \"p99\": {}, "
                             "\"p99.9\": {}, \"max\": {}, \"mean\": {:.1f}}}",
                             k ? "," : "", lat[k].name, lat[k].h.count(), lat[k].h.percentile(percentiles[0]),
                             lat[k].h.percentile(percentiles[1]), lat[k].h.percentile(percentiles[2]),
                             lat[k].h.percentile(percentiles[3]), lat[k].h.max(), lat[k].h.mean());
        j += "\n  },\n  " + linerate::app::counters_json(rt);
        if (!opt.json_path.empty()) {
            std::string rows_json = ",\n  \"rows\": [";
            for (std::size_t k = 0; k < rows.size(); ++k)
                rows_json += fmt::format("{}\n    {}", k ? "," : "", row_json(rows[k]));
            std::ofstream f(opt.json_path);
            f << "{\n" << j << rows_json << "\n  ]\n}\n";
            if (!f) log->error("cannot write {}", opt.json_path);
        }
        if (!opt.histogram_path.empty()) {
            const auto &h = std::find_if(lat.begin(), lat.end(), [&](const latency &l) { return l.name == opt.histogram_of; })->h;
            std::ofstream f(opt.histogram_path);
            f << client::percentile_distribution(h, 1000.0);
            if (!f) log->error("cannot write {}", opt.histogram_path);
        }
        if (lines.is_open()) {
            // One line: the summary has no newline inside a string (json_string escapes them).
            std::string one = j;
            std::erase(one, '\n');
            lines << "{\"type\": \"summary\", " << one << "}" << std::endl;
            if (!lines) log->error("cannot write {}", opt.json_lines_path);
        }
        status = error_rate <= opt.max_error_rate ? 0 : 1;
        if (status != 0) log->warn("error rate {:.4f}% is above --max-error-rate {:.4f}%", error_rate * 100,
                                   opt.max_error_rate * 100);
        // --min-rate: a run that fell short of the rate asked says so in its status.
        const double achieved = flood != client::flood_kind::none ? flood_rate : cps;
        if (opt.min_rate > 0 && achieved < opt.min_rate) {
            log->warn("rate {:.1f}/s is below --min-rate {:.1f}/s (missed {})", achieved, opt.min_rate, g.missed);
            status = 1;
        }
    } catch (const linerate::device::error &e) {
        log->error("{}", e.what());
        return 1;
    }
    return status;
}
