// DPDK telemetry: linerate's counters, connections by state and per-lcore figures,
// for dpdk-telemetry.py. See worker.hpp.
#include "worker.hpp"

namespace linerate::engine::detail {

namespace {

runtime *telemetry_target = nullptr; // set while a runtime exists; DPDK's callbacks take no context

void add_counters(rte_tel_data *d, const counters &c, const tcp::counters &t) {
    for_each_counter(c, t, [&](std::string_view name, std::uint64_t v, bool) {
        rte_tel_data_add_dict_u64(d, std::string(name).c_str(), v);
    });
}

int telemetry_stats(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    add_counters(d, telemetry_target->totals(), telemetry_target->tcp_totals());
    return 0;
}

int telemetry_states(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    const auto snap = telemetry_target->snapshot();
    for (std::size_t s = 2; s < tcp::state_count; ++s) { // CLOSED is never held; LISTEN is no connection
        std::uint64_t n = 0;
        for (const auto &w : snap) n += w.tcp.in_state[s];
        if (static_cast<tcp::state>(s) == tcp::state::time_wait)
            for (const auto &w : snap) n += w.time_wait_entries;
        // Telemetry names take letters, digits and underscores: "TIME_WAIT".
        std::string name(tcp::to_string(static_cast<tcp::state>(s)));
        std::replace(name.begin(), name.end(), '-', '_');
        rte_tel_data_add_dict_u64(d, name.c_str(), n);
    }
    return 0;
}

int telemetry_lcores(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    for (const auto &w : telemetry_target->snapshot()) {
        rte_tel_data *c = rte_tel_data_alloc();
        if (c == nullptr) return -ENOMEM;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_u64(c, "lcore", w.lcore_id);
        rte_tel_data_add_dict_u64(c, "connections", w.connections);
        rte_tel_data_add_dict_u64(c, "time_wait_entries", w.time_wait_entries);
        rte_tel_data_add_dict_u64(c, "CurrEstab", w.tcp.curr_estab);
        rte_tel_data_add_dict_u64(c, "PassiveOpens", w.tcp.passive_opens);
        rte_tel_data_add_dict_u64(c, "ActiveOpens", w.tcp.active_opens);
        rte_tel_data_add_dict_u64(c, "InSegs", w.tcp.in_segs);
        rte_tel_data_add_dict_u64(c, "OutSegs", w.tcp.out_segs);
        rte_tel_data_add_dict_u64(c, "RxFrames", w.engine.rx_frames);
        rte_tel_data_add_dict_u64(c, "TxFrames", w.engine.tx_frames);
        rte_tel_data_add_dict_u64(c, "DispatchedIn", w.engine.dispatched_in);
        rte_tel_data_add_dict_u64(c, "DispatchedOut", w.engine.dispatched_out);
        rte_tel_data_add_dict_u64(c, "Dropped", w.engine.total_dropped());
        const std::string key = fmt::format("worker{}", w.worker);
        rte_tel_data_add_dict_container(d, key.c_str(), c, 0);
    }
    return 0;
}

} // namespace

void attach_telemetry(runtime &rt) {
    telemetry_target = &rt;
    rte_telemetry_register_cmd("/linerate/stats", telemetry_stats,
                               "linerate's counters, summed over lcores: the TCP MIB, IP/ICMP/ARP, and every drop reason");
    rte_telemetry_register_cmd("/linerate/tcp/states", telemetry_states,
                               "TCP connections by state (TIME-WAIT includes TIME-WAIT entries)");
    rte_telemetry_register_cmd("/linerate/lcores", telemetry_lcores, "per-lcore counters and connection counts");
}

void detach_telemetry() noexcept { telemetry_target = nullptr; }

} // namespace linerate::engine::detail
