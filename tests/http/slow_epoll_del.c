/* slow_epoll_del.c -- an LD_PRELOAD library for one test of
 * test_overload.c: the process's main thread waits 2 ms before each
 * EPOLL_CTL_DEL it makes. libmicrohttpd 0.9.75's MHD_quiesce_daemon (the
 * drain's first step, on gradd's main thread) removes the listen socket
 * from every I/O thread's epoll set; an I/O thread that wakes meanwhile
 * removes it from its own set too, and whichever comes second fails with
 * ENOENT, on which MHD aborts the process. The wait turns that window of
 * nanoseconds into milliseconds, so a daemon open to the race shows it in
 * a few SIGTERMs instead of one in hundreds. It changes nothing else. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/epoll.h>
#include <unistd.h>

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    static int (*next)(int, int, int, struct epoll_event *);
    if (!next) *(void **)&next = dlsym(RTLD_NEXT, "epoll_ctl");
    if (op == EPOLL_CTL_DEL && gettid() == getpid()) usleep(2000);
    return next(epfd, op, fd, event);
}
