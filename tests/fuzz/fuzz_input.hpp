// What the three libFuzzer targets share: a reader that takes the input from its front
// (so that a seed written by tests/data/fuzz/make_seeds.py reads the way it was laid
// out, which libFuzzer's FuzzedDataProvider, taking integers from the back, would not),
// and the one way a target reports a finding.
//
// A finding is abort(): libFuzzer reports it as a crash, keeps the input that caused it,
// and exits non-zero, which fails the meson test. The message names the rule that broke,
// so a report reads as the regression test it should become.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace linerate::fuzz {

[[noreturn]] inline void finding(const char *rule, const char *expr, const char *file, int line) noexcept {
    std::fprintf(stderr, "FINDING: %s\n  (%s is false at %s:%d)\n", rule, expr, file, line);
    std::abort();
}

// The rule is a sentence naming what broke, with the RFC section where one applies.
#define LINERATE_FUZZ_CHECK(cond, rule)                                                \
    do {                                                                               \
        if (!(cond)) ::linerate::fuzz::finding(rule, #cond, __FILE__, __LINE__);      \
    } while (0)

// Reads the input front to back; past its end every read gives zeros (or nothing), so a
// short input is a valid one that stops early.
class input {
public:
    explicit input(std::span<const std::uint8_t> bytes) noexcept : rest_(bytes) {}

    [[nodiscard]] bool empty() const noexcept { return rest_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return rest_.size(); }

    std::uint8_t u8() noexcept {
        if (rest_.empty()) return 0;
        const std::uint8_t b = rest_[0];
        rest_ = rest_.subspan(1);
        return b;
    }
    // Little-endian, as make_seeds.py packs it ("<H").
    std::uint16_t u16() noexcept {
        const std::uint16_t lo = u8();
        return static_cast<std::uint16_t>(lo | (u8() << 8));
    }
    // Up to n bytes: fewer when the input ends first.
    std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
        const std::size_t k = n < rest_.size() ? n : rest_.size();
        const auto out = rest_.first(k);
        rest_ = rest_.subspan(k);
        return out;
    }
    std::span<const std::uint8_t> rest() noexcept { return bytes(rest_.size()); }

private:
    std::span<const std::uint8_t> rest_;
};

} // namespace linerate::fuzz
