// Counter names of stack::counters(); see counter_names.hpp.
#include "counter_names.hpp"

#include <string_view>

namespace linerate::api {

void add_counters(counter_map &out, const engine::counters &e, const tcp::counters &t,
                  const flow::shard_counters &f, const api_counters &a) {
    const auto add = [&out](std::string_view name, std::uint64_t v) { out[std::string(name)] += v; };
    // In the order of the server's summary and of telemetry.
    for (const auto &n : tcp::mib_counters) add(n.name, t.*n.field);
    e.for_each(add);
    for (std::size_t i = 0; i < tcp::drop_count; ++i) add(tcp::to_string(static_cast<tcp::drop>(i)), t.dropped[i]);
    add("TimeWaitEntries", f.time_wait_entries);
    add("TimeWaitExpired", f.time_wait_expired);
    add("EventsOverflowed", f.events_overflowed);
    add("SendNoBuffer", f.send_no_buffer);
    add("AppTimersFired", a.timers_fired);
    add("AppTimersFull", a.timers_full);
    add("AppConnectFailed", a.connect_failed);
}

} // namespace linerate::api
