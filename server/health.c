/* health.c -- gradd health [URL]: one GET over a plain socket, for
 * container health checks (no curl in the image). */
#include "health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "codec/buf.h"

int srv_health(int argc, char **argv) {
    /* default: this machine's daemon on $GRADD_PORT (as gradd serve reads it) */
    char def[64] = "http://127.0.0.1:8080/readyz";
    const char *env_port = getenv("GRADD_PORT");
    if (env_port && *env_port && strlen(env_port) < 6 && strspn(env_port, "0123456789") == strlen(env_port)) {
        cd_join(def, sizeof def, "http://127.0.0.1:", env_port);
        cd_join(def + strlen(def), sizeof def - strlen(def), "/readyz", "");
    }
    const char *url = argc > 0 ? argv[0] : def;
    char host[256], path[512] = "/readyz";
    int port = 80;
    if (sscanf(url, "http://%255[^:/]:%d%511s", host, &port, path) < 2 &&
        sscanf(url, "http://%255[^:/]%511s", host, path) < 1) {
        fprintf(stderr, "gradd health: URL must be http://host[:port]/path\n");
        return 2;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "gradd health: host must be an IPv4 address or localhost\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "gradd health: cannot connect to %s:%d\n", host, port);
        if (fd >= 0) close(fd);
        return 1;
    }
    char reqbuf[1024], resp[64] = {0};
    int n = snprintf(reqbuf, sizeof reqbuf, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (write(fd, reqbuf, (size_t)n) != n || read(fd, resp, sizeof resp - 1) < 12) {
        close(fd);
        fprintf(stderr, "gradd health: no answer\n");
        return 1;
    }
    close(fd);
    int status = atoi(resp + 9);
    printf("%d\n", status);
    return status == 200 ? 0 : 1;
}
