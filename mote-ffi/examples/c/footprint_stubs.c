/*
 * The C API as empty stubs: echo_mote.c linked against these is the footprint baseline
 * (the same firmware without the library), see scripts/mote-footprint.
 */
#include "mote.h"

#ifdef MOTE_RESUMPTION
int32_t mote_init_with_resumption(struct Mote *m, size_t s, const struct MotePlatform *p, const struct MoteConfig *c) { (void)m; (void)s; (void)p; (void)c; return 0; }
int32_t mote_set_resumption_slots(struct Mote *m, uint8_t s) { (void)m; (void)s; return 0; }
int32_t mote_resume(struct Mote *m, const struct MoteEndpoint *s) { (void)m; (void)s; return 0; }
int32_t mote_can_resume(struct Mote *m, const struct MoteEndpoint *s) { (void)m; (void)s; return 0; }
int32_t mote_poll_resumption(struct Mote *m, struct MoteEndpoint *s) { (void)m; (void)s; return 0; }
int32_t mote_resumption_counters(struct Mote *m, struct MoteResumptionCounters *o) { (void)m; (void)o; return 0; }
#else
int32_t mote_init_without_resumption(struct Mote *m, size_t s, const struct MotePlatform *p, const struct MoteConfig *c) { (void)m; (void)s; (void)p; (void)c; return 0; }
#endif
void mote_deinit(struct Mote *m) { (void)m; }
int32_t mote_handle_datagram(struct Mote *m, uint8_t l, const struct MoteEndpoint *f, const uint8_t *d, size_t n) { (void)m; (void)l; (void)f; (void)d; (void)n; return 0; }
int32_t mote_poll_transmit(struct Mote *m, uint8_t *b, size_t c, struct MoteEndpoint *t, uint8_t *l) { (void)m; (void)b; (void)c; (void)t; (void)l; return 0; }
int32_t mote_poll_timeout(struct Mote *m, uint64_t *a) { (void)m; (void)a; return 0; }
int32_t mote_handle_timeout(struct Mote *m) { (void)m; return 0; }
int32_t mote_recv(struct Mote *m, uint8_t *b, size_t c, struct MoteEndpoint *f) { (void)m; (void)b; (void)c; (void)f; return 0; }
int32_t mote_send(struct Mote *m, const struct MoteEndpoint *t, const uint8_t *d, size_t n) { (void)m; (void)t; (void)d; (void)n; return 0; }
int32_t mote_close(struct Mote *m, const struct MoteEndpoint *p) { (void)m; (void)p; return 0; }
int32_t mote_connect(struct Mote *m, const struct MoteEndpoint *s) { (void)m; (void)s; return 0; }
int32_t mote_is_client_of(struct Mote *m, const struct MoteEndpoint *p) { (void)m; (void)p; return 0; }
int32_t mote_counters(struct Mote *m, struct MoteCounters *o) { (void)m; (void)o; return 0; }
struct MoteFootprint mote_footprint(void) { struct MoteFootprint f = {0, 0, 0, 0, 0}; return f; }
void mote_soft_aes128_encrypt(void *c, const uint8_t *k, uint8_t *b) { (void)c; (void)k; (void)b; }
int32_t mote_soft_p256_generate(void *c, uint8_t *s, uint8_t *p) { (void)c; (void)s; (void)p; return 0; }
int32_t mote_soft_p256_agree(void *c, const uint8_t *s, const uint8_t *p, uint8_t *z) { (void)c; (void)s; (void)p; (void)z; return 0; }
int32_t mote_soft_p256_sign_digest(const uint8_t *k, const uint8_t *d, uint8_t *s) { (void)k; (void)d; (void)s; return 0; }
