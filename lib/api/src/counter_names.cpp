// Counter names of stack::counters(); see counter_names.hpp.
#include "counter_names.hpp"

#include <string_view>

namespace linerate::api {

void add_counters(counter_map &out, const engine::counters &e, const tcp::counters &t,
                  const flow::shard_counters &f, const api_counters &a) {
    const auto add = [&out](std::string_view name, std::uint64_t v) { out[std::string(name)] += v; };
    // In the order of the server's summary and of telemetry.
    engine::for_each_counter(e, t, [&](std::string_view name, std::uint64_t v, bool) { add(name, v); });
    add("TimeWaitEntries", f.time_wait_entries);
    add("TimeWaitExpired", f.time_wait_expired);
    add("TimeWaitNoProfile", f.time_wait_no_profile);
    add("EventsOverflowed", f.events_overflowed);
    add("SendNoBuffer", f.send_no_buffer);
    add("FlushListFull", f.flush_list_full);
    add("AppTimersFired", a.timers_fired);
    add("AppTimersFull", a.timers_full);
    add("AppConnectFailed", a.connect_failed);
}

} // namespace linerate::api
