/*
 * Stand-ins for a firmware's drivers of its AES and ECC engines (a radio chip's AES-128, a
 * PKA such as the CC2538's, which also signs for keyless delegation), for echo_mote.c built
 * with -DMOTE_EXAMPLE_PLATFORM_AES and -DMOTE_EXAMPLE_PLATFORM_P256: the footprint of the
 * library without its software AES and P-256 (scripts/mote-footprint).
 * They compute nothing; the drivers are the platform's code, not the library's, and are
 * linked into both the measured build and its baseline.
 */
#include "mote.h"

void platform_aes128_encrypt(void *ctx, const uint8_t *key, uint8_t *block) { (void)ctx; (void)key; (void)block; }
int32_t platform_p256_generate(void *ctx, uint8_t *secret, uint8_t *public_key) { (void)ctx; (void)secret; (void)public_key; return -1; }
int32_t platform_p256_agree(void *ctx, const uint8_t *secret, const uint8_t *peer, uint8_t *z) { (void)ctx; (void)secret; (void)peer; (void)z; return -1; }
int32_t platform_ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature) { (void)ctx; (void)purpose; (void)digest; (void)signature; return MOTE_SIGN_REFUSED; }
