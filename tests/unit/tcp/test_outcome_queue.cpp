// The event queue between the core and the application: it merges a connection's
// events of one call into one entry, and the application must still hear exactly the
// sequence that was raised.
#include <linerate/tcp/connection.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <vector>

using namespace linerate;
using namespace linerate::tcp;

namespace {

using et = event_type;
using q = outcome_queue;

// The events an outcome hands out, in the order the owner hands them out (see
// flow::shard::dispatch): established, writable, data, peer_closed, time_wait.
std::vector<et> hearing_order(const q::outcome &o) {
    std::vector<et> out;
    for (et t : {et::accepted, et::connected, et::writable, et::data, et::peer_closed, et::time_wait})
        if ((o.bits & q::bit(t)) != 0) out.push_back(t);
    return out;
}

struct drained {
    std::vector<std::pair<const connection *, et>> events;
    std::size_t entries = 0;
};

drained drain(q &queue) {
    drained d;
    while (!queue.empty()) {
        const q::outcome o = queue.pop();
        ++d.entries;
        for (et t : hearing_order(o)) d.events.emplace_back(o.conn, t);
    }
    return d;
}

} // namespace

TEST_CASE("outcome queue: a call's events in hearing order share one entry", "[tcp][events]") {
    std::uint64_t lost = 0;
    q queue(4, lost);
    connection c;
    const std::array<std::uint8_t, 3> bytes{1, 2, 3};
    queue.raise(c, et::accepted);
    queue.raise(c, et::data, bytes);
    queue.raise(c, et::peer_closed);
    REQUIRE_FALSE(queue.empty());
    const q::outcome o = queue.pop();
    CHECK(queue.empty());
    CHECK(o.conn == &c);
    CHECK(hearing_order(o) == std::vector<et>{et::accepted, et::data, et::peer_closed});
    CHECK(o.data.data() == bytes.data());
    CHECK(o.data.size() == 3);
    CHECK(lost == 0);
}

TEST_CASE("outcome queue: an event earlier in hearing order, a repeated one or another connection's starts a new "
          "entry, so the sequence heard is the sequence raised",
          "[tcp][events]") {
    std::uint64_t lost = 0;
    q queue(4, lost);
    std::array<connection, 2> two; // an array: GCC 12 misreads two local TCBs (-Wdangling-pointer)
    connection &a = two[0], &b = two[1];
    const std::array<std::uint8_t, 2> first{1, 2}, second{3, 4};
    const std::vector<std::pair<const connection *, et>> raised{
        {&a, et::data},     {&a, et::writable}, // writable after data: a new entry
        {&a, et::data},                          // a second data event: a new entry
        {&b, et::connected},                     // another connection
        {&a, et::peer_closed}, {&a, et::time_wait},
    };
    queue.raise(a, et::data, first);
    queue.raise(a, et::writable);
    queue.raise(a, et::data, second);
    queue.raise(b, et::connected);
    queue.raise(a, et::peer_closed);
    queue.raise(a, et::time_wait);
    const drained d = drain(queue);
    CHECK(d.events == raised);
    CHECK(d.entries == 4);
    CHECK(lost == 0);
}

TEST_CASE("outcome queue: events raised while an entry is handed out come after it", "[tcp][events]") {
    std::uint64_t lost = 0;
    q queue(4, lost);
    connection c;
    queue.raise(c, et::accepted);
    const q::outcome o = queue.pop(); // being handed out
    CHECK(hearing_order(o) == std::vector<et>{et::accepted});
    queue.raise(c, et::data); // a callback's call raised it
    REQUIRE_FALSE(queue.empty());
    CHECK(hearing_order(queue.pop()) == std::vector<et>{et::data});
}

TEST_CASE("outcome queue: a full queue counts what it loses and keeps what it holds", "[tcp][events]") {
    std::uint64_t lost = 0;
    q queue(1, lost); // two entries
    std::array<connection, 3> c;
    queue.raise(c[0], et::data);
    queue.raise(c[1], et::data);
    queue.raise(c[2], et::data);
    queue.raise(c[1], et::peer_closed); // merges into the tail: nothing lost
    CHECK(lost == 1);
    const drained d = drain(queue);
    CHECK(d.events == std::vector<std::pair<const connection *, et>>{
                          {&c[0], et::data}, {&c[1], et::data}, {&c[1], et::peer_closed}});
}
