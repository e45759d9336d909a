// The lcore_context of a shard; see shard_context.hpp.
#include <linerate/flow/shard_context.hpp>

namespace linerate::flow {
namespace {

std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const std::uint8_t *>(b.data()), b.size()};
}

endpoint local_of(const tcp::four_tuple &t) noexcept { return endpoint{ipv4_address{t.local_ip.value}, t.local_port}; }
endpoint remote_of(const tcp::four_tuple &t) noexcept {
    return endpoint{ipv4_address{t.remote_ip.value}, t.remote_port};
}

} // namespace

std::size_t shard_context::send(conn c, std::span<const std::byte> bytes) noexcept {
    return live(c) ? shard_.send(c.id, as_u8(bytes)) : 0;
}

std::size_t shard_context::send_space(conn c) const noexcept {
    return live(c) ? shard_.connection(c.id).send_space(shard_.settings()) : 0;
}

void shard_context::shutdown(conn c) noexcept {
    if (live(c)) shard_.shutdown(c.id);
}

void shard_context::close(conn c) noexcept {
    if (live(c)) shard_.close(c.id);
}

void shard_context::abort(conn c) noexcept {
    if (live(c)) shard_.abort(c.id);
}

std::uint64_t &shard_context::user_data(conn c) noexcept {
    if (live(c)) return shard_.user(c.id);
    scratch_ = 0; // a stale id gets a word of its own rather than another connection's
    return scratch_;
}

endpoint shard_context::local(conn c) const noexcept {
    return live(c) ? local_of(shard_.connection(c.id).tuple()) : endpoint{};
}

endpoint shard_context::remote(conn c) const noexcept {
    return live(c) ? remote_of(shard_.connection(c.id).tuple()) : endpoint{};
}

connect_result shard_context::connect(ipv4_address, std::uint16_t, handler &, std::uint64_t) noexcept {
    return {conn{}, connect_error::no_route};
}

timer_id shard_context::schedule(std::uint64_t, handler &, std::uint64_t) noexcept { return timer_id{}; }

bool shard_context::cancel(timer_id) noexcept { return false; }

} // namespace linerate::flow
