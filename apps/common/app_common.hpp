// What linerate's programs share: the command line's split between EAL and program
// options, lcore lists, the fixed ISN key option, and the counters summary (text and
// JSON), so that every program reports the same counters under the same names.
#pragma once

#include <linerate/config/config.hpp>
#include <linerate/engine/runtime.hpp>
#include <linerate/tcp/isn.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace linerate::app {

struct split_args {
    std::string program;
    std::vector<std::string> eal;
    std::vector<std::string> own; // in order
};
// Splits at the first "--": EAL options before it, the program's after. Without "--",
// every argument is the program's, so that `--help` works as people expect.
[[nodiscard]] split_args split_command_line(int argc, char **argv, const char *default_name);

// "0,1", "0-3" or "0-1,4" -> lcore ids; throws std::invalid_argument.
[[nodiscard]] std::vector<unsigned> parse_lcores(const std::string &s);

// Loads and checks the configuration file, `lcores` (when not empty, e.g. "0,1")
// replacing the file's list. On an error it prints "file:line: message" (or what is
// wrong with `lcores`) and gives nullopt: the caller exits with status 2 before any
// device is touched.
[[nodiscard]] std::optional<config::app_config> load_config(const std::string &path, const std::string &lcores);

// 32 hex digits -> the 16-byte RFC 6528 key; nullopt when it is not that.
[[nodiscard]] std::optional<std::array<std::uint8_t, tcp::isn_generator::key_size>> parse_key(const std::string &hex);

// "counters:" and one line per counter: every MIB counter, and drop reasons when they
// happened (or all of them with `all`).
void print_counters(const engine::runtime &rt, bool all);
// "lcores:" and one line per worker, with its busy share.
void print_lcores(const engine::runtime &rt);
// "ports:", each port's rte_eth_stats and its non-zero extended statistics.
void print_ports(const engine::runtime &rt);
// The same as JSON members: `"totals": {...}, "lcores": [...], "ports": [...]` (no
// surrounding braces), each port with its non-zero xstats.
[[nodiscard]] std::string counters_json(const engine::runtime &rt);

} // namespace linerate::app
