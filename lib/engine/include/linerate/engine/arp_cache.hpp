// The ARP cache of one lcore: IPv4 address -> MAC, learned as RFC 826 says.
//
// Fixed capacity, allocated once at start, open addressing with linear probing:
// looking up a next hop happens for every transmitted segment, so it must not touch
// the heap or chase pointers. Entries are never removed one by one (a stack that
// talks to a handful of next hops does not churn them); a full table refuses new
// entries and counts it, rather than evicting a next hop that is in use.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/base/ticks.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace linerate::engine {

class arp_cache {
public:
    // capacity is rounded up to a power of two; at least 8.
    explicit arp_cache(std::size_t capacity = 256);

    enum class update_result { updated, inserted, full };

    // RFC 826 "Packet reception": if the sender is known, refresh its MAC
    // (merge_flag); insert it only when we are the target.
    bool merge(ipv4_addr ip, mac_addr mac, tick now) noexcept; // true if it was known
    update_result insert(ipv4_addr ip, mac_addr mac, tick now) noexcept;

    [[nodiscard]] std::optional<mac_addr> lookup(ipv4_addr ip) const noexcept;
    struct entry {
        mac_addr mac;
        tick updated; // last learned or confirmed
        tick probed;  // last refresh request sent for it (0: none)
    };
    [[nodiscard]] std::optional<entry> lookup_entry(ipv4_addr ip) const noexcept;
    // A refresh request went out for ip (no-op if unknown).
    void mark_probed(ipv4_addr ip, tick now) noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return used_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

private:
    struct slot {
        ipv4_addr ip;
        mac_addr mac;
        bool used = false;
        tick updated;
        tick probed;
    };
    [[nodiscard]] std::size_t home(ipv4_addr ip) const noexcept;
    [[nodiscard]] slot *find(ipv4_addr ip) noexcept;

    std::vector<slot> slots_;
    std::size_t mask_;
    std::size_t used_ = 0;
};

} // namespace linerate::engine
