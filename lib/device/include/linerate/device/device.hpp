// The device layer: starting DPDK's EAL and setting up ports, queues and mempools
// from the configuration. It is the only place besides the engine that includes
// <rte_*.h>, and it stays thin: it translates the configuration into DPDK calls and
// turns DPDK's errors into messages that name the port and the failing call.
//
// Ordering matters to users: the configuration has been validated before anything
// here runs, so a bad file never touches a device.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/config/config.hpp>
#include <linerate/device/rss.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct rte_mempool;

namespace linerate::device {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The EAL command line: program name, the file's [eal] args, the lcore list, one
// --vdev per virtual port, then the command line's EAL options (so the command line
// wins where EAL lets a later option override an earlier one).
[[nodiscard]] std::vector<std::string> eal_arguments(const config::app_config &cfg, const std::string &program,
                                                     std::span<const std::string> command_line);

// The name DPDK gives a vdev port: its driver instance, before the first comma.
[[nodiscard]] std::string vdev_port_name(const std::string &vdev);

// rte_eal_init on construction, rte_eal_cleanup on destruction. One per process.
class eal {
public:
    explicit eal(const std::vector<std::string> &args);
    ~eal();
    eal(const eal &) = delete;
    eal &operator=(const eal &) = delete;

    [[nodiscard]] std::uint64_t tsc_hz() const noexcept;

private:
    // EAL may keep pointers into argv for the life of the process.
    std::vector<std::string> storage_;
    std::vector<char *> argv_;
};

// Bytes of private area in each mbuf of an mbuf_pool (rte_mbuf_to_priv): the engine's
// send-stream store keeps a chain's tail and byte count in its first mbuf, so that a
// connection's own state holds only the head (16 bytes less each, ten million times).
inline constexpr std::uint16_t mbuf_priv_size = 16;

// An mbuf pool from [mempool], on NUMA socket `socket` (-1: the calling thread's).
class mbuf_pool {
public:
    mbuf_pool(const std::string &name, const config::mempool_config &cfg, int socket = -1);
    ~mbuf_pool();
    mbuf_pool(const mbuf_pool &) = delete;
    mbuf_pool &operator=(const mbuf_pool &) = delete;

    [[nodiscard]] rte_mempool *get() const noexcept { return pool_; }

private:
    rte_mempool *pool_ = nullptr;
};

// A started port: configured, queues set up, link requested up.
class port {
public:
    // `queues` RX queues (RSS spreads over them) and `tx_queues` TX queues.
    port(const config::port_config &cfg, rte_mempool *pool, unsigned queues, unsigned tx_queues);
    ~port();
    port(const port &) = delete;
    port &operator=(const port &) = delete;

    [[nodiscard]] std::uint16_t id() const noexcept { return id_; }
    [[nodiscard]] const std::string &name() const noexcept { return name_; }
    [[nodiscard]] const std::string &device_name() const noexcept { return device_name_; }
    [[nodiscard]] mac_addr mac() const noexcept { return mac_; }
    [[nodiscard]] unsigned queues() const noexcept { return queues_; }
    // The NIC verifies IPv4 header checksums and flags the mbuf.
    [[nodiscard]] bool rx_ipv4_checksum() const noexcept { return rx_ipv4_cksum_; }
    // The NIC verifies TCP checksums and flags the mbuf (offload tcp_cksum).
    [[nodiscard]] bool rx_tcp_checksum() const noexcept { return rx_tcp_cksum_; }
    // The NIC computes IPv4 header / TCP checksums of what we send (offloads ipv4_cksum
    // and tcp_cksum, where the device offers them for TX; software does it otherwise).
    [[nodiscard]] bool tx_ipv4_checksum() const noexcept { return tx_ipv4_cksum_; }
    [[nodiscard]] bool tx_tcp_checksum() const noexcept { return tx_tcp_cksum_; }
    [[nodiscard]] unsigned tx_queues() const noexcept { return tx_queues_; }
    // RSS is steering this port's queues: offload rss with more than one queue, on
    // the symmetric key, over IPv4 and TCP/IPv4, with the RETA filled i -> i % queues.
    // False where the device has no RETA it lets us set (net_tap): software steers.
    [[nodiscard]] bool rss() const noexcept { return rss_; }
    // The device strips and inserts the port's 802.1Q tag itself (VLAN_STRIP and
    // VLAN_INSERT); otherwise the engine does, in software.
    [[nodiscard]] bool vlan_offload() const noexcept { return vlan_offload_; }
    // The map the engine must use when it hashes in software: the device's RETA size
    // when RSS is on, 128 otherwise, and the queue count. With RSS on, it is the map
    // the NIC itself applies.
    [[nodiscard]] reta_map reta() const noexcept { return reta_; }

private:
    std::uint16_t id_ = 0;
    std::string name_;
    std::string device_name_;
    mac_addr mac_;
    unsigned queues_ = 1;
    unsigned tx_queues_ = 1;
    bool rx_ipv4_cksum_ = false;
    bool rx_tcp_cksum_ = false;
    bool tx_ipv4_cksum_ = false;
    bool tx_tcp_cksum_ = false;
    bool rss_ = false;
    bool vlan_offload_ = false;
    reta_map reta_;
    // ethdev keeps a pointer to the key, not a copy, and drivers read it again when
    // the port starts; it lives as long as the port.
    std::vector<std::uint8_t> rss_key_;
    bool started_ = false;
};

} // namespace linerate::device
