// libFuzzer target: the load generator's HTTP response parser (apps/linerate-client/
// response.hpp), fed the way the client's on_data feeds it: bytes in whatever pieces TCP
// delivers them, the parser reset after each complete response and given the rest.
//
// Input: [u16 raw_size][u8 n][n piece sizes][the bytes the server sends]. raw_size 0 is
// the client's HTTP mode (what --response-size leaves for HTTP requests). The pieces
// cycle through the sizes (a size of 0 is an empty piece); without sizes the bytes come
// in one piece, and so they do when every size is 0.
//
// What is checked, beyond the sanitizers:
//   - feed() takes no more than it is given, and stops early only on a complete
//     response (any rest belongs to the next one);
//   - a feed of bytes into a response not yet complete takes at least one of them: the
//     client loops while bytes remain and the parser completes, so a response completed
//     with nothing taken would be counted again for the same bytes;
//   - once complete it stays complete (feed takes nothing, peer_closed changes nothing)
//     until reset, which starts afresh;
//   - the responses found (their status, badness and length) are the same whatever the
//     pieces: the same bytes whole, in the fuzzer's pieces and one at a time;
//   - RFC 9112 §6.3 rule 1: a 1xx, 204 or 304 response ends at the blank line after its
//     header fields, whatever they say.
#include "response.hpp"

#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

using linerate::client::response_parser;

namespace {

struct response_seen {
    std::uint16_t status = 0;
    bool bad = false;
    std::size_t length = 0; // bytes the parser took for it
    friend bool operator==(const response_seen &, const response_seen &) = default;
};

// RFC 9112 §6.3 rule 1: the statuses whose responses never have a body.
bool never_has_body(std::uint16_t status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

bool has_blank_line(std::span<const std::uint8_t> head) {
    static constexpr std::string_view blank = "\r\n\r\n";
    return std::search(head.begin(), head.end(), blank.begin(), blank.end()) != head.end();
}

// Runs the bytes through one parser as the client does, in pieces of the given sizes
// (cycled; empty: one piece), and returns the responses it completed.
std::vector<response_seen> run(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> sizes,
                               std::uint32_t raw_size) {
    std::vector<response_seen> seen;
    if (std::all_of(sizes.begin(), sizes.end(), [](std::uint8_t n) { return n == 0; })) sizes = {}; // no progress
    response_parser p;
    std::size_t at = 0, start = 0, piece = 0;
    while (at < bytes.size()) {
        const std::size_t n = sizes.empty() ? bytes.size() - at
                                            : std::min<std::size_t>(sizes[piece++ % sizes.size()], bytes.size() - at);
        std::span<const std::uint8_t> data = bytes.subspan(at, n);
        at += n;
        while (!data.empty()) {
            const std::size_t used = p.feed(data, raw_size);
            LINERATE_FUZZ_CHECK(used <= data.size(), "feed takes no more bytes than it is given");
            LINERATE_FUZZ_CHECK(p.complete() || used == data.size(),
                                "feed stops before the end of its bytes only on a complete response");
            LINERATE_FUZZ_CHECK(used > 0, "a feed of bytes into an incomplete response takes at least one of them");
            data = data.subspan(used);
            if (!p.complete()) {
                // The bytes of the response so far hold its blank line: a response that
                // never has a body is over (RFC 9112 §6.3 rule 1).
                // A blank line before these bytes would have been caught by an earlier
                // feed: only they and the three bytes before them need looking at.
                const auto so_far = bytes.subspan(start, at - data.size() - start);
                const auto recent = so_far.last(std::min(so_far.size(), used + 3));
                LINERATE_FUZZ_CHECK(!(p.status() != 0 && never_has_body(p.status()) && !p.bad() &&
                                      has_blank_line(recent)),
                                    "RFC 9112 §6.3 rule 1: a 1xx, 204 or 304 response ends at the blank line");
                break;
            }
            const std::size_t end = at - data.size();
            seen.push_back({p.status(), p.bad(), end - start});
            LINERATE_FUZZ_CHECK(p.feed(data, raw_size) == 0 && p.complete(),
                                "a complete response takes no more bytes and stays complete");
            p.peer_closed();
            LINERATE_FUZZ_CHECK(p.complete(), "the peer's close leaves a complete response complete");
            p.reset();
            LINERATE_FUZZ_CHECK(!p.started() && !p.complete() && !p.bad() && p.status() == 0,
                                "reset starts a new response");
            start = end;
        }
    }
    p.peer_closed();
    if (p.complete()) seen.push_back({p.status(), p.bad(), bytes.size() - start});
    return seen;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    linerate::fuzz::input in({data, size});
    const std::uint32_t raw_size = in.u16();
    const auto sizes = in.bytes(in.u8());
    const auto bytes = in.rest();

    const auto whole = run(bytes, {}, raw_size);
    const auto pieces = run(bytes, sizes, raw_size);
    static constexpr std::uint8_t one[] = {1};
    const auto single = run(bytes, one, raw_size);
    LINERATE_FUZZ_CHECK(whole == pieces && whole == single,
                        "the responses found do not depend on how the bytes are cut into pieces");
    return 0;
}
