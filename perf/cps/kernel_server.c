// kernel_server: the Linux kernel's side of perf/cps, the server that linerate-server is
// measured against. It speaks the same bytes as `linerate-server --mode respond --raw
// --response-size 64`: read a 16-byte request, answer 64 bytes, then close first
// (server-close), or wait for the client's FIN and close then (client-close); in no-data
// it only waits for the FIN.
//
//   kernel_server --port P --cpu N --mode server-close|client-close|no-data|tiny [--duration S]
//
// One thread pinned to one CPU, one epoll set, non-blocking sockets: the shape a
// connection-rate server takes on Linux (nginx's worker, one per core), so the kernel is
// measured doing the work and not waiting on a thread per connection. Level-triggered
// for the listener (accept4 until EAGAIN), edge-triggered for connections: each one is
// driven until it would block, so it costs one epoll_ctl (the ADD) and no MOD unless a
// 64-byte write ever comes out short.
//
// Ends on SIGTERM or SIGINT, or after --duration; prints its counters as one JSON
// object on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

// Where a connection is. Requests are read exactly (a client that sent more than 16
// bytes is an error, as it would be for linerate's raw respond mode).
enum phase { reading_request, writing_response, waiting_eof };

struct conn {
    uint8_t phase;
    uint8_t got; // request bytes read, or response bytes written
    uint8_t open;
};

// Errors by kind: a benchmark that hides its failures measures the wrong thing.
enum error_kind { err_reset, err_short_request, err_unexpected_data, err_accept, err_other, err_count };
static const char *const error_names[err_count] = {"reset", "short_request", "unexpected_data", "accept", "other"};

static struct {
    uint64_t accepted, completed, errors[err_count];
} stats;

static void usage(void) {
    fprintf(stderr, "usage: kernel_server --port P --cpu N --mode server-close|client-close|no-data|tiny "
                    "[--duration S]\n");
    exit(2);
}

static struct conn *conns; // indexed by fd: the kernel hands out the lowest free one
static size_t max_fds;
static int epfd;
static enum mode run_mode;

static void finish(int fd, int kind) {
    if (kind < 0)
        ++stats.completed;
    else
        ++stats.errors[kind];
    conns[fd].open = 0;
    // close() also drops the fd from the epoll set: no EPOLL_CTL_DEL needed.
    close(fd);
}

static int error_kind_of(int e) {
    return e == ECONNRESET || e == EPIPE ? err_reset : err_other;
}

// Runs one connection until it would block or is done.
static void drive(int fd) {
    struct conn *c = &conns[fd];
    char buf[256];
    for (;;) {
        if (c->phase == reading_request) {
            const ssize_t n = read(fd, buf, (size_t)(request_bytes(run_mode) - c->got));
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                finish(fd, error_kind_of(errno));
                return;
            }
            if (n == 0) {
                finish(fd, err_short_request);
                return;
            }
            c->got = (uint8_t)(c->got + n);
            if (c->got < request_bytes(run_mode)) continue;
            c->phase = writing_response;
            c->got = 0;
        } else if (c->phase == writing_response) {
            static const char response[response_size] = {0};
            const ssize_t n = write(fd, response + c->got, (size_t)(response_bytes(run_mode) - c->got));
            if (n < 0) {
                if (errno == EAGAIN) {
                    // Rare (a fresh socket's send buffer is kilobytes): ask for EPOLLOUT.
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
                    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
                    return;
                }
                if (errno == EINTR) continue;
                finish(fd, error_kind_of(errno));
                return;
            }
            c->got = (uint8_t)(c->got + n);
            if (c->got < response_bytes(run_mode)) continue;
            if (run_mode == server_close || run_mode == tiny) {
                // The server closes first: TIME-WAIT is here.
                finish(fd, -1);
                return;
            }
            c->phase = waiting_eof;
        } else {
            const ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                finish(fd, error_kind_of(errno));
                return;
            }
            finish(fd, n == 0 ? -1 : err_unexpected_data);
            return;
        }
    }
}

int main(int argc, char **argv) {
    int port = -1, cpu = -1;
    double duration = 0;
    const char *mode = NULL;
    static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
                                             {"cpu", required_argument, NULL, 'c'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'c': cpu = atoi(optarg); break;
        case 'm': mode = optarg; break;
        case 'd': duration = atof(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || port <= 0 || port > 65535 || cpu < 0 || mode == NULL || duration < 0) usage();
    if (parse_mode(mode, &run_mode) != 0) usage();

    if (pin_to_cpu(cpu) != 0) return 2;
    // As many descriptors as the hard limit allows: the connection table is indexed by fd.
    const rlim_t nofile = raise_nofile();
    max_fds = nofile > (1u << 20) ? (1u << 20) : nofile;
    conns = calloc(max_fds, sizeof *conns);

    const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (lfd < 0 || conns == NULL || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 65535) != 0) {
        perror("listen");
        return 2;
    }
    epfd = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fprintf(stderr, "kernel_server: listening on 0.0.0.0:%d, cpu %d, mode %s\n", port, cpu, mode);
    const double started = now_s();
    struct epoll_event events[256];
    while (!stop_requested && (duration == 0 || now_s() - started < duration)) {
        // A bounded wait, so the duration and signals are seen even when idle.
        const int n = epoll_wait(epfd, events, 256, 100);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd != lfd) {
                if (conns[fd].open) drive(fd);
                continue;
            }
            for (;;) {
                const int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (cfd < 0) {
                    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) ++stats.errors[err_accept];
                    // EMFILE and the like would repeat at once: wait for the next turn.
                    if (errno != EINTR) break;
                    continue;
                }
                ++stats.accepted;
                if ((size_t)cfd >= max_fds) {
                    ++stats.errors[err_other];
                    close(cfd);
                    continue;
                }
                conns[cfd] = (struct conn){.phase = run_mode == no_data ? waiting_eof : reading_request, .open = 1};
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = cfd};
                epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ev);
            }
        }
    }

    uint64_t open_at_exit = 0;
    for (size_t fd = 0; fd < max_fds; ++fd) open_at_exit += conns[fd].open;
    printf("{\"stack\": \"kernel\", \"role\": \"server\", \"mode\": \"%s\", \"seconds\": %.3f, \"accepted\": %llu, "
           "\"completed\": %llu, \"open_at_exit\": %llu, \"errors\": {",
           mode, now_s() - started, (unsigned long long)stats.accepted, (unsigned long long)stats.completed,
           (unsigned long long)open_at_exit);
    for (int k = 0; k < err_count; ++k)
        printf("%s\"%s\": %llu", k ? ", " : "", error_names[k], (unsigned long long)stats.errors[k]);
    printf("}}\n");
    return 0;
}
