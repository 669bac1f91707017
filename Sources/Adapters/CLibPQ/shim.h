#ifndef USER_DOMAIN_CLIBPQ_SHIM_H
#define USER_DOMAIN_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

// Waits until the connection's socket is readable or the timeout (ms) elapses.
static inline int user_domain_pq_wait_readable(PGconn *conn, int timeout_ms) {
    struct pollfd fd = { .fd = PQsocket(conn), .events = POLLIN, .revents = 0 };
    if (fd.fd < 0) return -1;
    return poll(&fd, 1, timeout_ms);
}

// A wake-up channel for a thread that waits in poll: a pipe, both ends non-blocking and close-on-exec.
// fds[0] is polled, fds[1] written to. Returns 0, or -1 with errno set.
static inline int user_domain_wake_open(int fds[2]) {
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        int flags = fcntl(fds[i], F_GETFL);
        if (flags < 0 || fcntl(fds[i], F_SETFL, flags | O_NONBLOCK) != 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            int saved = errno;
            close(fds[0]);
            close(fds[1]);
            errno = saved;
            return -1;
        }
    }
    return 0;
}

// Makes the read end readable for good (until the pipe is closed): a full pipe is already signalled.
static inline void user_domain_wake_signal(int write_fd) {
    char byte = 1;
    ssize_t written;
    do { written = write(write_fd, &byte, 1); } while (written < 0 && errno == EINTR);
}

// Waits until `socket_fd` (when >= 0) has `events`, the wake channel's read end is readable, or the timeout
// (ms, -1 for none) elapses. Returns 2 when woken, 1 when the socket is ready, 0 on timeout, -1 on error.
static inline int user_domain_wait(int socket_fd, short events, int wake_fd, int timeout_ms) {
    struct pollfd fds[2] = {
        { .fd = wake_fd, .events = POLLIN, .revents = 0 },
        { .fd = socket_fd, .events = events, .revents = 0 },
    };
    int ready;
    do { ready = poll(fds, socket_fd >= 0 ? 2 : 1, timeout_ms); } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return ready;
    if (fds[0].revents != 0) return 2;
    return 1;
}

#endif
