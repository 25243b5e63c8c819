/*
 * A delegated mote in C on a POSIX host, over UDP: it associates with its IoTSSP, takes
 * the sessions the IoTSSP transfers and echoes every client's application data back over
 * its transferred session. It stops when a session has been closed by its client (or at
 * the deadline) and prints its counters.
 *
 *   echo_mote IOTSSP_ADDR IOTSSP_PORT PSK_HEX EUI64_HEX SECONDS [KEY_HEX]
 *
 * With KEY_HEX (the mote's P-256 private key, 32 bytes) it serves a keyless IoTSSP: it
 * signs the handshake digests its IoTSSP asks for with that key (mote_soft_p256_sign_digest,
 * the library's feature soft-ecdsa, where a firmware would run its ECC engine) and prints
 * "signed PURPOSE DIGEST_HEX" for each; without it, it refuses them.
 *
 * It binds the association and session sockets on ::1, ephemeral ports, and prints them
 * first ("ports ASSOC SESSION"). AES and P-256 are the library's software versions (its
 * default features soft-aes and soft-ecc); randomness comes from getrandom(2); the clock is
 * CLOCK_MONOTONIC.
 *
 * Built with -DMOTE_RESUMPTION (against a library built with the feature `resumption`) it
 * keeps both its sessions resumable (mote_set_resumption_slots): a client that comes back
 * with a session's id resumes it with the mote alone, and the example prints the resumption
 * counters at the end.
 *
 * Built with -DMOTE_EXAMPLE_PLATFORM_AES it takes AES from platform_aes128_encrypt, and
 * with -DMOTE_EXAMPLE_PLATFORM_P256 P-256 from platform_p256_generate, platform_p256_agree
 * and platform_ecdsa_sign, as a firmware does whose radio chip has an AES engine and whose
 * MCU an ECC engine; it then links against a library built without soft-aes, soft-ecc or
 * soft-ecdsa (scripts/mote-footprint).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mote.h"

static Mote mote; /* zeroed: "not set up" until mote_init */

/* The firmware's drivers of its AES and ECC engines. */
#ifdef MOTE_EXAMPLE_PLATFORM_AES
void platform_aes128_encrypt(void *ctx, const uint8_t *key, uint8_t *block);
#define AES128_ENCRYPT platform_aes128_encrypt
#else
#define AES128_ENCRYPT mote_soft_aes128_encrypt
#endif
#ifdef MOTE_EXAMPLE_PLATFORM_P256
int32_t platform_p256_generate(void *ctx, uint8_t *secret, uint8_t *public_key);
int32_t platform_p256_agree(void *ctx, const uint8_t *secret, const uint8_t *peer, uint8_t *z);
#define P256_GENERATE platform_p256_generate
#define P256_AGREE platform_p256_agree
#else
#define P256_GENERATE mote_soft_p256_generate
#define P256_AGREE mote_soft_p256_agree
#endif

static uint8_t signing_key[32];
static int has_signing_key;

#ifdef MOTE_EXAMPLE_PLATFORM_P256
int32_t platform_ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature);
#define ECDSA_SIGN platform_ecdsa_sign
#else
/* The platform's keyless signer: the mote's key never leaves it. */
static int32_t ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature)
{
    (void)ctx;
    if (!has_signing_key) {
        return MOTE_SIGN_REFUSED;
    }
    if (mote_soft_p256_sign_digest(signing_key, digest, signature) != 0) {
        return -1;
    }
    printf("signed %u ", purpose);
    for (int i = 0; i < 32; i++) {
        printf("%02x", digest[i]);
    }
    printf("\n");
    return 0;
}
#define ECDSA_SIGN ecdsa_sign
#endif

static uint64_t now_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void random_bytes(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n <= 0) {
            continue;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static int hex(const char *s, uint8_t *out, size_t max)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > max) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("socket");
        exit(2);
    }
    *port = ntohs(a.sin6_port);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s IOTSSP_ADDR IOTSSP_PORT PSK_HEX EUI64_HEX SECONDS [KEY_HEX]\n",
                argv[0]);
        return 2;
    }
    if (argc == 7) {
        if (hex(argv[6], signing_key, sizeof signing_key) != 32) {
            fprintf(stderr, "bad key\n");
            return 2;
        }
        has_signing_key = 1;
    }
    uint8_t psk[32];
    MoteConfig config = {0};
    int psk_len = hex(argv[3], psk, sizeof psk);
    if (psk_len < 0 || hex(argv[4], config.eui64, 8) != 8 ||
        inet_pton(AF_INET6, argv[1], config.iotssp.addr) != 1) {
        fprintf(stderr, "bad argument\n");
        return 2;
    }
    config.psk = psk;
    config.psk_len = (size_t)psk_len;
    config.has_iotssp = 1;
    config.iotssp.port = (uint16_t)atoi(argv[2]);
    config.suites = 0; /* every suite */
    config.session_idle_ms = 0;
    MotePlatform platform = {
        .ctx = NULL,
        .aes128_encrypt = AES128_ENCRYPT,
        .random = random_bytes,
        .now_ms = now_ms,
        .p256_generate = P256_GENERATE,
        .p256_agree = P256_AGREE,
        .ecdsa_sign = ECDSA_SIGN,
    };
    int rc = mote_init(&mote, &platform, &config);
    if (rc != MOTE_OK) {
        fprintf(stderr, "mote_init failed: %d%s\n", rc,
                rc == MOTE_ERR_STORAGE ? " (mote.h is not this library's header)" : "");
        return 2;
    }
#ifdef MOTE_RESUMPTION
    if (mote_set_resumption_slots(&mote, MOTE_SLOTS) != MOTE_OK) {
        fprintf(stderr, "mote_set_resumption_slots failed\n");
        return 2;
    }
#endif

    uint16_t ports[2];
    int fds[2] = {udp_socket(&ports[0]), udp_socket(&ports[1])};
    printf("ports %u %u\n", ports[MOTE_LOCAL_ASSOCIATION], ports[MOTE_LOCAL_SESSION]);
    fflush(stdout);

    uint64_t deadline = now_ms(NULL) + 1000u * (uint64_t)atoi(argv[5]);
    static uint8_t buf[MOTE_MAX_DATAGRAM];
    MoteCounters c = {0};
    while (now_ms(NULL) < deadline && c.sessions_closed == 0) {
        uint64_t at;
        int timeout = 100;
        if (mote_poll_timeout(&mote, &at) == 1) {
            uint64_t now = now_ms(NULL);
            timeout = at <= now ? 0 : (at - now < 100 ? (int)(at - now) : 100);
        }
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        if (poll(p, 2, timeout) < 0 && errno != EINTR) {
            perror("poll");
            return 2;
        }
        for (uint8_t local = 0; local < 2; local++) {
            if (!(p[local].revents & POLLIN)) {
                continue;
            }
            struct sockaddr_in6 from;
            socklen_t flen = sizeof from;
            ssize_t n = recvfrom(fds[local], buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
            if (n < 0) {
                continue;
            }
            MoteEndpoint ep;
            memcpy(ep.addr, &from.sin6_addr, 16);
            ep.port = ntohs(from.sin6_port);
            switch (mote_handle_datagram(&mote, local, &ep, buf, (size_t)n)) {
            case MOTE_EVENT_ASSOCIATED:
                printf("associated\n");
                break;
            case MOTE_EVENT_SESSION_INSTALLED:
                printf("session installed\n");
                break;
            case MOTE_EVENT_TRANSFER_REFUSED:
                printf("transfer refused\n");
                break;
            case MOTE_EVENT_SIGNED:
                printf("signature sent\n");
                break;
            case MOTE_EVENT_SIGN_REFUSED:
                printf("signature refused\n");
                break;
            default:
                break;
            }
        }
        mote_handle_timeout(&mote);

        /* The application: echo whatever a client sent, over its session. */
        MoteEndpoint client;
        int n;
        while ((n = mote_recv(&mote, buf, sizeof buf, &client)) > 0) {
            printf("received %d bytes: %.*s\n", n, n, (const char *)buf);
            if (mote_send(&mote, &client, buf, (size_t)n) != MOTE_OK) {
                printf("send failed\n");
            }
        }

        MoteEndpoint to;
        uint8_t local;
        while ((n = mote_poll_transmit(&mote, buf, sizeof buf, &to, &local)) > 0) {
            struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_port = htons(to.port)};
            memcpy(&dst.sin6_addr, to.addr, 16);
            sendto(fds[local], buf, (size_t)n, 0, (struct sockaddr *)&dst, sizeof dst);
        }
        fflush(stdout);
        mote_counters(&mote, &c);
    }

    MoteFootprint f = mote_footprint();
    printf("counters associations=%llu sessions_installed=%llu app_data_in=%llu app_data_out=%llu "
           "alerts_in=%llu alerts_out=%llu sessions_closed=%llu decrypt_failed=%llu "
           "sessions_active=%llu\n",
           (unsigned long long)c.associations, (unsigned long long)c.sessions_installed,
           (unsigned long long)c.app_data_in, (unsigned long long)c.app_data_out,
           (unsigned long long)c.alerts_in, (unsigned long long)c.alerts_out,
           (unsigned long long)c.sessions_closed, (unsigned long long)c.decrypt_failed,
           (unsigned long long)c.sessions_active);
    printf("keyless signatures=%llu refused=%llu\n", (unsigned long long)c.signatures,
           (unsigned long long)c.signatures_refused);
#ifdef MOTE_RESUMPTION
    MoteResumptionCounters r = {0};
    mote_resumption_counters(&mote, &r);
    printf("resumption cached=%llu resumed=%llu fallbacks=%llu\n", (unsigned long long)r.cached,
           (unsigned long long)r.resumed, (unsigned long long)r.fallbacks);
#endif
    printf("footprint slot=%zu queues=%zu resumption=%zu state=%zu storage=%zu\n", f.slot_bytes,
           f.queue_bytes, f.resumption_bytes, f.state_bytes, f.storage_bytes);
    mote_deinit(&mote);
    return c.sessions_closed > 0 ? 0 : 1;
}
