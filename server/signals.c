/* signals.c -- see signals.h. A self-pipe: the handler writes one byte,
 * the main thread polls the read end. */
#define _GNU_SOURCE
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static const int caught[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
#define NCAUGHT ((int)(sizeof caught / sizeof caught[0]))

static int pipe_fd[2] = {-1, -1}; /* [0] read, [1] write; both non-blocking */

/* Runs on any thread: one byte per signal. A full pipe drops the byte,
 * which only loses a repeat of a signal already waiting to be read. */
static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(pipe_fd[1], &b, 1);
    (void)n;
    errno = saved;
}

static void caught_set(sigset_t *set) {
    sigemptyset(set);
    for (int i = 0; i < NCAUGHT; i++) sigaddset(set, caught[i]);
}

int srv_signals_install(void) {
    if (pipe_fd[0] >= 0) return 0;
    if (pipe2(pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) return -1;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    caught_set(&sa.sa_mask); /* one handler at a time per thread */
    for (int i = 0; i < NCAUGHT; i++)
        if (sigaction(caught[i], &sa, NULL) < 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void srv_signals_block(int block) {
    sigset_t set;
    caught_set(&set);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int srv_signals_wait(int timeout_ms) {
    struct pollfd p = {.fd = pipe_fd[0], .events = POLLIN};
    for (;;) {
        unsigned char b;
        if (read(pipe_fd[0], &b, 1) == 1) return b;
        int n = poll(&p, 1, timeout_ms);
        if (n == 0) return 0;
        if (n < 0 && errno != EINTR) return 0;
        /* readable, or interrupted by the very signal: read again (once
         * more for a timeout: a bounded wait may end early, never late) */
        if (n < 0 && timeout_ms >= 0) {
            if (read(pipe_fd[0], &b, 1) == 1) return b;
            return 0;
        }
    }
}

const char *srv_signal_name(int sig) {
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return "a signal";
    }
}
