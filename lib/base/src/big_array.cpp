#include <linerate/base/big_array.hpp>

#include <cstdlib>
#include <sys/mman.h>

namespace linerate::detail {

namespace {
constexpr std::size_t huge_page = std::size_t{2} << 20;
constexpr std::size_t cache_line = 64;
} // namespace

void *big_alloc(std::size_t bytes) {
    if (bytes == 0) bytes = 1;
    const bool huge = bytes >= huge_page;
    const std::size_t align = huge ? huge_page : cache_line;
    // aligned_alloc wants the size to be a multiple of the alignment.
    const std::size_t rounded = (bytes + align - 1) / align * align;
    void *p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
    // Advice only: EINVAL (no THP in this kernel) leaves ordinary pages, which work.
    if (huge) (void)::madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

void big_free(void *p) noexcept { std::free(p); }

} // namespace linerate::detail
