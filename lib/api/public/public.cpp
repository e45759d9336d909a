// The out-of-line members of the public types: each class's key function lives here,
// in the library, so that its vtable and type information exist once (exported by
// linerate.map) and a program's `catch (const linerate::error &)` matches what the
// library throws.
#include <linerate/handler.hpp>
#include <linerate/types.hpp>

namespace linerate {

error::error(error_kind kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
error::~error() = default;

handler::~handler() = default;

} // namespace linerate
