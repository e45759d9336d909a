// The [tcp] table of the configuration as the TCP core's settings. config may not
// depend on tcp (and tcp not on config), so the engine, which sees both, converts.
#pragma once

#include <linerate/config/config.hpp>
#include <linerate/tcp/settings.hpp>

namespace linerate::engine {

[[nodiscard]] tcp::settings to_tcp_settings(const config::tcp_config &c, std::uint16_t mtu) noexcept;

} // namespace linerate::engine
