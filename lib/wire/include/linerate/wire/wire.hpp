// Everything in wire at once, for code that handles whole frames (the engine, tests).
#pragma once

#include <linerate/wire/arp.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/drop_reason.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/fast_parse.hpp>
#include <linerate/wire/icmp.hpp>
#include <linerate/wire/ipv4.hpp>
#include <linerate/wire/result.hpp>
#include <linerate/wire/tcp.hpp>
