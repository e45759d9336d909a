// Names and arithmetic of the per-lcore counters.
#include <linerate/engine/counters.hpp>

namespace linerate::engine {

std::string_view to_string(local_drop d) noexcept {
    switch (d) {
    case local_drop::not_our_mac: return "not_our_mac";
    case local_drop::arp_not_for_us: return "arp_not_for_us";
    case local_drop::arp_bad_sender: return "arp_bad_sender";
    case local_drop::ipv4_not_for_us: return "ipv4_not_for_us";
    case local_drop::ipv4_unknown_protocol: return "ipv4_unknown_protocol";
    case local_drop::icmp_unsupported_type: return "icmp_unsupported_type";
    case local_drop::rx_multi_segment: return "rx_multi_segment";
    case local_drop::tx_full: return "tx_full";
    case local_drop::tx_no_mbuf: return "tx_no_mbuf";
    case local_drop::tx_too_big: return "tx_too_big";
    case local_drop::send_no_mbuf: return "send_no_mbuf";
    case local_drop::dispatch_full: return "dispatch_full";
    case local_drop::no_route: return "no_route";
    case local_drop::arp_unresolved: return "arp_unresolved";
    case local_drop::vlan_mismatch: return "vlan_mismatch";
    case local_drop::tx_no_headroom: return "tx_no_headroom";
    case local_drop::count_: break;
    }
    return "unknown";
}

std::uint64_t counters::total_dropped() const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = 1; i < malformed.size(); ++i) n += malformed[i];
    for (auto v : dropped) n += v;
    return n;
}

counters &counters::operator+=(const counters &o) noexcept {
    for (const auto &c : mib_counters) this->*c.field += o.*c.field;
    for (std::size_t i = 0; i < malformed.size(); ++i) malformed[i] += o.malformed[i];
    for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    return *this;
}

} // namespace linerate::engine
