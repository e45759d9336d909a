// A flow::io for tests that join two shards in memory: segments go onto a queue (the
// link) with their payload copied out of the sender's stored stream, streams and held
// out-of-order bytes live in plain containers, and every call is checked against what
// the shard may ask (no byte sent that was not stored, none released twice).
#pragma once

#include <linerate/flow/shard.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <utility>
#include <vector>

namespace linerate::testing {

struct packet {
    tcp::four_tuple from; // the sender's view
    tcp::out_segment seg;
    std::vector<std::uint8_t> payload;

    // As the receiver's input() takes it; valid while the packet lives.
    [[nodiscard]] tcp::segment as_segment() const {
        return tcp::segment{.seq = seg.seq, .ack = seg.ack, .flags = seg.flags, .window = seg.window,
                            .options = seg.options, .payload = payload};
    }
};

class memory_io final : public flow::io {
public:
    std::deque<packet> *wire = nullptr;
    std::map<flow::conn_id, std::vector<std::uint8_t>> streams;
    std::map<std::uint64_t, std::pair<seq32, std::vector<std::uint8_t>>> held_;
    std::uint64_t next_handle = 1;
    std::uint32_t append_limit = UINT32_MAX; // bytes append() may still store
    std::uint32_t resets = 0;

    void transmit(flow::conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                  std::uint32_t offset) noexcept override {
        packet p{t, s, {}};
        if (s.payload_len > 0) {
            auto &st = streams[id];
            REQUIRE(offset + s.payload_len <= st.size());
            p.payload.assign(st.begin() + offset, st.begin() + offset + s.payload_len);
        }
        if (id == flow::no_conn && s.flags.has(tcp::tcp_flags::rst)) ++resets;
        wire->push_back(std::move(p));
    }
    std::uint32_t append(flow::conn_id id, std::span<const std::uint8_t> bytes) noexcept override {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), append_limit));
        append_limit -= append_limit == UINT32_MAX ? 0 : n;
        auto &st = streams[id];
        st.insert(st.end(), bytes.begin(), bytes.begin() + n);
        return n;
    }
    void release_sent(flow::conn_id id, std::uint32_t bytes) noexcept override {
        auto &st = streams[id];
        REQUIRE(bytes <= st.size());
        st.erase(st.begin(), st.begin() + bytes);
    }
    void forget(flow::conn_id id) noexcept override { streams.erase(id); }
    std::uint64_t hold(flow::conn_id, seq32 first, std::span<const std::uint8_t> bytes) noexcept override {
        held_[next_handle] = {first, {bytes.begin(), bytes.end()}};
        return next_handle++;
    }
    tcp::sink::held_bytes held(std::uint64_t h) noexcept override {
        auto it = held_.find(h);
        if (it == held_.end()) return {};
        return {it->second.first, it->second.second};
    }
    void release(std::uint64_t h) noexcept override { held_.erase(h); }
};

// Delivers what is in flight both ways, a segment each way in turn, until the link is
// quiet (bounded, so that two shards answering each other forever fail the test).
inline void deliver_all(std::deque<packet> &to_server, flow::shard &server, std::deque<packet> &to_client,
                        flow::shard &client) {
    for (int guard = 0; guard < 1'000'000 && (!to_server.empty() || !to_client.empty()); ++guard) {
        if (!to_server.empty()) {
            const packet p = std::move(to_server.front());
            to_server.pop_front();
            server.input(p.from.reversed(), p.as_segment());
        }
        if (!to_client.empty()) {
            const packet p = std::move(to_client.front());
            to_client.pop_front();
            client.input(p.from.reversed(), p.as_segment());
        }
    }
    REQUIRE(to_server.empty());
    REQUIRE(to_client.empty());
}

} // namespace linerate::testing
