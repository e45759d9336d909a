// linerate-server: accepts TCP connections at line rate and echoes, responds or
// discards, on every lcore it is given.
//
//   linerate-server [EAL options] -- --config FILE [--listen PORT[:MODE]]... [options]
//
// As in every DPDK program, EAL options come first and ours after `--`. EAL options
// from the file's [eal] table are placed before the command line's, so the command
// line can add to or override them. The configuration is loaded and validated before
// EAL starts: a bad file is reported as `file:line: message` and touches no device.
//
// Counters: one line per --stats-interval on stdout while running, from a control
// thread that reads the lcores' counters without stopping them; on exit the summary
// (every MIB counter, each drop reason that happened, and per-lcore figures), and with
// --json the same as JSON.
#include "app_common.hpp"
#include "lcore_state.hpp"
#include "modes.hpp"

#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/runtime.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
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

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler stores to it");

extern "C" void on_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

struct options {
    std::string config_path;
    double duration_s = 0;
    std::string log_level = "info";
    bool check_config = false;
    bool all_counters = false;
    std::vector<std::string> listen; // "PORT" or "PORT:MODE"
    std::string mode = "respond";
    std::uint64_t response_size = 64;
    bool raw = false;
    std::string close = "server";
    double stats_interval_s = 1;
    std::string json_path;
    std::string lcores;
    std::string isn_key;
    bool frozen_clock = false;
};

using linerate::engine::counters;
using linerate::engine::runtime;

std::uint64_t in_state(const linerate::tcp::counters &t, linerate::tcp::state s) {
    return t.in_state[static_cast<std::size_t>(s)];
}

std::uint64_t time_wait_total(const std::vector<linerate::engine::worker_snapshot> &snap) {
    std::uint64_t n = 0;
    for (const auto &w : snap) n += w.time_wait_entries + in_state(w.tcp, linerate::tcp::state::time_wait);
    return n;
}

void print_summary(const runtime &rt, const std::vector<const linerate::server::server_app *> &apps, bool all) {
    linerate::app::print_counters(rt, all);
    const auto line = [](std::string_view name, std::uint64_t v) {
        std::printf("  %-28.*s %llu\n", static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(v));
    };
    linerate::server::app_counters a{};
    for (const auto *app : apps) {
        const auto &s = app->stats();
        a.requests += s.requests;
        a.responses += s.responses;
        a.bytes_in += s.bytes_in;
        a.bytes_out += s.bytes_out;
        a.short_sends += s.short_sends;
        a.closed_normal += s.closed_normal;
        a.closed_reset += s.closed_reset;
        a.closed_timeout += s.closed_timeout;
        a.closed_aborted += s.closed_aborted;
    }
    std::printf("application:\n");
    line("Requests", a.requests);
    line("Responses", a.responses);
    line("BytesIn", a.bytes_in);
    line("BytesOut", a.bytes_out);
    line("EchoShortSends", a.short_sends);
    line("ClosedNormal", a.closed_normal);
    line("ClosedReset", a.closed_reset);
    line("ClosedTimeout", a.closed_timeout);
    line("ClosedAborted", a.closed_aborted);
    linerate::app::print_lcores(rt);
    linerate::app::print_ports(rt);
    std::fflush(stdout);
}

std::string summary_json(const runtime &rt, double seconds) {
    return fmt::format("{{\n  \"seconds\": {:.3f},\n  {}\n}}\n", seconds, linerate::app::counters_json(rt));
}

} // namespace

int main(int argc, char **argv) {
    auto [program, eal_args, own_args] = linerate::app::split_command_line(argc, argv, "linerate-server");
    options opt;
    CLI::App app{"linerate-server: a TCP endpoint on DPDK that accepts connections at line rate and echoes, "
                 "responds or discards.\n\n"
                 "  linerate-server [EAL options] -- --config FILE [--listen PORT[:MODE]]... [options]\n",
                 "linerate-server"};
    app.footer("EAL options (see `dpdk-testpmd --help`) go before `--`; the file's [eal] args come first, then "
               "these.\nSIGINT or SIGTERM stops the loop: open connections are reset, the summary is printed and "
               "the exit status is 0.\nTelemetry: dpdk-telemetry.py answers /linerate/stats, /linerate/tcp/states "
               "and /linerate/lcores.\n"
               "Exit status: 0 normal stop, 1 device or EAL failure, 2 bad configuration or options.");
    app.add_option("-c,--config", opt.config_path, "configuration file (see drivers-config/*.toml)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--listen", opt.listen, "TCP port to accept connections on, with its own mode if given as "
                                           "PORT:MODE (e.g. --listen 7:echo --listen 80:respond --listen 9:discard; "
                                           "a plain PORT takes --mode); repeatable, default 80");
    app.add_option("--mode", opt.mode, "echo: send back what arrives; respond: answer each request with an HTTP "
                                       "200 of --response-size bytes and close; discard: read and drop")
        ->check(CLI::IsMember({"echo", "respond", "discard"}));
    app.add_option("--response-size", opt.response_size, "respond mode: body bytes of the response (default 64)")
        ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
    app.add_flag("--raw", opt.raw, "respond mode: the response is --response-size bytes and nothing else (no "
                                   "HTTP header), for raw requests (linerate-client --request-size)");
    app.add_option("--close", opt.close, "respond mode: server closes right after the response (default); client "
                                         "waits for the peer's FIN first, so TIME-WAIT is the client's, and "
                                         "answers each request on the connection meanwhile (keep-alive)")
        ->check(CLI::IsMember({"server", "client"}));
    app.add_option("--lcores", opt.lcores, "lcores to run workers on, e.g. 0,1 or 0-3 (replaces the file's)");
    app.add_option("--stats-interval", opt.stats_interval_s, "seconds between counter lines (0: none)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--json", opt.json_path, "write the summary as JSON to this file at exit");
    app.add_option("-d,--duration", opt.duration_s, "stop by itself after this many seconds (0: run until a signal)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("-l,--log-level", opt.log_level, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_flag("--check-config", opt.check_config, "validate the configuration and exit (0 if valid)");
    app.add_flag("--all-counters", opt.all_counters, "print every counter at exit, zeros included");
    app.add_option("--isn-key", opt.isn_key, "fixed RFC 6528 ISN secret, 32 hex digits: for reproducible captures "
                                             "only (a known key makes ISNs predictable)");
    app.add_flag("--frozen-clock", opt.frozen_clock, "time stands still at zero (no timer fires): with --isn-key, "
                                                     "replaying a capture gives the same segments every time");
    try {
        std::reverse(own_args.begin(), own_args.end()); // CLI11 takes them last-first
        app.parse(own_args);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (opt.listen.empty()) opt.listen.push_back("80");
    std::vector<std::pair<std::uint16_t, linerate::server::mode>> listens;
    for (const std::string &l : opt.listen) {
        const auto spec = linerate::server::parse_listen(l, opt.mode);
        if (!spec) {
            std::cerr << "--listen: '" << l << "' is not PORT (1-65535) or PORT:MODE (echo, respond or discard)\n";
            return 2;
        }
        for (const auto &[port, m] : listens)
            if (port == spec->first) {
                std::cerr << "--listen: port " << port << " given twice\n";
                return 2;
            }
        listens.push_back(*spec);
    }

    auto log = spdlog::stderr_color_mt("app.server");
    spdlog::set_default_logger(log);
    spdlog::set_level(spdlog::level::from_str(opt.log_level));

    const auto loaded = linerate::app::load_config(opt.config_path, opt.lcores);
    if (!loaded) return 2;
    const linerate::config::app_config &cfg = *loaded;
    linerate::engine::runtime_options ropts;
    ropts.frozen_clock = opt.frozen_clock;
    if (!opt.isn_key.empty()) {
        ropts.isn_key = linerate::app::parse_key(opt.isn_key);
        if (!ropts.isn_key) {
            std::cerr << "--isn-key: expected 32 hexadecimal digits\n";
            return 2;
        }
    }
    if (opt.check_config) {
        std::cout << opt.config_path << ": ok\n";
        return 0;
    }

    const std::vector<std::uint8_t> response = opt.raw ? linerate::server::raw_response(opt.response_size)
                                                       : linerate::server::http_response(opt.response_size);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    try {
        runtime rt(cfg, program, eal_args, ropts);
        for (const auto &p : rt.ports())
            log->info("port {} ({}, port id {}): mac {}, address {}, {} RX / {} TX queue(s), rss {}, tx checksum {}",
                      p.name, p.device_name, p.port_id, p.mac, p.address, p.rx_queues, p.tx_queues,
                      p.rss ? "on" : "off", p.tx_checksum);
        // Each worker's lcore_context, as liblinerate's stack makes it: what the server's
        // handlers act with. The server arms no timers.
        std::vector<std::unique_ptr<linerate::api::lcore_state>> contexts;
        // One app per listening port per worker, each in its port's mode; the summary
        // adds them all up.
        std::vector<std::unique_ptr<linerate::server::server_app>> apps;
        std::vector<const linerate::server::server_app *> app_views;
        for (unsigned w = 0; w < rt.workers(); ++w)
            contexts.push_back(std::make_unique<linerate::api::lcore_state>(rt.lcore_of(w), 0, stop_requested));
        rt.set_pollers([&](unsigned w) -> linerate::engine::poller * { return contexts[w].get(); });
        std::vector<std::string> described;
        for (const auto &[port, m] : listens) {
            const std::size_t first = apps.size();
            for (unsigned w = 0; w < rt.workers(); ++w) {
                apps.push_back(std::make_unique<linerate::server::server_app>(m, response, opt.close == "server"));
                app_views.push_back(apps.back().get());
            }
            if (!rt.listen(port, [&apps, first](unsigned w) -> linerate::handler & { return *apps[first + w]; })) {
                log->error("cannot listen on port {}: too many listeners", port);
                return 2;
            }
            described.push_back(fmt::format("{} ({})", port, linerate::server::to_string(m)));
        }
        log->info("{} worker(s){}, listening on {}", rt.workers(), rt.software_dispatch() ? " (software dispatch)" : "",
                  fmt::join(described, ", "));
        log->info("running; SIGINT or SIGTERM stops");

        // The control thread: one line of counters per interval, read from the lcores'
        // counters without stopping them.
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false;
        std::thread control;
        const auto started = std::chrono::steady_clock::now();
        if (opt.stats_interval_s > 0) {
            control = std::thread([&] {
                auto prev_t = rt.tcp_totals();
                auto prev_c = rt.totals();
                auto next = started;
                const auto step = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(opt.stats_interval_s));
                for (;;) {
                    next += step;
                    std::unique_lock lk(mu);
                    if (cv.wait_until(lk, next, [&] { return finished; })) return;
                    lk.unlock();
                    const auto t = rt.tcp_totals();
                    const auto c = rt.totals();
                    const auto snap = rt.snapshot();
                    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                    const double per = opt.stats_interval_s;
                    std::printf("%8.1fs  accepts/s %9.0f  estab %7llu  time-wait %8llu  in/s %9.0f  out/s %9.0f  "
                                "retrans %6llu  rst-out %6llu  drops %6llu\n",
                                secs, static_cast<double>(t.passive_opens - prev_t.passive_opens) / per,
                                static_cast<unsigned long long>(t.curr_estab),
                                static_cast<unsigned long long>(time_wait_total(snap)),
                                static_cast<double>(t.in_segs - prev_t.in_segs) / per,
                                static_cast<double>(t.out_segs - prev_t.out_segs) / per,
                                static_cast<unsigned long long>(t.retrans_segs - prev_t.retrans_segs),
                                static_cast<unsigned long long>(t.out_rsts - prev_t.out_rsts),
                                static_cast<unsigned long long>(c.total_dropped() - prev_c.total_dropped()));
                    std::fflush(stdout);
                    prev_t = t;
                    prev_c = c;
                }
            });
        }

        linerate::engine::run_options ro;
        ro.duration_ms = static_cast<std::uint64_t>(opt.duration_s * 1000.0);
        rt.run(stop_requested, ro);
        {
            std::lock_guard lk(mu);
            finished = true;
        }
        cv.notify_all();
        if (control.joinable()) control.join();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        log->info("stopped after {:.1f} s", secs);
        print_summary(rt, app_views, opt.all_counters);
        if (!opt.json_path.empty()) {
            std::ofstream f(opt.json_path);
            f << summary_json(rt, secs);
            if (!f) log->error("cannot write {}", opt.json_path);
        }
    } catch (const linerate::device::error &e) {
        log->error("{}", e.what());
        return 1;
    }
    return 0;
}
