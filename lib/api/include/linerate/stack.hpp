/// @file
/// The stack: starts EAL, the ports and one loop per lcore from a configuration file,
/// listens with handlers made per lcore, runs, stops, and reports counters.
///
/// A minimal server (see apps/examples/echo_server.cpp for a complete one):
///
/// @code
///   linerate::stack s("drivers-config/net_tap.toml", {"--no-huge"});
///   s.listen(7, [](unsigned) { return std::make_unique<my_handler>(); });
///   s.run(stop_flag);
/// @endcode
#pragma once

#include <linerate/handler.hpp>
#include <linerate/types.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace linerate {

/// Makes the handler of one lcore, given the lcore's index (0 .. stack::lcores() - 1).
/// Called on the thread that calls listen() or attach(), once per lcore.
using handler_factory = std::function<std::unique_ptr<handler>(unsigned lcore_index)>;

/// How a stack is built, beyond its configuration file and EAL arguments.
struct stack_options {
    /// argv[0] as EAL sees it (it appears in EAL's log lines).
    std::string program_name = "linerate";
    /// The lcores to run loops on, replacing the file's `[eal] lcores`; empty keeps the file's.
    std::vector<unsigned> lcores{};
    /// Application timers each lcore can hold at once (lcore_context::schedule),
    /// allocated at start.
    std::uint32_t timers_per_lcore = 4096;
};

/// A port as the stack set it up.
struct port_info {
    /// Its `name` in the configuration.
    std::string name;
    /// DPDK's name for the device, e.g. "net_tap0".
    std::string device;
    /// Its MAC address, "aa:bb:cc:dd:ee:ff".
    std::string mac;
    /// The stack's address and prefix on it, e.g. "198.18.0.2/24".
    std::string address;
};

namespace detail {
struct stack_impl;
}

/// A running TCP endpoint: EAL, the configured ports, one loop per lcore.
///
/// One per process (EAL can be started once). Set-up calls (listen, attach) are made
/// from the thread that owns the stack, before run(); counters() and stop() may be
/// called from any thread at any time.
class stack {
public:
    /// Loads and checks the configuration file, then starts EAL (the file's `[eal]
    /// args`, then `eal_args`, as a DPDK program's options before `--`), the ports and
    /// one TCP shard per lcore. Throws linerate::error: error_kind::configuration
    /// ("FILE:LINE: message", before any device is touched) or error_kind::device.
    stack(const std::string &config_path, const std::vector<std::string> &eal_args,
          const stack_options &options = {});
    /// Stops what still runs, resets open connections and releases EAL and the ports.
    ~stack();
    /// One stack owns the process's EAL: not copied.
    stack(const stack &) = delete;
    /// Not assignable either.
    stack &operator=(const stack &) = delete;

    /// How many lcores run a loop.
    [[nodiscard]] unsigned lcores() const noexcept;

    /// The ports, in configuration order.
    [[nodiscard]] std::vector<port_info> ports() const;

    /// Listens on TCP `port` at every configured address, on every lcore: `factory`
    /// makes one handler per lcore (the stack owns them), which gets the connections
    /// accepted there. Call before run(). Throws error (error_kind::usage) when an
    /// lcore's listener table is full, the port is taken, or the stack is running.
    void listen(std::uint16_t port, const handler_factory &factory);

    /// Adds one handler per lcore that listens to nothing: it gets on_start, and may
    /// open connections and arm timers (a client, a periodic task). Call before run().
    void attach(const handler_factory &factory);

    /// Runs every lcore's loop (the calling thread runs the first) until stop() is
    /// called or `duration` has passed (zero: no limit); then resets the connections
    /// still open (their handlers get on_closed(aborted)) and returns.
    void run(std::chrono::milliseconds duration = std::chrono::milliseconds{0});

    /// As run(duration), and also stops soon after `stop_flag` becomes true (checked
    /// once per loop turn; setting it from a signal handler is fine).
    void run(const std::atomic<bool> &stop_flag, std::chrono::milliseconds duration = std::chrono::milliseconds{0});

    /// Makes run() return soon; if it is not running, the next run() returns at once.
    /// From any thread; async-signal-safe (a lock-free atomic store).
    void stop() noexcept;

    /// Every counter by name, summed over the lcores: the TCP MIB as `nstat` names it
    /// (ActiveOpens, PassiveOpens, CurrEstab, RetransSegs, ...), IP/ICMP/ARP counters,
    /// one counter per drop reason, and the API's own (AppTimersFired, AppTimersFull,
    /// AppConnectFailed). Safe while running; values may be a few increments old.
    [[nodiscard]] std::map<std::string, std::uint64_t> counters() const;

private:
    std::unique_ptr<detail::stack_impl> impl_;
};

/// A DPDK program's command line split at the first "--": EAL's options before it,
/// the program's own after it.
struct command_line {
    /// argv[0].
    std::string program;
    /// The options before "--" (all of them when there is no "--": then the program
    /// has no options of its own).
    std::vector<std::string> eal;
    /// The options after "--".
    std::vector<std::string> args;
};

/// Splits argv as every DPDK program does: EAL options first, then "--", then the
/// program's.
[[nodiscard]] inline command_line split_command_line(int argc, char **argv) {
    command_line out;
    if (argc > 0 && argv[0] != nullptr) out.program = argv[0];
    const std::vector<std::string> all(argv + (argc > 0 ? 1 : 0), argv + (argc > 0 ? argc : 0));
    const auto sep = std::find(all.begin(), all.end(), "--");
    out.eal.assign(all.begin(), sep);
    if (sep != all.end()) out.args.assign(sep + 1, all.end());
    return out;
}

} // namespace linerate
