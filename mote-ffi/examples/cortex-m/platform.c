/*
 * Stand-ins for the board's drivers that firmware.c calls: a CC2538 firmware has its
 * radio's UDP stack, its sleep timer, its random number generator, the radio's AES-128
 * engine and the PKA for P-256 here. They do nothing useful; they are linked into the
 * measured image and its baseline alike (scripts/mote-footprint --mcu), so that the
 * difference is the library's alone.
 */
#include <stddef.h>
#include <stdint.h>

#include "mote.h"

const uint8_t platform_psk[16] = "mote-footprint16";
const uint8_t platform_eui64[8] = {0x02, 0x12, 0x4b, 0, 0, 0, 0, 0x01};
const uint8_t platform_signing_key[32] = {1};

static volatile uint32_t radio;

int platform_udp_recv(uint8_t *local, MoteEndpoint *from, uint8_t *buf, size_t cap)
{
    (void)from;
    (void)buf;
    (void)cap;
    *local = MOTE_LOCAL_SESSION;
    return (int)radio;
}

void platform_udp_send(uint8_t local, const MoteEndpoint *to, const uint8_t *buf, size_t len)
{
    (void)to;
    radio = local + buf[0] + (uint32_t)len;
}

void platform_sleep_until(uint64_t at_ms) { radio = (uint32_t)at_ms; }

uint64_t platform_now_ms(void *ctx)
{
    (void)ctx;
    return radio;
}

void platform_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)radio;
    }
}

void platform_aes128_encrypt(void *ctx, const uint8_t *key, uint8_t *block)
{
    (void)ctx;
    block[0] ^= key[0];
}

int32_t platform_p256_generate(void *ctx, uint8_t *secret, uint8_t *public_key)
{
    (void)ctx;
    public_key[0] = secret[0];
    return 0;
}

int32_t platform_p256_agree(void *ctx, const uint8_t *secret, const uint8_t *peer, uint8_t *z)
{
    (void)ctx;
    z[0] = secret[0] ^ peer[0];
    return 0;
}

int32_t platform_ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature)
{
    (void)ctx;
    signature[0] = digest[0];
    return purpose == MOTE_SIGN_SERVER_KEY_EXCHANGE ? 0 : MOTE_SIGN_REFUSED;
}

#ifdef MOTE_RESUMPTION
int platform_report_due(MoteEndpoint *server)
{
    server->port = MOTE_SESSION_PORT;
    return (int)(radio & 1);
}
#endif
