// State names and sets.
#include <linerate/tcp/state.hpp>

#include <catch2/catch.hpp>

using namespace linerate::tcp;

TEST_CASE("RFC 9293 §3.3.2: states print with the RFC's spelling", "[tcp][state]") {
    CHECK(to_string(state::closed) == "CLOSED");
    CHECK(to_string(state::syn_received) == "SYN-RECEIVED");
    CHECK(to_string(state::fin_wait_2) == "FIN-WAIT-2");
    CHECK(to_string(state::close_wait) == "CLOSE-WAIT");
    CHECK(to_string(state::time_wait) == "TIME-WAIT");
    CHECK(to_string(static_cast<state>(200)) == "?");
}

TEST_CASE("state_set: unions contain exactly their members", "[tcp][state]") {
    constexpr state_set closing_states = state::fin_wait_1 | state::closing | state::last_ack;
    static_assert(closing_states.contains(state::closing));
    CHECK(closing_states.contains(state::fin_wait_1));
    CHECK(closing_states.contains(state::last_ack));
    CHECK_FALSE(closing_states.contains(state::fin_wait_2));
    CHECK_FALSE(state_set{}.contains(state::closed));
    CHECK((state::listen | state::closed) == (state::closed | state::listen));
}

TEST_CASE("RFC 9293 §3.5.2: synchronized states are ESTABLISHED and after", "[tcp][state]") {
    for (unsigned i = 0; i < state_count; ++i) {
        const auto s = static_cast<state>(i);
        INFO(to_string(s));
        CHECK(synchronized_states.contains(s) == (i >= static_cast<unsigned>(state::established)));
    }
}
