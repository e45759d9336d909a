// EAL, mempool and port set-up; see device.hpp.
#include <linerate/device/device.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include <cstring>

namespace linerate::device {
namespace {

std::string dpdk_error(int err) { return rte_strerror(err < 0 ? -err : err); }

} // namespace

std::string vdev_port_name(const std::string &vdev) { return vdev.substr(0, vdev.find(',')); }

std::vector<std::string> eal_arguments(const config::app_config &cfg, const std::string &program,
                                       std::span<const std::string> command_line) {
    std::vector<std::string> args{program};
    args.insert(args.end(), cfg.eal_args.begin(), cfg.eal_args.end());
    std::string lcores;
    for (unsigned l : cfg.lcores) lcores += (lcores.empty() ? "" : ",") + std::to_string(l);
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

mbuf_pool::mbuf_pool(const std::string &name, const config::mempool_config &cfg) {
    pool_ = rte_pktmbuf_pool_create(name.c_str(), cfg.mbufs, cfg.cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
    if (pool_ == nullptr)
        throw error(fmt::format("mempool {} ({} mbufs, cache {}): {}", name, cfg.mbufs, cfg.cache,
                                dpdk_error(rte_errno)));
}

mbuf_pool::~mbuf_pool() { rte_mempool_free(pool_); }

port::port(const config::port_config &cfg, rte_mempool *pool, unsigned queues)
    : name_(cfg.name), queues_(queues) {
    device_name_ = cfg.vdev.empty() ? cfg.pci : vdev_port_name(cfg.vdev);
    if (rte_eth_dev_get_port_by_name(device_name_.c_str(), &id_) != 0)
        throw error(fmt::format("port {}: no DPDK port named {} (is its driver loaded?)", name_, device_name_));

    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id_, &info); rc != 0)
        throw error(fmt::format("port {}: rte_eth_dev_info_get: {}", name_, dpdk_error(rc)));
    if (queues > info.max_rx_queues || queues > info.max_tx_queues)
        throw error(fmt::format("port {}: {} queues wanted, the device has {} RX and {} TX", name_, queues,
                                info.max_rx_queues, info.max_tx_queues));

    rte_eth_conf conf{};
    conf.rxmode.mtu = cfg.mtu;
    // An offload the configuration asks for and the device lacks is an error, not a
    // silent fallback: a benchmark must run with what its author asked for.
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::ipv4_cksum)) {
        if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM))
            throw error(fmt::format("port {}: offload ipv4_cksum is not supported by {}", name_, info.driver_name));
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
        if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
        rx_ipv4_cksum_ = true;
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::tcp_cksum)) {
        if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM))
            throw error(fmt::format("port {}: offload tcp_cksum is not supported by {}", name_, info.driver_name));
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
        if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::rss)) {
        if (info.flow_type_rss_offloads == 0)
            throw error(fmt::format("port {}: offload rss is not supported by {}", name_, info.driver_name));
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
    }
    if (cfg.offloads & static_cast<std::uint32_t>(config::offload::tso))
        throw error(fmt::format("port {}: offload tso is not used before the data path supports it", name_));

    if (int rc = rte_eth_dev_configure(id_, static_cast<std::uint16_t>(queues), static_cast<std::uint16_t>(queues),
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
}

port::~port() {
    if (started_) rte_eth_dev_stop(id_);
    rte_eth_dev_close(id_);
}

} // namespace linerate::device
