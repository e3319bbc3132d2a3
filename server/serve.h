/* serve.h -- gradd serve: the daemon on libmicrohttpd (serve.c; a
 * request's life is described at the top of http.c). */
#ifndef GRADD_SERVE_H
#define GRADD_SERVE_H

/* Run the daemon with argv's flags until SIGTERM or SIGINT, then drain.
 * Returns the process exit code. */
int srv_serve(int argc, char **argv);

#endif
