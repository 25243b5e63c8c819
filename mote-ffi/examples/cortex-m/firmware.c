/*
 * A minimal bare-metal delegated mote for a Cortex-M3 (the CC2538's core), to measure what
 * the library costs a real firmware image (scripts/mote-footprint --mcu). It has what
 * every firmware on the C API has: the vector table, a reset handler that sets up .data
 * and .bss, one static Mote, and a main loop that moves datagrams between the radio's UDP
 * sockets and the library, runs its timer and echoes the application data a client sends
 * over its transferred session. The board's drivers (radio and UDP, clock, random number
 * generator, AES and ECC engines) are in platform.c; they are the platform's code, not
 * the library's, and are linked into the measured image and its baseline alike.
 *
 * As echo_mote.c, it takes AES from the platform's engine with -DMOTE_EXAMPLE_PLATFORM_AES
 * and P-256 (ECDH for the association, ECDSA for keyless delegation) with
 * -DMOTE_EXAMPLE_PLATFORM_P256, and the library's software versions otherwise (a library
 * built with soft-aes, soft-ecc, soft-ecdsa).
 *
 * With -DMOTE_RESUMPTION (a library built with the feature `resumption`) it keeps its
 * sessions resumable, and it reports to a server (platform_report_due) over a session it
 * resumes with the server itself, asking its IoTSSP for a new one (mote_connect) only
 * when the server does not resume: both sides of the abbreviated handshake are linked.
 */
#include <stddef.h>
#include <stdint.h>

#include "mote.h"

/* The board's drivers (platform.c). */
int platform_udp_recv(uint8_t *local, MoteEndpoint *from, uint8_t *buf, size_t cap);
void platform_udp_send(uint8_t local, const MoteEndpoint *to, const uint8_t *buf, size_t len);
void platform_sleep_until(uint64_t at_ms);
uint64_t platform_now_ms(void *ctx);
void platform_random(void *ctx, uint8_t *buf, size_t len);
#ifdef MOTE_RESUMPTION
int platform_report_due(MoteEndpoint *server);
#endif
#ifdef MOTE_EXAMPLE_PLATFORM_AES
void platform_aes128_encrypt(void *ctx, const uint8_t *key, uint8_t *block);
#define AES128_ENCRYPT platform_aes128_encrypt
#else
#define AES128_ENCRYPT mote_soft_aes128_encrypt
#endif
#ifdef MOTE_EXAMPLE_PLATFORM_P256
int32_t platform_p256_generate(void *ctx, uint8_t *secret, uint8_t *public_key);
int32_t platform_p256_agree(void *ctx, const uint8_t *secret, const uint8_t *peer, uint8_t *z);
int32_t platform_ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature);
#define P256_GENERATE platform_p256_generate
#define P256_AGREE platform_p256_agree
#define ECDSA_SIGN platform_ecdsa_sign
#else
#define P256_GENERATE mote_soft_p256_generate
#define P256_AGREE mote_soft_p256_agree
extern const uint8_t platform_signing_key[32];
static int32_t soft_ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest,
                               uint8_t *signature)
{
    (void)ctx;
    (void)purpose;
    return mote_soft_p256_sign_digest(platform_signing_key, digest, signature);
}
#define ECDSA_SIGN soft_ecdsa_sign
#endif
extern const uint8_t platform_psk[16];
extern const uint8_t platform_eui64[8];

static Mote mote;
static uint8_t buf[MOTE_MAX_DATAGRAM];

int main(void)
{
    MotePlatform platform = {
        .ctx = NULL,
        .aes128_encrypt = AES128_ENCRYPT,
        .random = platform_random,
        .now_ms = platform_now_ms,
        .p256_generate = P256_GENERATE,
        .p256_agree = P256_AGREE,
        .ecdsa_sign = ECDSA_SIGN, /* keyless delegation */
    };
    MoteConfig config = {
        .psk = platform_psk,
        .psk_len = sizeof platform_psk,
        .has_iotssp = 0, /* learnt from the IoTSSP's first Poke */
        .suites = 0,
        .session_idle_ms = 0,
    };
    for (size_t i = 0; i < 8; i++) {
        config.eui64[i] = platform_eui64[i];
    }
    if (mote_init(&mote, &platform, &config) != MOTE_OK) {
        for (;;) {
        }
    }
#ifdef MOTE_RESUMPTION
    mote_set_resumption_slots(&mote, MOTE_SLOTS);
#endif
    for (;;) {
        MoteEndpoint peer;
        uint8_t local;
        int n;
        while ((n = platform_udp_recv(&local, &peer, buf, sizeof buf)) > 0) {
            mote_handle_datagram(&mote, local, &peer, buf, (size_t)n);
        }
        mote_handle_timeout(&mote);
        while ((n = mote_recv(&mote, buf, sizeof buf, &peer)) > 0) {
            mote_send(&mote, &peer, buf, (size_t)n);
        }
#ifdef MOTE_RESUMPTION
        if (platform_report_due(&peer) && mote_is_client_of(&mote, &peer) != 1 &&
            mote_resume(&mote, &peer) == MOTE_ERR_NO_SESSION) {
            mote_connect(&mote, &peer);
        }
        if (mote_poll_resumption(&mote, &peer) == MOTE_RESUMPTION_NOT_RESUMED) {
            mote_connect(&mote, &peer);
        }
#endif
        while ((n = mote_poll_transmit(&mote, buf, sizeof buf, &peer, &local)) > 0) {
            platform_udp_send(local, &peer, buf, (size_t)n);
        }
        uint64_t at;
        if (mote_poll_timeout(&mote, &at) == 1) {
            platform_sleep_until(at);
        }
    }
}

extern uint32_t _data_start, _data_end, _data_load, _bss_start, _bss_end, _stack_top;

void reset_handler(void)
{
    uint32_t *src = &_data_load;
    for (uint32_t *dst = &_data_start; dst < &_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_bss_start; dst < &_bss_end;) {
        *dst++ = 0;
    }
    main();
    for (;;) {
    }
}

static void fault_handler(void)
{
    for (;;) {
    }
}

/* The initial stack pointer, reset, and the Cortex-M3's fault and system exceptions. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&_stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0,
    fault_handler, fault_handler, 0, fault_handler, fault_handler,
};
