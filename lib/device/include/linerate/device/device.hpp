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

// An mbuf pool from [mempool], on the socket of the calling thread.
class mbuf_pool {
public:
    mbuf_pool(const std::string &name, const config::mempool_config &cfg);
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
    port(const config::port_config &cfg, rte_mempool *pool, unsigned queues);
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

private:
    std::uint16_t id_ = 0;
    std::string name_;
    std::string device_name_;
    mac_addr mac_;
    unsigned queues_ = 1;
    bool rx_ipv4_cksum_ = false;
    bool started_ = false;
};

} // namespace linerate::device
