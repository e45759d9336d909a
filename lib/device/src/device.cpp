// EAL, mempool and port set-up; see device.hpp.
#include <linerate/device/device.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace linerate::device {
namespace {

std::string dpdk_error(int err) { return rte_strerror(err < 0 ? -err : err); }

// The packet types the port hashes when RSS is on: IPv4 on its address pair
// (toeplitz::ipv4; ICMP and fragments included) and TCP over IPv4 on its 4-tuple
// (toeplitz::ipv4_tcp). Nothing of IPv6 or UDP, which the endpoint does not speak.
constexpr std::uint64_t rss_ipv4_tcp =
    RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | RTE_ETH_RSS_NONFRAG_IPV4_TCP;

// The RETA size software dispatch assumes where no device table applies (a common
// NIC size; any power of two spreads as well).
constexpr unsigned default_reta_size = 128;

// Entry i -> queue i % queues, in the 64-entry groups ethdev takes.
int fill_reta(std::uint16_t port_id, std::uint16_t reta_size, unsigned queues) {
    std::vector<rte_eth_rss_reta_entry64> groups((reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
    for (unsigned i = 0; i < reta_size; ++i) {
        auto &g = groups[i / RTE_ETH_RETA_GROUP_SIZE];
        g.mask |= std::uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
        g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<std::uint16_t>(i % queues);
    }
    return rte_eth_dev_rss_reta_update(port_id, groups.data(), reta_size);
}

} // namespace

std::string vdev_port_name(const std::string &vdev) { return vdev.substr(0, vdev.find(',')); }

std::vector<std::string> eal_arguments(const config::app_config &cfg, const std::string &program,
                                       std::span<const std::string> command_line) {
    std::vector<std::string> args{program};
    args.insert(args.end(), cfg.eal_args.begin(), cfg.eal_args.end());
    std::string lcores;
    for (unsigned l : cfg.lcores) {
        // Appended piece by piece: GCC 12 at -O3 warns (falsely) about the temporary
        // string that `"," + std::to_string(l)` builds.
        if (!lcores.empty()) lcores += ',';
        lcores += std::to_string(l);
    }
    args.push_back("-l");
    args.push_back(lcores);
    for (const auto &p : cfg.ports)
        if (!p.vdev.empty()) args.push_back("--vdev=" + p.vdev);
    // A PCI port is allowed explicitly so that other devices on the machine are left
    // to their drivers.
    for (const auto &p : cfg.ports)
        if (!p.pci.empty()) args.push_back("--allow=" + p.pci);
    args.insert(args.end(), command_line.begin(), command_line.end());
    return args;
}

eal::eal(const std::vector<std::string> &args) : storage_(args) {
    for (auto &s : storage_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(storage_.size()), argv_.data()) < 0)
        throw error(fmt::format("EAL initialisation failed: {}", dpdk_error(rte_errno)));
}

eal::~eal() { rte_eal_cleanup(); }

std::uint64_t eal::tsc_hz() const noexcept { return rte_get_tsc_hz(); }

mbuf_pool::mbuf_pool(const std::string &name, const config::mempool_config &cfg, int socket) {
    pool_ = rte_pktmbuf_pool_create(name.c_str(), cfg.mbufs, cfg.cache, mbuf_priv_size, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    socket < 0 ? static_cast<int>(rte_socket_id()) : socket);
    if (pool_ == nullptr)
        throw error(fmt::format("mempool {} ({} mbufs, cache {}): {}", name, cfg.mbufs, cfg.cache,
                                dpdk_error(rte_errno)));
}

mbuf_pool::~mbuf_pool() { rte_mempool_free(pool_); }

port::port(const config::port_config &cfg, rte_mempool *pool, unsigned queues, unsigned tx_queues)
    : name_(cfg.name), queues_(queues), tx_queues_(tx_queues) {
    device_name_ = cfg.vdev.empty() ? cfg.pci : vdev_port_name(cfg.vdev);
    if (rte_eth_dev_get_port_by_name(device_name_.c_str(), &id_) != 0)
        throw error(fmt::format("port {}: no DPDK port named {} (is its driver loaded?)", name_, device_name_));

    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id_, &info); rc != 0)
        throw error(fmt::format("port {}: rte_eth_dev_info_get: {}", name_, dpdk_error(rc)));
    if (queues > info.max_rx_queues || tx_queues > info.max_tx_queues)
        throw error(fmt::format("port {}: {} RX and {} TX queues wanted, the device has {} RX and {} TX", name_, queues,
                                tx_queues, info.max_rx_queues, info.max_tx_queues));

    rte_eth_conf conf{};
    bool steer_by_rss = false;
    conf.rxmode.mtu = cfg.mtu;
    // An offload the configuration asks for and the device lacks is an error, not a
    // silent fallback: a benchmark must run with what its author asked for.
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::ipv4_cksum)) {
        if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM))
            throw error(fmt::format("port {}: offload ipv4_cksum is not supported by {}", name_, info.driver_name));
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
        if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
            conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
            tx_ipv4_cksum_ = true;
        }
        rx_ipv4_cksum_ = true;
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::tcp_cksum)) {
        if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM))
            throw error(fmt::format("port {}: offload tcp_cksum is not supported by {}", name_, info.driver_name));
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
        rx_tcp_cksum_ = true;
        if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
            conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
            tx_tcp_cksum_ = true;
        }
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::rss)) {
        if (info.flow_type_rss_offloads == 0)
            throw error(fmt::format("port {}: offload rss is not supported by {}", name_, info.driver_name));
        const std::uint64_t hf = info.flow_type_rss_offloads & rss_ipv4_tcp;
        if (hf == 0)
            throw error(fmt::format("port {}: offload rss: {} hashes neither IPv4 nor TCP/IPv4", name_,
                                    info.driver_name));
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
        if (queues > 1) {
            // Steering to more than one queue must agree with the software hash
            // (toeplitz::ipv4_tcp) and bring both directions of a connection to one
            // queue: TCP hashed on its 4-tuple, with the symmetric key.
            if (!(hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP))
                throw error(fmt::format("port {}: offload rss with {} queues needs TCP/IPv4 hashing, which {} "
                                        "does not offer",
                                        name_, queues, info.driver_name));
            if (info.hash_key_size == 0)
                throw error(fmt::format("port {}: offload rss with {} queues: {} takes no RSS key, so its hash "
                                        "cannot be made symmetric",
                                        name_, queues, info.driver_name));
            if (info.hash_key_size < min_rss_key_size)
                throw error(fmt::format("port {}: offload rss: {} takes a {}-byte RSS key; a symmetric key over "
                                        "the IPv4/TCP 4-tuple needs at least {}",
                                        name_, info.driver_name, info.hash_key_size, min_rss_key_size));
            if (info.reta_size != 0 && (info.reta_size & (info.reta_size - 1)) != 0)
                throw error(fmt::format("port {}: offload rss: {} has a {}-entry RETA, not a power of two, "
                                        "which software steering cannot mirror",
                                        name_, info.driver_name, info.reta_size));
            // Repeating 0x6d5a to the device's key size keeps the key symmetric.
            rss_key_ = make_symmetric_rss_key(info.hash_key_size);
            conf.rx_adv_conf.rss_conf.rss_key = rss_key_.data();
            conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
            steer_by_rss = true; // once the RETA is set, after the start
        }
    }
    // A VLAN port's tag: the NIC's where it strips and inserts (both, or the engine
    // would have to tell which frames still carry one), software's otherwise.
    if (cfg.vlan != 0 && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP) &&
        (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_VLAN_INSERT)) {
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
        vlan_offload_ = true;
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::tso))
        throw error(fmt::format("port {}: offload tso is not used before the data path supports it", name_));

    if (int rc = rte_eth_dev_configure(id_, static_cast<std::uint16_t>(queues), static_cast<std::uint16_t>(tx_queues),
                                       &conf);
        rc != 0)
        throw error(fmt::format("port {}: rte_eth_dev_configure (mtu {}): {}", name_, cfg.mtu, dpdk_error(rc)));

    std::uint16_t rxd = cfg.rx_descriptors;
    std::uint16_t txd = cfg.tx_descriptors;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id_, &rxd, &txd); rc != 0)
        throw error(fmt::format("port {}: descriptor counts: {}", name_, dpdk_error(rc)));

    const int socket = rte_eth_dev_socket_id(id_);
    for (unsigned q = 0; q < queues; ++q) {
        rte_eth_rxconf rxconf = info.default_rxconf;
        rxconf.offloads = conf.rxmode.offloads;
        if (int rc = rte_eth_rx_queue_setup(id_, static_cast<std::uint16_t>(q), rxd,
                                            static_cast<unsigned>(socket < 0 ? SOCKET_ID_ANY : socket), &rxconf,
                                            pool);
            rc != 0)
            throw error(fmt::format("port {}: RX queue {}: {}", name_, q, dpdk_error(rc)));
    }
    for (unsigned q = 0; q < tx_queues; ++q) {
        rte_eth_txconf txconf = info.default_txconf;
        txconf.offloads = conf.txmode.offloads;
        if (int rc = rte_eth_tx_queue_setup(id_, static_cast<std::uint16_t>(q), txd,
                                            static_cast<unsigned>(socket < 0 ? SOCKET_ID_ANY : socket), &txconf);
            rc != 0)
            throw error(fmt::format("port {}: TX queue {}: {}", name_, q, dpdk_error(rc)));
    }

    if (cfg.mac) {
        rte_ether_addr a{};
        std::memcpy(a.addr_bytes, cfg.mac->bytes.data(), 6);
        if (int rc = rte_eth_dev_default_mac_addr_set(id_, &a); rc != 0)
            throw error(fmt::format("port {}: setting MAC {}: {}", name_, cfg.mac->to_string(), dpdk_error(rc)));
    }
    rte_ether_addr a{};
    if (int rc = rte_eth_macaddr_get(id_, &a); rc != 0)
        throw error(fmt::format("port {}: reading the MAC: {}", name_, dpdk_error(rc)));
    std::memcpy(mac_.bytes.data(), a.addr_bytes, 6);

    if (int rc = rte_eth_dev_start(id_); rc != 0)
        throw error(fmt::format("port {}: rte_eth_dev_start: {}", name_, dpdk_error(rc)));
    started_ = true;

    reta_ = reta_map{.reta_size = default_reta_size, .queues = queues};
    // A device that reports no RETA, or will not let its RETA be set, does not steer
    // by a table we know: net_tap, for one, hands packets to its queues by the
    // kernel's own flow hash whatever the key. Then software steers (rss() is
    // false), with the same Toeplitz hash and the default map.
    if (steer_by_rss) {
        if (info.reta_size != 0) {
            // After the start: some drivers write their default table when the port
            // starts. Ours is entry i -> queue i % queues, the table reta_map assumes.
            const int rc = fill_reta(id_, info.reta_size, queues);
            if (rc == 0) {
                rss_ = true;
                reta_.reta_size = info.reta_size;
            } else if (rc != -ENOTSUP) {
                // The constructor throws, so the destructor will not run: undo the start.
                rte_eth_dev_stop(id_);
                rte_eth_dev_close(id_);
                throw error(fmt::format("port {}: rte_eth_dev_rss_reta_update ({} entries over {} queues): {}",
                                        name_, info.reta_size, queues, dpdk_error(rc)));
            }
        }
    }
}

port::~port() {
    if (started_) rte_eth_dev_stop(id_);
    rte_eth_dev_close(id_);
}

} // namespace linerate::device
