/* signals.h -- the daemon's signals, caught on whatever thread gets them.
 *
 * Libraries start threads before main runs (OpenBLAS does, from a
 * constructor), so a signal mask set in main cannot cover every thread,
 * and a signal left to its default action kills the process from any of
 * them. Instead, process-wide handlers for SIGTERM, SIGINT, SIGQUIT,
 * SIGHUP, SIGUSR1 and SIGUSR2 only write the signal's number to a pipe
 * (async-signal-safe, whichever thread runs them); the main thread reads
 * the pipe and decides. SIGPIPE is ignored. */
#ifndef GRADD_SIGNALS_H
#define GRADD_SIGNALS_H

/* Install the handlers (once; later calls do nothing). 0, or -1 with errno. */
int srv_signals_install(void);

/* Block the caught signals on the calling thread (threads it creates
 * inherit the mask, so they are not interrupted), or unblock them. */
void srv_signals_block(int block);

/* The next caught signal's number, waiting up to timeout_ms (-1: for
 * ever); 0 when none came in time. */
int srv_signals_wait(int timeout_ms);

/* "SIGTERM", ... for a caught signal's number. */
const char *srv_signal_name(int sig);

#endif
