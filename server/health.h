/* health.h -- gradd health: the daemon's health check, as a client. */
#ifndef GRADD_HEALTH_H
#define GRADD_HEALTH_H

/* gradd health [URL]: 0 when GET URL (default http://127.0.0.1:8080/readyz)
 * answers 200 within 2 seconds. */
int srv_health(int argc, char **argv);

#endif
