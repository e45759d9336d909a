// See app_common.hpp.
#include "app_common.hpp"

#include <linerate/config/config.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace linerate::app {

split_args split_command_line(int argc, char **argv, const char *default_name) {
    split_args out;
    out.program = argc > 0 ? argv[0] : default_name;
    std::vector<std::string> all(argv + 1, argv + argc);
    const auto sep = std::find(all.begin(), all.end(), "--");
    if (sep == all.end()) {
        out.own = all;
    } else {
        out.eal.assign(all.begin(), sep);
        out.own.assign(sep + 1, all.end());
    }
    return out;
}

std::vector<unsigned> parse_lcores(const std::string &s) {
    std::vector<unsigned> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t comma = s.find(',', i);
        const std::string part = s.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
        const std::size_t dash = part.find('-');
        const unsigned lo = static_cast<unsigned>(std::stoul(part.substr(0, dash)));
        const unsigned hi = dash == std::string::npos ? lo : static_cast<unsigned>(std::stoul(part.substr(dash + 1)));
        if (hi < lo || hi >= config::max_lcores) throw std::invalid_argument(part);
        for (unsigned l = lo; l <= hi; ++l) out.push_back(l);
        if (comma == std::string::npos) break;
        i = comma + 1;
    }
    if (out.empty()) throw std::invalid_argument(s);
    return out;
}

std::optional<config::app_config> load_config(const std::string &path, const std::string &lcores) {
    config::app_config cfg;
    try {
        cfg = config::load_file(path);
    } catch (const config::error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return std::nullopt;
    }
    if (!lcores.empty()) {
        try {
            cfg.lcores = parse_lcores(lcores);
        } catch (const std::exception &) {
            std::fprintf(stderr, "--lcores: '%s' is not a list of lcores like 0,1 or 0-3\n", lcores.c_str());
            return std::nullopt;
        }
    }
    return cfg;
}

std::optional<std::array<std::uint8_t, tcp::isn_generator::key_size>> parse_key(const std::string &hex) {
    std::array<std::uint8_t, tcp::isn_generator::key_size> k{};
    if (hex.size() != 2 * k.size()) return std::nullopt;
    const auto digit = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    for (std::size_t i = 0; i < k.size(); ++i) {
        const int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        k[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return k;
}

void print_counters(const engine::runtime &rt, bool all) {
    const engine::counters c = rt.totals();
    const tcp::counters t = rt.tcp_totals();
    std::printf("counters:\n");
    const auto line = [](std::string_view name, std::uint64_t v) {
        std::printf("  %-28.*s %llu\n", static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(v));
    };
    engine::for_each_counter(c, t, [&](std::string_view name, std::uint64_t v, bool is_drop) {
        // MIB counters are always shown, so scripts find them; drop reasons only when
        // they happened, unless asked for all.
        if (!is_drop || all || v != 0) line(name, v);
    });
}

namespace {
double busy_share(const engine::worker_snapshot &w) {
    return w.engine.loop_cycles == 0 ? 0.0
                                     : static_cast<double>(w.engine.busy_cycles) / static_cast<double>(w.engine.loop_cycles);
}
} // namespace

void print_lcores(const engine::runtime &rt) {
    std::printf("lcores:\n");
    for (const auto &w : rt.snapshot())
        std::printf("  worker %u lcore %u: busy %.1f%% PassiveOpens %llu ActiveOpens %llu InSegs %llu OutSegs %llu "
                    "DispatchedIn %llu DispatchedOut %llu connections %llu time_wait %llu\n",
                    w.worker, w.lcore_id, busy_share(w) * 100, static_cast<unsigned long long>(w.tcp.passive_opens),
                    static_cast<unsigned long long>(w.tcp.active_opens), static_cast<unsigned long long>(w.tcp.in_segs),
                    static_cast<unsigned long long>(w.tcp.out_segs),
                    static_cast<unsigned long long>(w.engine.dispatched_in),
                    static_cast<unsigned long long>(w.engine.dispatched_out),
                    static_cast<unsigned long long>(w.connections),
                    static_cast<unsigned long long>(w.time_wait_entries));
}

std::string counters_json(const engine::runtime &rt) {
    const engine::counters c = rt.totals();
    const tcp::counters t = rt.tcp_totals();
    std::string j = "\"totals\": {";
    bool first = true;
    const auto add = [&](std::string_view name, std::uint64_t v) {
        j += fmt::format("{}\n    \"{}\": {}", first ? "" : ",", name, v);
        first = false;
    };
    engine::for_each_counter(c, t, [&](std::string_view name, std::uint64_t v, bool) { add(name, v); });
    j += "\n  },\n  \"lcores\": [";
    first = true;
    for (const auto &w : rt.snapshot()) {
        j += fmt::format("{}\n    {{\"worker\": {}, \"lcore\": {}, \"busy\": {:.4f}, \"PassiveOpens\": {}, "
                         "\"ActiveOpens\": {}, \"InSegs\": {}, \"OutSegs\": {}, \"DispatchedIn\": {}, "
                         "\"DispatchedOut\": {}, \"connections\": {}, \"time_wait\": {}}}",
                         first ? "" : ",", w.worker, w.lcore_id, busy_share(w), w.tcp.passive_opens, w.tcp.active_opens,
                         w.tcp.in_segs, w.tcp.out_segs, w.engine.dispatched_in, w.engine.dispatched_out, w.connections,
                         w.time_wait_entries);
        first = false;
    }
    j += "\n  ],\n  \"ports\": [";
    const auto stats = rt.ports_stats();
    for (std::size_t i = 0; i < stats.size(); ++i) {
        const auto &p = stats[i];
        j += fmt::format("{}\n    {{\"name\": \"{}\", \"ipackets\": {}, \"opackets\": {}, \"ibytes\": {}, "
                         "\"obytes\": {}, \"imissed\": {}, \"ierrors\": {}, \"oerrors\": {}, \"rx_nombuf\": {}, "
                         "\"xstats\": {{",
                         i ? "," : "", p.name, p.ipackets, p.opackets, p.ibytes, p.obytes, p.imissed, p.ierrors,
                         p.oerrors, p.rx_nombuf);
        bool firstx = true;
        for (const auto &[name, v] : rt.port_xstats(i)) {
            j += fmt::format("{}\"{}\": {}", firstx ? "" : ", ", name, v);
            firstx = false;
        }
        j += "}}";
    }
    j += "\n  ]";
    return j;
}

void print_ports(const engine::runtime &rt) {
    std::printf("ports:\n");
    const auto stats = rt.ports_stats();
    for (std::size_t i = 0; i < stats.size(); ++i) {
        const auto &p = stats[i];
        std::printf("  %s: ipackets %llu opackets %llu imissed %llu ierrors %llu oerrors %llu rx_nombuf %llu\n",
                    p.name.c_str(), static_cast<unsigned long long>(p.ipackets),
                    static_cast<unsigned long long>(p.opackets), static_cast<unsigned long long>(p.imissed),
                    static_cast<unsigned long long>(p.ierrors), static_cast<unsigned long long>(p.oerrors),
                    static_cast<unsigned long long>(p.rx_nombuf));
        // The driver's extended statistics that counted something: where a NIC says
        // why it dropped what the basic counts only count.
        for (const auto &[name, v] : rt.port_xstats(i))
            std::printf("    %-34s %llu\n", name.c_str(), static_cast<unsigned long long>(v));
    }
}

} // namespace linerate::app
