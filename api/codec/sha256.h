/* sha256.h -- SHA-256 (FIPS 180-4), for the graph store's content
 * addresses ("sha256:<hex of the body>"). Written from the standard; the
 * unit test holds it to NIST's example vectors. */
#ifndef GRADD_CODEC_SHA256_H
#define GRADD_CODEC_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* A hash in progress: feed it with cd_sha256_update, any number of times. */
typedef struct cd_sha256 {
    uint32_t h[8];        /* the chaining state */
    uint8_t block[64];    /* (fill) bytes of the block not yet compressed */
    size_t fill;
    uint64_t total;       /* bytes fed so far */
} cd_sha256;

void cd_sha256_init(cd_sha256 *s);
void cd_sha256_update(cd_sha256 *s, const void *p, size_t n);
/* The 32-byte digest; s is spent afterwards. */
void cd_sha256_final(cd_sha256 *s, uint8_t out[32]);

/* The digest of p[0..n) as 64 lowercase hex digits and a NUL. */
void cd_sha256_hex(const void *p, size_t n, char out[65]);

#endif
