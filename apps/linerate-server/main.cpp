// linerate-server: accepts TCP connections at line rate (TCP arrives with later
// issues; for now it answers ARP and ping on every configured port).
//
//   linerate-server [EAL options] -- --config FILE [options]
//
// As in every DPDK program, EAL options come first and ours after `--`. EAL options
// from the file's [eal] table are placed before the command line's, so the command
// line can add to or override them. The configuration is loaded and validated before
// EAL starts: a bad file is reported as `file:line: message` and touches no device.
#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/runtime.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
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
};

void print_counters(const linerate::engine::counters &c, bool all) {
    std::printf("counters:\n");
    std::size_t mib = 0;
    c.for_each([&](std::string_view name, std::uint64_t v) {
        // MIB counters are always shown, so scripts find them; drop reasons only when
        // they happened, unless asked for all.
        const bool is_mib = mib++ < linerate::engine::mib_counters.size();
        if (is_mib || all || v != 0)
            std::printf("  %-28.*s %llu\n", static_cast<int>(name.size()), name.data(),
                        static_cast<unsigned long long>(v));
    });
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
    const std::string program = argc > 0 ? argv[0] : "linerate-server";
    // Split at the first "--": EAL options before it, ours after. Without "--", every
    // argument is ours, so that `linerate-server --help` works as people expect.
    std::vector<std::string> eal_args, own_args;
    {
        std::vector<std::string> all(argv + 1, argv + argc);
        const auto sep = std::find(all.begin(), all.end(), "--");
        if (sep == all.end()) {
            own_args = all;
        } else {
            eal_args.assign(all.begin(), sep);
            own_args.assign(sep + 1, all.end());
        }
    }

    options opt;
    CLI::App app{"linerate-server: a TCP endpoint on DPDK that accepts connections at line rate.\n"
                 "For now it answers ARP and ICMP echo on every configured port and counts "
                 "everything else by drop reason.\n\n"
                 "  linerate-server [EAL options] -- --config FILE [options]\n",
                 "linerate-server"};
    app.footer("EAL options (see `dpdk-testpmd --help`) go before `--`; the file's [eal] args come first, then "
               "these.\nSIGINT or SIGTERM stops the loop; the counters are printed and the exit status is 0.\n"
               "Exit status: 0 normal stop, 1 device or EAL failure, 2 bad configuration or options.");
    app.add_option("-c,--config", opt.config_path, "configuration file (see drivers-config/*.toml)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("-d,--duration", opt.duration_s, "stop by itself after this many seconds (0: run until a signal)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("-l,--log-level", opt.log_level, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_flag("--check-config", opt.check_config, "validate the configuration and exit (0 if valid)");
    app.add_flag("--all-counters", opt.all_counters, "print every counter at exit, zeros included");
    try {
        std::reverse(own_args.begin(), own_args.end()); // CLI11 takes them last-first
        app.parse(own_args);
    } catch (const CLI::ParseError &e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    auto log = spdlog::stderr_color_mt("app.server");
    spdlog::set_default_logger(log);
    spdlog::set_level(spdlog::level::from_str(opt.log_level));

    linerate::config::app_config cfg;
    try {
        cfg = linerate::config::load_file(opt.config_path);
    } catch (const linerate::config::error &e) {
        std::cerr << e.what() << '\n';
        return 2;
    }
    if (opt.check_config) {
        std::cout << opt.config_path << ": ok\n";
        return 0;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    try {
        linerate::engine::runtime rt(cfg, program, eal_args);
        for (const auto &p : rt.ports())
            log->info("port {} ({}, port id {}): mac {}, address {}, {} queue pair(s)", p.name, p.device_name,
                      p.port_id, p.mac, p.address, p.queues);
        log->info("running; SIGINT or SIGTERM stops");
        linerate::engine::run_options ro;
        ro.duration_ms = static_cast<std::uint64_t>(opt.duration_s * 1000.0);
        rt.run(stop_requested, ro);
        log->info("stopped");
        print_counters(rt.totals(), opt.all_counters);
    } catch (const linerate::device::error &e) {
        log->error("{}", e.what());
        return 1;
    }
    return 0;
}
