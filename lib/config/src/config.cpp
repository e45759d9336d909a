// Loading and validating drivers-config/*.toml (see config.hpp for the rules on errors).
//
// This is the only translation unit that includes toml++. The walk is schema-driven: each
// table's keys are visited in source order and dispatched to a handler; a key without a
// handler is an unknown key (with a did-you-mean suggestion by edit distance). Required
// keys and checks that involve several keys (vdev/pci, gateway inside the prefix, mempool
// cache against mbufs) run after the table's keys, so that a bad value is reported before
// a missing one.
#include <linerate/config/config.hpp>

#include <linerate/base/ticks.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <type_traits>
#include <utility>

namespace linerate::config {

namespace {

std::string format_what(const std::string &file, std::uint32_t line, const std::string &message) {
    if (line == 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ": " + message;
}

} // namespace

error::error(std::string file, std::uint32_t line, std::string message)
    : std::runtime_error(format_what(file, line, message)), file_(std::move(file)), line_(line),
      message_(std::move(message)) {}

namespace {

using line_t = std::uint32_t;

// --- small helpers ------------------------------------------------------------------

line_t line_of(const toml::node &n) noexcept { return static_cast<line_t>(n.source().begin.line); }

std::string_view type_name(const toml::node &n) noexcept {
    switch (n.type()) {
    case toml::node_type::table:
        return "table";
    case toml::node_type::array:
        return "array";
    case toml::node_type::string:
        return "string";
    case toml::node_type::integer:
        return "integer";
    case toml::node_type::floating_point:
        return "float";
    case toml::node_type::boolean:
        return "boolean";
    case toml::node_type::date:
        return "date";
    case toml::node_type::time:
        return "time";
    case toml::node_type::date_time:
        return "date-time";
    case toml::node_type::none:
        break;
    }
    return "nothing";
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string join(const std::vector<std::string_view> &names) {
    std::string out;
    for (const auto &n : names) {
        if (!out.empty()) out += ", ";
        out += n;
    }
    return out;
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance: Levenshtein plus transposition of neighbours
// ("tpc" -> "tcp" is one edit), compared case-insensitively.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size(), m = b.size();
    std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
    for (std::size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[n][m];
}

// The closest valid name, if it is close enough to be a likely typo.
std::optional<std::string_view> closest(std::string_view word, const std::vector<std::string_view> &valid) {
    const std::size_t limit = word.size() <= 3 ? 1 : 2;
    std::optional<std::string_view> best;
    std::size_t best_distance = limit + 1;
    for (const auto &v : valid) {
        const std::size_t d = edit_distance(word, v);
        if (d < best_distance) {
            best = v;
            best_distance = d;
        }
    }
    return best;
}

std::string hint(std::string_view word, const std::vector<std::string_view> &valid) {
    if (valid.empty()) return "";
    if (auto c = closest(word, valid)) return " (did you mean " + quoted(*c) + "?)";
    return " (valid: " + join(valid) + ")";
}

struct entry {
    std::string_view key;
    const toml::node *node;
    line_t line; // of the key (of the value when toml++ has no position for the key)
    line_t column;
};

// The table's entries in the order they appear in the file (toml++ keeps them sorted by
// name), so that the first error reported is the first one in the file.
std::vector<entry> in_source_order(const toml::table &t) {
    std::vector<entry> out;
    for (auto &&[k, v] : t) {
        const auto &src = k.source().begin.line != 0 ? k.source() : v.source();
        out.push_back({k.str(), &v, static_cast<line_t>(src.begin.line), static_cast<line_t>(src.begin.column)});
    }
    std::stable_sort(out.begin(), out.end(), [](const entry &a, const entry &b) {
        return std::pair{a.line, a.column} < std::pair{b.line, b.column};
    });
    return out;
}

// --- the loader ---------------------------------------------------------------------

class loader {
  public:
    explicit loader(const std::string &source) : source_(source) {}

    app_config load(const toml::table &root);

  private:
    [[noreturn]] void fail(line_t line, std::string message) const { throw error(source_, line, std::move(message)); }

    // Values. `path` is the key as the message names it ("port.mtu").
    std::int64_t integer(const std::string &path, const toml::node &n, line_t line) const;
    template <typename T>
    T ranged(const std::string &path, const toml::node &n, line_t line, std::int64_t lo, std::int64_t hi) const;
    std::uint16_t power_of_two(const std::string &path, const toml::node &n, line_t line, std::int64_t lo,
                               std::int64_t hi) const;
    std::string string(const std::string &path, const toml::node &n, line_t line) const;
    bool boolean(const std::string &path, const toml::node &n, line_t line) const;
    const toml::array &array_of(const std::string &path, const toml::node &n, line_t line, std::string_view what) const;
    const toml::table &table(const std::string &path, const toml::node &n, line_t line) const;

    using handler = std::function<void(const entry &)>;
    struct field {
        std::string_view key;
        handler handle;
    };
    // Visits every key of `t` in source order; `where` names the table in unknown-key
    // messages ("in [[port]]", "at the top level").
    void walk(const toml::table &t, std::string_view where, const std::vector<field> &fields) const;

    void load_eal(const toml::table &t, line_t header, app_config &out) const;
    void load_mempool(const toml::table &t, mempool_config &out) const;
    line_t load_port(const toml::table &t, port_config &out) const; // returns the line of 'name'
    void load_tcp(const toml::table &t, tcp_config &out) const;

    const std::string &source_;
};

std::int64_t loader::integer(const std::string &path, const toml::node &n, line_t line) const {
    const auto *v = n.as_integer();
    if (v == nullptr) fail(line, path + ": expected an integer, got " + std::string(type_name(n)));
    return v->get();
}

template <typename T>
T loader::ranged(const std::string &path, const toml::node &n, line_t line, std::int64_t lo, std::int64_t hi) const {
    static_assert(std::is_integral_v<T>);
    const std::int64_t v = integer(path, n, line);
    if (v < lo || v > hi)
        fail(line, path + ": " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return static_cast<T>(v);
}

std::uint16_t loader::power_of_two(const std::string &path, const toml::node &n, line_t line, std::int64_t lo,
                                   std::int64_t hi) const {
    const std::int64_t v = integer(path, n, line);
    if (v < lo || v > hi || (v & (v - 1)) != 0)
        fail(line, path + ": " + std::to_string(v) + " is not a power of two in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return static_cast<std::uint16_t>(v);
}

std::string loader::string(const std::string &path, const toml::node &n, line_t line) const {
    const auto *v = n.as_string();
    if (v == nullptr) fail(line, path + ": expected a string, got " + std::string(type_name(n)));
    return v->get();
}

bool loader::boolean(const std::string &path, const toml::node &n, line_t line) const {
    const auto *v = n.as_boolean();
    if (v == nullptr) fail(line, path + ": expected a boolean, got " + std::string(type_name(n)));
    return v->get();
}

const toml::array &loader::array_of(const std::string &path, const toml::node &n, line_t line,
                                    std::string_view what) const {
    const auto *a = n.as_array();
    if (a == nullptr) fail(line, path + ": expected " + std::string(what) + ", got " + std::string(type_name(n)));
    return *a;
}

const toml::table &loader::table(const std::string &path, const toml::node &n, line_t line) const {
    const auto *t = n.as_table();
    if (t == nullptr) fail(line, path + ": expected a table, got " + std::string(type_name(n)));
    return *t;
}

void loader::walk(const toml::table &t, std::string_view where, const std::vector<field> &fields) const {
    for (const entry &e : in_source_order(t)) {
        const auto f = std::find_if(fields.begin(), fields.end(), [&](const field &x) { return x.key == e.key; });
        if (f != fields.end()) {
            f->handle(e);
            continue;
        }
        std::vector<std::string_view> valid;
        for (const auto &x : fields)
            valid.push_back(x.key);
        if (valid.empty())
            fail(e.line, "unknown key " + quoted(e.key) + " " + std::string(where) + " (the table takes no keys yet)");
        fail(e.line, "unknown key " + quoted(e.key) + " " + std::string(where) + hint(e.key, valid));
    }
}

// [eal]: what the EAL gets besides the command line.
void loader::load_eal(const toml::table &t, line_t header, app_config &out) const {
    bool have_lcores = false;
    walk(t, "in [eal]",
         {
             {"args",
              [&](const entry &e) {
                  const auto &a = array_of("eal.args", *e.node, e.line, "an array of strings");
                  for (std::size_t i = 0; i < a.size(); ++i)
                      out.eal_args.push_back(string("eal.args[" + std::to_string(i) + "]", a[i], line_of(a[i])));
              }},
             {"lcores",
              [&](const entry &e) {
                  have_lcores = true;
                  const auto &a = array_of("eal.lcores", *e.node, e.line, "an array of integers");
                  if (a.empty()) fail(e.line, "eal.lcores: must list at least one lcore");
                  std::map<unsigned, line_t> seen;
                  for (std::size_t i = 0; i < a.size(); ++i) {
                      const line_t l = line_of(a[i]);
                      const auto lcore =
                          ranged<unsigned>("eal.lcores[" + std::to_string(i) + "]", a[i], l, 0, max_lcores - 1);
                      if (!seen.emplace(lcore, l).second)
                          fail(l, "eal.lcores: lcore " + std::to_string(lcore) + " is listed twice");
                      out.lcores.push_back(lcore);
                  }
              }},
         });
    if (!have_lcores) fail(header, "missing required key 'lcores' in [eal]");
}

// [mempool]: the mbuf pool the ports receive into and send from.
void loader::load_mempool(const toml::table &t, mempool_config &out) const {
    line_t cache_line = line_of(t);
    walk(t, "in [mempool]",
         {
             {"mbufs",
              [&](const entry &e) {
                  out.mbufs = ranged<std::uint32_t>("mempool.mbufs", *e.node, e.line, min_mbufs, max_mbufs);
              }},
             {"cache",
              [&](const entry &e) {
                  cache_line = e.line;
                  out.cache = ranged<std::uint32_t>("mempool.cache", *e.node, e.line, 0, max_mempool_cache);
              }},
         });
    // rte_mempool_create() refuses a cache whose flush threshold, cache * 1.5 rounded down,
    // exceeds the pool size.
    if (out.cache + out.cache / 2 > out.mbufs)
        fail(cache_line, "mempool.cache: " + std::to_string(out.cache) + " is too large for mbufs = " +
                             std::to_string(out.mbufs) + " (DPDK needs cache * 1.5 <= mbufs)");
}

bool valid_port_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_port_name) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

bool hex_digits(std::string_view s, std::size_t n, unsigned &value) noexcept {
    if (s.size() != n) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
    return ec == std::errc{} && p == s.data() + s.size();
}

// DDDD:BB:DD.F, as DPDK's rte_pci_addr_parse() reads it: 16-bit domain, 8-bit bus,
// 5-bit device, 3-bit function.
bool valid_pci(std::string_view s) noexcept {
    if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
    unsigned domain = 0, bus = 0, dev = 0, fn = 0;
    return hex_digits(s.substr(0, 4), 4, domain) && hex_digits(s.substr(5, 2), 2, bus) &&
           hex_digits(s.substr(8, 2), 2, dev) && hex_digits(s.substr(11, 1), 1, fn) && dev <= 0x1f && fn <= 7;
}

std::string network_of(const ipv4_prefix &p) {
    return ipv4_prefix{ipv4_addr{p.addr.value & p.mask()}, p.length}.to_string();
}

// Why `a` cannot be a host's address on the link `p`, or "" if it can.
std::string unusable_host(ipv4_addr a, const ipv4_prefix &p) {
    const std::uint32_t v = a.value;
    if (v == 0) return "is not a usable host address (0.0.0.0 means 'this host', RFC 1122 3.2.1.3)";
    if ((v >> 24) == 0) return "is in 0.0.0.0/8 ('this network', RFC 1122 3.2.1.3), not a usable host address";
    if ((v >> 24) == 127) return "is a loopback address (127.0.0.0/8), not usable on a port";
    if ((v >> 28) == 0xe) return "is a multicast address (224.0.0.0/4), not a host address";
    if ((v >> 28) == 0xf) return "is in the reserved range 240.0.0.0/4 (or the limited broadcast), not a host address";
    // RFC 3021: /31 links have no network or broadcast address; /32 is a single host.
    if (p.length < 31) {
        if ((v & ~p.mask()) == 0) return "is the network address of " + network_of(p) + ", not a host address";
        if ((v & ~p.mask()) == ~p.mask())
            return "is the broadcast address of " + network_of(p) + ", not a host address";
    }
    return "";
}

const std::vector<std::string_view> &offload_list() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> v;
        for (const auto &n : offload_names)
            v.push_back(n.name);
        return v;
    }();
    return names;
}

// One [[port]]: a device, its queues, and the address the stack uses on it.
line_t loader::load_port(const toml::table &t, port_config &out) const {
    out.line = line_of(t);
    bool have_name = false, have_address = false;
    line_t name_line = 0, vdev_line = 0, pci_line = 0, gateway_line = 0;
    walk(t, "in [[port]]",
         {
             {"name",
              [&](const entry &e) {
                  have_name = true;
                  name_line = e.line;
                  out.name = string("port.name", *e.node, e.line);
                  if (!valid_port_name(out.name))
                      fail(e.line,
                           "port.name: " + quoted(out.name) + " is not a valid name (1 to 32 of A-Z a-z 0-9 _ -)");
              }},
             {"vdev",
              [&](const entry &e) {
                  vdev_line = e.line;
                  out.vdev = string("port.vdev", *e.node, e.line);
                  if (out.vdev.empty() || out.vdev.find_first_of(" \t\r\n") != std::string::npos)
                      fail(e.line, "port.vdev: " + quoted(out.vdev) +
                                       " is not a virtual device argument (e.g. \"net_tap0,iface=lr0\")");
              }},
             {"pci",
              [&](const entry &e) {
                  pci_line = e.line;
                  out.pci = string("port.pci", *e.node, e.line);
                  if (!valid_pci(out.pci))
                      fail(e.line, "port.pci: " + quoted(out.pci) +
                                       " is not a PCI address of the form DDDD:BB:DD.F (e.g. \"0000:3b:00.0\")");
              }},
             {"rx_queues",
              [&](const entry &e) {
                  out.rx_queues = ranged<std::uint16_t>("port.rx_queues", *e.node, e.line, 1, max_queues);
              }},
             {"tx_queues",
              [&](const entry &e) {
                  out.tx_queues = ranged<std::uint16_t>("port.tx_queues", *e.node, e.line, 1, max_queues);
              }},
             {"rx_descriptors",
              [&](const entry &e) {
                  out.rx_descriptors =
                      power_of_two("port.rx_descriptors", *e.node, e.line, min_descriptors, max_descriptors);
              }},
             {"tx_descriptors",
              [&](const entry &e) {
                  out.tx_descriptors =
                      power_of_two("port.tx_descriptors", *e.node, e.line, min_descriptors, max_descriptors);
              }},
             {"mtu",
              [&](const entry &e) { out.mtu = ranged<std::uint16_t>("port.mtu", *e.node, e.line, min_mtu, max_mtu); }},
             // IEEE 802.1Q: VID 0 means "priority tag only" and 4095 is reserved.
             {"vlan",
              [&](const entry &e) { out.vlan = ranged<std::uint16_t>("port.vlan", *e.node, e.line, 1, 4094); }},
             {"offloads",
              [&](const entry &e) {
                  const auto &a = array_of("port.offloads", *e.node, e.line, "an array of strings");
                  for (std::size_t i = 0; i < a.size(); ++i) {
                      const line_t l = line_of(a[i]);
                      const std::string name = string("port.offloads[" + std::to_string(i) + "]", a[i], l);
                      const auto it = std::find_if(offload_names.begin(), offload_names.end(),
                                                   [&](const offload_name &o) { return o.name == name; });
                      if (it == offload_names.end()) {
                          std::string msg = "port.offloads: unknown offload " + quoted(name);
                          if (auto c = closest(name, offload_list())) msg += " (did you mean " + quoted(*c) + "?)";
                          fail(l, msg + "; valid: " + join(offload_list()));
                      }
                      if (has(out.offloads, it->bit)) fail(l, "port.offloads: " + quoted(name) + " is listed twice");
                      out.offloads |= bit(it->bit);
                  }
              }},
             {"address",
              [&](const entry &e) {
                  have_address = true;
                  const std::string text = string("port.address", *e.node, e.line);
                  const auto p = ipv4_prefix::parse(text);
                  if (!p)
                      fail(e.line, "port.address: " + quoted(text) +
                                       " is not an IPv4 address with prefix length (e.g. \"198.18.0.2/24\")");
                  if (p->length == 0) fail(e.line, "port.address: prefix length 0 would put every address on the link");
                  if (auto why = unusable_host(p->addr, *p); !why.empty())
                      fail(e.line, "port.address: " + p->addr.to_string() + " " + why);
                  out.address = *p;
              }},
             {"gateway",
              [&](const entry &e) {
                  gateway_line = e.line;
                  const std::string text = string("port.gateway", *e.node, e.line);
                  const auto a = ipv4_addr::parse(text);
                  if (!a)
                      fail(e.line, "port.gateway: " + quoted(text) + " is not an IPv4 address (e.g. \"198.18.0.1\")");
                  out.gateway = *a;
              }},
             {"mac",
              [&](const entry &e) {
                  const std::string text = string("port.mac", *e.node, e.line);
                  const auto m = mac_addr::parse(text);
                  if (!m)
                      fail(e.line, "port.mac: " + quoted(text) + " is not a MAC address (e.g. \"02:00:00:00:00:01\")");
                  if (m->is_zero()) fail(e.line, "port.mac: 00:00:00:00:00:00 is the zero address, not a port address");
                  if (m->is_multicast())
                      fail(e.line, "port.mac: " + m->to_string() + " is a " +
                                       (m->is_broadcast() ? "broadcast" : "multicast") +
                                       " address; a port needs a unicast one (first octet even)");
                  out.mac = *m;
              }},
         });

    if (!have_name) fail(out.line, "missing required key 'name' in [[port]]");
    if (vdev_line != 0 && pci_line != 0)
        fail(std::max(vdev_line, pci_line), "port " + quoted(out.name) + ": set either 'vdev' or 'pci', not both");
    if (vdev_line == 0 && pci_line == 0)
        fail(out.line,
             "missing required key 'vdev' or 'pci' in [[port]] (port " + quoted(out.name) + " needs a device)");
    if (!have_address) fail(out.line, "missing required key 'address' in [[port]]");
    if (out.gateway) {
        const ipv4_addr g = *out.gateway;
        if (g == out.address.addr) fail(gateway_line, "port.gateway: " + g.to_string() + " is the port's own address");
        if (!out.address.contains(g))
            fail(gateway_line, "port.gateway: " + g.to_string() + " is outside " + network_of(out.address) +
                                   ", the prefix of port.address");
        if (auto why = unusable_host(g, out.address); !why.empty())
            fail(gateway_line, "port.gateway: " + g.to_string() + " " + why);
    }
    return name_line;
}

// [tcp]: the TCP core's tunables. Ranges keep every value meaningful to the core: a
// delayed ACK beyond 500 ms breaks RFC 9293 MUST-40, retries fit a byte, RTO bounds fit
// the estimator's fixed-point fields, and every timer fits the TCB's 32-bit deadlines.
void loader::load_tcp(const toml::table &t, tcp_config &out) const {
    line_t rto_max_line = line_of(t);
    const auto flag = [&](std::string_view key, bool &dst) {
        return field{key, [&, key](const entry &e) { dst = boolean("tcp." + std::string(key), *e.node, e.line); }};
    };
    const auto number = [&](std::string_view key, std::uint32_t &dst, std::int64_t lo, std::int64_t hi) {
        return field{key, [&, key, lo, hi](const entry &e) {
                         dst = ranged<std::uint32_t>("tcp." + std::string(key), *e.node, e.line, lo, hi);
                     }};
    };
    constexpr std::int64_t day_ms = 86'400'000;
    constexpr std::int64_t max_msl_ms = 3'600'000;
    constexpr std::int64_t max_rto_ms = 16'777'215;
    // The TCB keeps its timer deadlines in 32 bits (short_deadline), which hold a delay up
    // to `reach` ticks of 1 ms: each timer's range must stay below it (TIME-WAIT is 2 MSL).
    constexpr auto reach = static_cast<std::int64_t>(short_deadline::reach);
    static_assert(day_ms < reach && 2 * max_msl_ms < reach && max_rto_ms < reach);
    walk(t, "in [tcp]",
         {
             flag("window_scaling", out.window_scaling),
             flag("sack", out.sack),
             flag("timestamps", out.timestamps),
             number("receive_buffer", out.receive_buffer, 1024, 1 << 30),
             number("send_buffer", out.send_buffer, 1024, 1 << 30),
             number("initial_window_segments", out.initial_window_segments, 1, 100),
             number("max_ooo_segments", out.max_ooo_segments, 0, 16),
             number("rto_initial_ms", out.rto_initial_ms, 1, 65535),
             number("rto_min_ms", out.rto_min_ms, 1, 65535),
             field{"rto_max_ms",
                   [&](const entry &e) {
                       rto_max_line = e.line;
                       out.rto_max_ms = ranged<std::uint32_t>("tcp.rto_max_ms", *e.node, e.line, 1, max_rto_ms);
                   }},
             number("syn_retries", out.syn_retries, 1, 255),
             number("synack_retries", out.synack_retries, 1, 255),
             number("data_retries", out.data_retries, 1, 255),
             number("delayed_ack_ms", out.delayed_ack_ms, 0, 500),
             number("fin_wait_2_timeout_ms", out.fin_wait_2_timeout_ms, 1, day_ms),
             number("msl_ms", out.msl_ms, 1, max_msl_ms),
             flag("keepalive", out.keepalive),
             number("keepalive_idle_ms", out.keepalive_idle_ms, 1, day_ms),
             number("keepalive_interval_ms", out.keepalive_interval_ms, 1, day_ms),
             number("keepalive_probes", out.keepalive_probes, 1, 255),
             number("challenge_ack_limit", out.challenge_ack_limit, 0, 1'000'000'000),
             number("invalid_ack_interval_ms", out.invalid_ack_interval_ms, 0, 60'000),
             number("syn_backlog", out.syn_backlog, 1, 16'777'216),
             number("accept_backlog", out.accept_backlog, 1, 16'777'216),
             field{"syn_cookies",
                   [&](const entry &e) {
                       using m = tcp_config::syn_cookies_mode;
                       static constexpr std::array<std::pair<std::string_view, m>, 3> modes{
                           {{"auto", m::automatic}, {"always", m::always}, {"off", m::off}}};
                       const std::string v = string("tcp.syn_cookies", *e.node, e.line);
                       const auto it = std::find_if(modes.begin(), modes.end(), [&](const auto &x) { return x.first == v; });
                       if (it == modes.end())
                           fail(e.line, "tcp.syn_cookies: " + quoted(v) + " is not one of 'auto', 'always', 'off'");
                       out.syn_cookies = it->second;
                   }},
             number("max_connections", out.max_connections, 1, 1 << 30),
             number("max_time_wait", out.max_time_wait, 1, 1 << 30),
             number("ooo_queues", out.ooo_queues, 1, 1 << 24),
         });
    if (out.rto_max_ms < out.rto_min_ms)
        fail(rto_max_line, "tcp.rto_max_ms: " + std::to_string(out.rto_max_ms) + " is below tcp.rto_min_ms = " +
                               std::to_string(out.rto_min_ms));
}

app_config loader::load(const toml::table &root) {
    app_config out;
    out.source = source_;
    bool have_eal = false, have_port = false;
    line_t port_key_line = 0;
    std::map<std::string, line_t> names;

    walk(root, "at the top level",
         {
             {"eal",
              [&](const entry &e) {
                  have_eal = true;
                  load_eal(table("eal", *e.node, e.line), e.line, out);
              }},
             {"mempool", [&](const entry &e) { load_mempool(table("mempool", *e.node, e.line), out.mempool); }},
             {"port",
              [&](const entry &e) {
                  have_port = true;
                  port_key_line = e.line;
                  if (e.node->is_table())
                      fail(e.line, "port: expected an array of tables ([[port]]), got a table ([port])");
                  const auto &a = array_of("port", *e.node, e.line, "an array of tables ([[port]])");
                  for (std::size_t i = 0; i < a.size(); ++i) {
                      const line_t l = line_of(a[i]);
                      const auto *t = a[i].as_table();
                      if (t == nullptr)
                          fail(l, "port[" + std::to_string(i) + "]: expected a table, got " +
                                      std::string(type_name(a[i])));
                      if (i == max_ports)
                          fail(l, "port: too many ports (at most " + std::to_string(max_ports) + ", RTE_MAX_ETHPORTS)");
                      port_config p;
                      const line_t name_line = load_port(*t, p);
                      if (auto [it, fresh] = names.emplace(p.name, name_line); !fresh)
                          fail(name_line, "port.name: " + quoted(p.name) + " is already the name of the port at line " +
                                              std::to_string(it->second));
                      out.ports.push_back(std::move(p));
                  }
              }},
             {"tcp", [&](const entry &e) { load_tcp(table("tcp", *e.node, e.line), out.tcp); }},
         });

    if (!have_eal) fail(1, "missing required table [eal] (it needs at least 'lcores')");
    if (!have_port) fail(1, "missing required table [[port]]: at least one port is required");
    if (out.ports.empty()) fail(port_key_line, "port: at least one [[port]] is required");
    return out;
}

} // namespace

app_config load_string(std::string_view toml_text, const std::string &source_name) {
    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view(source_name));
    } catch (const toml::parse_error &e) {
        throw error(source_name, static_cast<line_t>(e.source().begin.line), std::string(e.description()));
    }
    return loader(source_name).load(root);
}

app_config load_file(const std::string &path) {
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) throw error(path, 0, std::string("cannot read: ") + std::strerror(errno));
    std::string text;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        text.append(buf, n);
    const int read_errno = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (read_errno != 0) throw error(path, 0, std::string("cannot read: ") + std::strerror(read_errno));
    return load_string(text, path);
}

} // namespace linerate::config
