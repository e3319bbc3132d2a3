/* http.h -- gradd serve: the daemon on libmicrohttpd. */
#ifndef GRADD_HTTP_H
#define GRADD_HTTP_H

/* Run the daemon with argv's flags until SIGTERM or SIGINT, then drain.
 * Returns the process exit code. */
int gd_serve(int argc, char **argv);

/* gradd health [URL]: 0 when GET URL (default http://127.0.0.1:8080/readyz)
 * answers 200 within 2 seconds. */
int gd_health(int argc, char **argv);

#endif
