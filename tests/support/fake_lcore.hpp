// An engine::lcore without the engine, for tests of what runs on one (linerate-client's
// generator, the API's lcore_state): a shard the test owns, a clock, a TX backlog switch,
// connect() from fixed source ports, each tried once, in turn, and send_segment()
// recording what it is given.
#pragma once

#include <linerate/engine/counters.hpp>
#include <linerate/engine/runtime.hpp>
#include <linerate/flow/shard.hpp>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace linerate::testing {

class fake_lcore final : public engine::lcore {
public:
    flow::shard *shard = nullptr;
    ipv4_addr local_ip{0xC6120001}; // 198.18.0.1
    std::uint64_t us = 0;
    bool backlogged = false;
    std::uint16_t next_port = 10'000;
    // Set: connect() fails with this, opening nothing.
    std::optional<engine::connect_error> refuse;
    engine::counters stats{};
    std::vector<std::pair<tcp::four_tuple, tcp::out_segment>> sent; // by send_segment()
    bool send_fails = false; // send_segment() sends nothing and says so

    unsigned worker_index() const noexcept override { return 0; }
    unsigned lcore_id() const noexcept override { return 0; }
    flow::shard &tcp() noexcept override { return *shard; }
    std::uint64_t now_us() const noexcept override { return us; }
    std::optional<flow::conn_id> connect(ipv4_addr remote, std::uint16_t port, handler &h, std::uint64_t user,
                                         engine::connect_error *why) noexcept override {
        std::optional<flow::conn_id> id;
        if (!refuse) id = shard->connect(tcp::four_tuple{local_ip, remote, next_port++, port}, h, user);
        if (!id && why != nullptr) *why = refuse.value_or(engine::connect_error::no_memory);
        return id;
    }
    bool send_segment(const tcp::four_tuple &t, const tcp::out_segment &s) noexcept override {
        if (send_fails) return false;
        sent.emplace_back(t, s);
        return true;
    }
    const engine::counters &engine_stats() const noexcept override { return stats; }
    bool tx_backlogged() const noexcept override { return backlogged; }
};

} // namespace linerate::testing
