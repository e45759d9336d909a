// The runtime: EAL, ports and one run-to-completion loop per lcore.
//
// Each lcore owns an lcore_context (its queues, TX batch, ARP cache and counters) and
// touches nothing else on the per-packet path. The loop has the shape of DPDK's
// l3fwd: rx_burst -> classify -> answer -> queue TX -> flush TX in bursts.
#pragma once

#include <linerate/config/config.hpp>
#include <linerate/engine/counters.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace linerate::engine {

struct port_summary {
    std::string name;        // from the configuration
    std::string device_name; // DPDK's name, e.g. net_tap0
    std::uint16_t port_id;
    std::string mac;
    std::string address;     // "198.18.0.2/24"
    unsigned queues;
};

struct run_options {
    // Stop after this many milliseconds; 0 runs until `stop` is set.
    std::uint64_t duration_ms = 0;
};

class runtime {
public:
    // Starts EAL (arguments from the file, then the command line) and every port.
    // Throws device::error with a message naming what failed.
    runtime(const config::app_config &cfg, const std::string &program, std::span<const std::string> eal_cli_args);
    ~runtime();
    runtime(const runtime &) = delete;
    runtime &operator=(const runtime &) = delete;

    [[nodiscard]] const std::vector<port_summary> &ports() const noexcept;

    // Runs the loops on every configured lcore (the calling thread is the main lcore
    // and runs one too) until `stop` becomes true or the duration has passed.
    void run(const std::atomic<bool> &stop, const run_options &opts = {});

    // Sum of every lcore's counters. Safe while running: readers see values at most a
    // few increments old.
    [[nodiscard]] counters totals() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace linerate::engine
