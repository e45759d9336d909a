// Fixed-capacity ARP cache; see arp_cache.hpp.
#include <linerate/engine/arp_cache.hpp>

#include <bit>

namespace linerate::engine {

arp_cache::arp_cache(std::size_t capacity)
    : slots_(std::bit_ceil(capacity < 8 ? std::size_t{8} : capacity)), mask_(slots_.size() - 1) {}

std::size_t arp_cache::home(ipv4_addr ip) const noexcept {
    // Fibonacci hashing: neighbours on one subnet differ in the low bits only, which
    // a plain mask would map to consecutive slots and long probe runs.
    return static_cast<std::size_t>((ip.value * 0x9E3779B1u) >> 8) & mask_;
}

arp_cache::slot *arp_cache::find(ipv4_addr ip) noexcept {
    for (std::size_t i = home(ip), n = 0; n < slots_.size(); i = (i + 1) & mask_, ++n) {
        if (!slots_[i].used) return nullptr;
        if (slots_[i].ip == ip) return &slots_[i];
    }
    return nullptr;
}

bool arp_cache::merge(ipv4_addr ip, mac_addr mac, tick now) noexcept {
    slot *s = find(ip);
    if (s == nullptr) return false;
    s->mac = mac;
    s->updated = now;
    return true;
}

arp_cache::update_result arp_cache::insert(ipv4_addr ip, mac_addr mac, tick now) noexcept {
    if (merge(ip, mac, now)) return update_result::updated;
    // Keep one slot free so that a probe for an absent key always ends.
    if (used_ + 1 >= slots_.size()) return update_result::full;
    std::size_t i = home(ip);
    while (slots_[i].used) i = (i + 1) & mask_;
    slots_[i] = slot{ip, mac, true, now, tick{}};
    ++used_;
    return update_result::inserted;
}

std::optional<mac_addr> arp_cache::lookup(ipv4_addr ip) const noexcept {
    for (std::size_t i = home(ip), n = 0; n < slots_.size(); i = (i + 1) & mask_, ++n) {
        if (!slots_[i].used) return std::nullopt;
        if (slots_[i].ip == ip) return slots_[i].mac;
    }
    return std::nullopt;
}

} // namespace linerate::engine

namespace linerate::engine {

std::optional<arp_cache::entry> arp_cache::lookup_entry(ipv4_addr ip) const noexcept {
    const slot *s = const_cast<arp_cache *>(this)->find(ip);
    if (s == nullptr) return std::nullopt;
    return entry{s->mac, s->updated, s->probed};
}

void arp_cache::mark_probed(ipv4_addr ip, tick now) noexcept {
    if (slot *s = find(ip)) s->probed = now;
}

} // namespace linerate::engine
