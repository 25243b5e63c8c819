/*
 * A delegated mote as a RIOT application: the C API of delegated-mote (mote.h, the static
 * library libmote_ffi.a) over RIOT's UDP sockets (sock_udp, asynchronous through an event
 * queue). The node joins its 6LoWPAN network as usual (its border router registers its
 * address); once told to start, it associates with its IoTSSP, takes the sessions the
 * IoTSSP transfers, and answers what a client sends over its transferred session: a CoAP
 * request (RFC 7252) gets a response from a small hand-written CoAP server
 * (/.well-known/core and /sensors/temp), anything else is echoed back.
 *
 * Shell commands (RIOT's shell on stdin):
 *   mote start PSK_HEX [IOTSSP_ADDR [IOTSSP_PORT]]
 *       the PSK shared with the IoTSSP; its address and port (default port 5690), or none
 *       to learn them from the IoTSSP's first Poke. The mote's identity is the EUI-64 of
 *       the node's first network interface (its IEEE 802.15.4 long address).
 *   mote report SERVER_ADDR SERVER_PORT PATH [SECONDS]
 *       outbound delegation: the mote asks its IoTSSP for a DTLS session with that CoAP
 *       server (mote_connect; the IoTSSP runs the handshake in the mote's name and transfers
 *       the session, the mote as client) and GETs PATH on it every SECONDS (default 5),
 *       asking again while it has no session; responses are printed and counted.
 *   mote key KEY_HEX
 *       keyless delegation (key = "mote" at the IoTSSP): the mote's P-256 private key (32
 *       bytes, the key of its certificate), with which it signs the handshake digests its
 *       IoTSSP asks for; without it the mote refuses them.
 *   mote stats
 *       prints "mote counters key=value ..." (the library's counters, the CoAP requests
 *       this application answered and its own reports) and "mote footprint ...".
 *
 * What the platform gives the library: AES-128 in software (mote_soft_aes128_encrypt; a
 * board with an AES engine would pass its own block function), randomness from the
 * board's hardware RNG (periph_hwrng), the clock from ztimer64 (milliseconds), P-256 in
 * the library's software (its default ECDH; ECDSA signing for keyless delegation through
 * mote_soft_p256_sign_digest, where a board with an ECC engine would run that).
 *
 * Every call into the library happens on the mote's thread, which runs the event queue:
 * the sockets' receive events, the library's timer, and the shell's commands (posted to
 * the queue, so the shell thread never touches the mote).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "event/timeout.h"
#include "net/ipv6/addr.h"
#include "net/netif.h"
#include "net/netopt.h"
#include "net/sock/async/event.h"
#include "net/sock/udp.h"
#include "periph/hwrng.h"
#include "shell.h"
#include "thread.h"
#include "ztimer.h"
#include "ztimer64.h"

#include "mote.h"

/* The port an attached IoTSSP sends from when no port is given. */
#define DEFAULT_IOTSSP_PORT 5690
/* The library's Rust code (P-256 in software above all) wants a generous stack. */
#define MOTE_THREAD_STACKSIZE (64 * 1024)
/* The longest timer wait, so that a clock jump never leaves the mote asleep for long. */
#define MAX_WAIT_MS (60u * 1000u)

static Mote mote; /* zeroed: "not set up" until mote_init */
static char mote_stack[MOTE_THREAD_STACKSIZE];
static event_queue_t queue;
static sock_udp_t socks[2]; /* indexed by MOTE_LOCAL_ASSOCIATION / MOTE_LOCAL_SESSION */
static event_timeout_t timer;
static uint8_t rx_buf[1280];
static uint8_t tx_buf[MOTE_MAX_DATAGRAM];
static uint8_t app_buf[MOTE_QUEUE_BYTES];
static unsigned coap_requests;
static unsigned echoes;
static unsigned readings;

/* What `mote report` asked for: the server, the path to GET, how often. */
static struct {
    int enabled;
    MoteEndpoint server;
    char path[48];
    uint32_t interval_ms;
    uint16_t mid;
} report;
static event_timeout_t report_timer;
static unsigned coap_requests_out;
static unsigned coap_responses_in;

/* What `mote start` asked for, handed to the mote's thread with the start event. */
static struct {
    uint8_t psk[32];
    size_t psk_len;
    uint8_t has_iotssp;
    MoteEndpoint iotssp;
} start_args;

/* What `mote key` set, handed to the mote's thread with its event. */
static struct {
    uint8_t key[32];
} key_args;

/* The mote's signing key for keyless delegation, read only on the mote's thread. */
static uint8_t signing_key[32];
static int has_signing_key;

/* ---- the platform ---------------------------------------------------------------- */

static uint64_t now_ms(void *ctx)
{
    (void)ctx;
    return ztimer64_now(ZTIMER64_MSEC);
}

/* Keyless delegation: the signature the IoTSSP asks for, with the mote's own key. */
static int32_t ecdsa_sign(void *ctx, uint8_t purpose, const uint8_t *digest, uint8_t *signature)
{
    (void)ctx;
    (void)purpose;
    if (!has_signing_key) {
        return MOTE_SIGN_REFUSED;
    }
    return mote_soft_p256_sign_digest(signing_key, digest, signature) == 0 ? 0 : -1;
}

static void random_bytes(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    hwrng_read(buf, (unsigned)len);
}

/* ---- a minimal CoAP server (RFC 7252) --------------------------------------------- */

#define COAP_CON 0
#define COAP_NON 1
#define COAP_ACK 2
#define COAP_RST 3
#define COAP_GET 1
#define COAP_CONTENT ((2 << 5) | 5)          /* 2.05 */
#define COAP_NOT_FOUND ((4 << 5) | 4)        /* 4.04 */
#define COAP_METHOD_NOT_ALLOWED ((4 << 5) | 5) /* 4.05 */
#define COAP_OPT_URI_PATH 11
#define COAP_OPT_CONTENT_FORMAT 12
#define COAP_FORMAT_TEXT 0
#define COAP_FORMAT_LINK 40

static const char well_known_core[] =
    "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\";ct=0";

/* A CoAP message of version 1 whose code is of class 0 (a request or an Empty message):
 * the same rule as motesim's delegated mote, so text that looks like a response is echoed. */
static int is_coap_request(const uint8_t *m, size_t len)
{
    return len >= 4 && (m[0] >> 6) == 1 && (m[1] >> 5) == 0;
}

/* Reads an option's extended delta or length nibble; -1 on a malformed message. */
static int coap_extended(unsigned nibble, const uint8_t **p, const uint8_t *end)
{
    if (nibble < 13) {
        return (int)nibble;
    }
    if (nibble == 13) {
        if (*p + 1 > end) {
            return -1;
        }
        return 13 + *(*p)++;
    }
    if (nibble == 14) {
        if (*p + 2 > end) {
            return -1;
        }
        int v = 269 + (((*p)[0] << 8) | (*p)[1]);
        *p += 2;
        return v;
    }
    return -1; /* 15 is the payload marker or reserved */
}

/* Answers a CoAP request in `req` into `out` (cap bytes); returns the response's length,
 * or 0 when nothing is to be sent (an ACK, a RST, a NON Empty, a malformed message). */
static size_t coap_answer(const uint8_t *req, size_t len, uint8_t *out, size_t cap)
{
    unsigned type = (req[0] >> 4) & 3;
    unsigned tkl = req[0] & 0x0f;
    uint8_t code = req[1];
    if (tkl > 8 || 4 + tkl > len || cap < 64) {
        return 0;
    }
    if (code == 0) { /* Empty: a CoAP ping is answered with a reset */
        if (type != COAP_CON || len != 4) {
            return 0;
        }
        out[0] = (1 << 6) | (COAP_RST << 4);
        out[1] = 0;
        out[2] = req[2];
        out[3] = req[3];
        return 4;
    }
    if (type != COAP_CON && type != COAP_NON) {
        return 0;
    }

    /* The Uri-Path, joined with '/' (without a leading one). */
    char path[64];
    size_t path_len = 0;
    int too_long = 0;
    const uint8_t *p = req + 4 + tkl;
    const uint8_t *end = req + len;
    unsigned number = 0;
    while (p < end && *p != 0xff) {
        unsigned delta_nibble = *p >> 4, len_nibble = *p & 0x0f;
        p++;
        int delta = coap_extended(delta_nibble, &p, end);
        int olen = coap_extended(len_nibble, &p, end);
        if (delta < 0 || olen < 0 || p + olen > end) {
            return 0;
        }
        number += (unsigned)delta;
        if (number == COAP_OPT_URI_PATH) {
            if (path_len + 1 + (size_t)olen >= sizeof path) {
                too_long = 1;
            }
            else {
                if (path_len > 0) {
                    path[path_len++] = '/';
                }
                memcpy(path + path_len, p, (size_t)olen);
                path_len += (size_t)olen;
            }
        }
        p += olen;
    }
    path[path_len] = '\0';

    uint8_t rcode;
    int format = -1;
    char payload[80];
    size_t payload_len = 0;
    int known = strcmp(path, ".well-known/core") == 0 || strcmp(path, "sensors/temp") == 0;
    if (too_long || !known) {
        rcode = COAP_NOT_FOUND;
    }
    else if (code != COAP_GET) {
        rcode = COAP_METHOD_NOT_ALLOWED;
    }
    else if (strcmp(path, ".well-known/core") == 0) {
        rcode = COAP_CONTENT;
        format = COAP_FORMAT_LINK;
        payload_len = sizeof well_known_core - 1;
        memcpy(payload, well_known_core, payload_len);
    }
    else {
        /* A reading in tenths of a degree that steps with every request: 20.0 .. 24.9. */
        unsigned r = 200 + (readings * 7u) % 50u;
        readings++;
        rcode = COAP_CONTENT;
        format = COAP_FORMAT_TEXT;
        payload_len = (size_t)snprintf(payload, sizeof payload, "%u.%u", r / 10, r % 10);
    }

    size_t n = 0;
    static uint16_t next_mid = 0x5a00;
    if (type == COAP_CON) {
        out[n++] = (uint8_t)((1 << 6) | (COAP_ACK << 4) | tkl);
        out[n++] = rcode;
        out[n++] = req[2];
        out[n++] = req[3];
    }
    else {
        next_mid++;
        out[n++] = (uint8_t)((1 << 6) | (COAP_NON << 4) | tkl);
        out[n++] = rcode;
        out[n++] = (uint8_t)(next_mid >> 8);
        out[n++] = (uint8_t)next_mid;
    }
    memcpy(out + n, req + 4, tkl);
    n += tkl;
    if (format == COAP_FORMAT_TEXT) {
        out[n++] = (COAP_OPT_CONTENT_FORMAT << 4) | 0; /* empty value = 0 */
    }
    else if (format == COAP_FORMAT_LINK) {
        out[n++] = (COAP_OPT_CONTENT_FORMAT << 4) | 1;
        out[n++] = COAP_FORMAT_LINK;
    }
    if (payload_len > 0 && n + 1 + payload_len <= cap) {
        out[n++] = 0xff;
        memcpy(out + n, payload, payload_len);
        n += payload_len;
    }
    return n;
}

/* ---- moving datagrams --------------------------------------------------------------- */

static void flush(void)
{
    MoteEndpoint to;
    uint8_t local;
    int n;
    while ((n = mote_poll_transmit(&mote, tx_buf, sizeof tx_buf, &to, &local)) > 0) {
        sock_udp_ep_t remote = {.family = AF_INET6, .port = to.port,
                                .netif = SOCK_ADDR_ANY_NETIF};
        memcpy(remote.addr.ipv6, to.addr, 16);
        ssize_t res = sock_udp_send(&socks[local], tx_buf, (size_t)n, &remote);
        if (res < 0) {
            printf("mote: send to port %u failed (%d)\n", to.port, (int)res);
        }
    }
}

static void send_record(const MoteEndpoint *client, const uint8_t *data, size_t len)
{
    int res = mote_send(&mote, client, data, len);
    if (res == MOTE_ERR_QUEUE_FULL) {
        flush();
        res = mote_send(&mote, client, data, len);
    }
    if (res != MOTE_OK) {
        printf("mote: answer not sent (%d)\n", (int)res);
    }
}

static int is_report_server(const MoteEndpoint *peer)
{
    return report.enabled && peer->port == report.server.port &&
           memcmp(peer->addr, report.server.addr, 16) == 0;
}

/* A response of the report server: its code and payload, printed. */
static void print_response(const uint8_t *m, size_t len)
{
    if (len < 4 || (m[0] >> 6) != 1 || (m[1] >> 5) == 0) {
        printf("mote: %u bytes from the server that are no CoAP response\n", (unsigned)len);
        return;
    }
    coap_responses_in++;
    /* The options are not needed: skip them to the payload marker. */
    const uint8_t *p = m + 4 + (m[0] & 0x0f);
    const uint8_t *end = m + len;
    while (p < end && *p != 0xff) {
        unsigned delta_nibble = *p >> 4, len_nibble = *p & 0x0f;
        p++;
        int delta = coap_extended(delta_nibble, &p, end);
        int olen = coap_extended(len_nibble, &p, end);
        if (delta < 0 || olen < 0 || p + olen > end) {
            p = end;
            break;
        }
        p += olen;
    }
    const uint8_t *payload = p < end ? p + 1 : end;
    size_t plen = (size_t)(end - payload);
    printf("mote: response %u.%02u from the server: \"%.*s\"\n", m[1] >> 5, m[1] & 31,
           (int)(plen < 60 ? plen : 60), (const char *)payload);
}

/* The application: every record of application data a client sent is answered; what the
 * report server sends on the mote's client session is a response to one of its GETs. */
static void serve(void)
{
    MoteEndpoint client;
    int n;
    static uint8_t answer[MOTE_QUEUE_BYTES];
    while ((n = mote_recv(&mote, app_buf, sizeof app_buf, &client)) > 0) {
        if (is_report_server(&client)) {
            print_response(app_buf, (size_t)n);
        }
        else if (is_coap_request(app_buf, (size_t)n)) {
            coap_requests++;
            size_t len = coap_answer(app_buf, (size_t)n, answer, sizeof answer);
            printf("mote: CoAP request of %d bytes, answered with %u bytes\n", n,
                   (unsigned)len);
            if (len > 0) {
                send_record(&client, answer, len);
            }
        }
        else {
            echoes++;
            printf("mote: echoing %d bytes\n", n);
            send_record(&client, app_buf, (size_t)n);
        }
    }
}

static void schedule(void)
{
    uint64_t at;
    if (mote_poll_timeout(&mote, &at) != 1) {
        event_timeout_clear(&timer);
        return;
    }
    uint64_t now = now_ms(NULL);
    uint64_t wait = at > now ? at - now : 0;
    event_timeout_set(&timer, (uint32_t)(wait < MAX_WAIT_MS ? wait : MAX_WAIT_MS));
}

/* After anything the mote handled: answer clients, send what is queued, rearm the timer. */
static void pump(void)
{
    serve();
    flush();
    schedule();
}

/* A CON GET of the report path on the client session. */
static void send_report(void)
{
    uint8_t req[64];
    size_t n = 0;
    report.mid++;
    req[n++] = (1 << 6) | (COAP_CON << 4) | 2; /* token: the message id */
    req[n++] = COAP_GET;
    req[n++] = (uint8_t)(report.mid >> 8);
    req[n++] = (uint8_t)report.mid;
    req[n++] = (uint8_t)(report.mid >> 8);
    req[n++] = (uint8_t)report.mid;
    unsigned last = 0;
    for (const char *seg = report.path; *seg != '\0';) {
        if (*seg == '/') {
            seg++;
            continue;
        }
        size_t len = strcspn(seg, "/");
        if (len > 12 || n + 1 + len > sizeof req) {
            break; /* the shell command kept segments short */
        }
        req[n++] = (uint8_t)(((COAP_OPT_URI_PATH - last) << 4) | len);
        last = COAP_OPT_URI_PATH;
        memcpy(req + n, seg, len);
        n += len;
        seg += len;
    }
    send_record(&report.server, req, n);
    coap_requests_out++;
}

/* Every interval, and when the association or a session comes: a GET on the session with
 * the server if there is one, else a Connect for one. */
static void report_tick(void)
{
    if (!report.enabled) {
        return;
    }
    if (mote_is_client_of(&mote, &report.server) == 1) {
        send_report();
    }
    else {
        int res = mote_connect(&mote, &report.server);
        if (res == MOTE_OK) {
            puts("mote: asked the IoTSSP for a session with the server");
        }
        /* Not associated yet, or a Connect pending: the next interval asks again. */
    }
    event_timeout_set(&report_timer, report.interval_ms);
}

static void on_datagram(sock_udp_t *sock, sock_async_flags_t flags, void *arg)
{
    uint8_t local = (uint8_t)(uintptr_t)arg;
    if (!(flags & SOCK_ASYNC_MSG_RECV)) {
        return;
    }
    sock_udp_ep_t remote;
    ssize_t n;
    /* One event may stand for several datagrams: read until the socket is empty. */
    while ((n = sock_udp_recv(sock, rx_buf, sizeof rx_buf, 0, &remote)) >= 0 ||
           n == -ENOBUFS) {
        if (n < 0) {
            continue; /* longer than any message of the mote's: dropped */
        }
        MoteEndpoint from = {.port = remote.port};
        memcpy(from.addr, remote.addr.ipv6, 16);
        int had_report_session = report.enabled && mote_is_client_of(&mote, &report.server) == 1;
        switch (mote_handle_datagram(&mote, local, &from, rx_buf, (size_t)n)) {
        case MOTE_EVENT_ASSOCIATED:
            puts("mote: associated with the IoTSSP");
            report_tick();
            break;
        case MOTE_EVENT_SESSION_INSTALLED:
            if (report.enabled && !had_report_session &&
                mote_is_client_of(&mote, &report.server) == 1) {
                puts("mote: session installed (the mote is the client of the server)");
                report_tick();
            }
            else {
                puts("mote: session installed");
            }
            break;
        case MOTE_EVENT_TRANSFER_REFUSED:
            puts("mote: transfer refused");
            break;
        case MOTE_EVENT_CONNECT_FAILED:
            puts("mote: the IoTSSP could not open the session with the server");
            break;
        case MOTE_EVENT_SIGNED:
            puts("mote: signed a handshake for the IoTSSP (keyless)");
            break;
        case MOTE_EVENT_SIGN_REFUSED:
            puts("mote: refused the IoTSSP's signature request (no key: mote key KEY_HEX)");
            break;
        default:
            break;
        }
        pump();
    }
}

static void on_timer(event_t *ev)
{
    (void)ev;
    mote_handle_timeout(&mote);
    pump();
}

static event_t timer_event = {.handler = on_timer};

static void on_report_timer(event_t *ev)
{
    (void)ev;
    report_tick();
    pump();
}

static event_t report_event = {.handler = on_report_timer};

/* ---- commands from the shell, run on the mote's thread ---------------------------------- */

static void print_counters(void)
{
    MoteCounters c;
    if (mote_counters(&mote, &c) != MOTE_OK) {
        puts("mote counters: not started");
        return;
    }
    printf("mote counters associations=%u transfers_installed=%u transfers_refused=%u "
           "ecc_operations=%u sessions_active=%u sessions_installed=%u sessions_closed=%u "
           "sessions_expired=%u sessions_evicted=%u records_in=%u app_data_in=%u "
           "app_data_out=%u alerts_in=%u alerts_out=%u decrypt_failed=%u replayed=%u "
           "no_session=%u not_from_iotssp=%u coap_requests=%u echoes=%u connects_started=%u "
           "connects_completed=%u connects_failed=%u connects_timed_out=%u "
           "coap_requests_out=%u coap_responses_in=%u signatures=%u signatures_refused=%u\n",
           (unsigned)c.associations, (unsigned)c.transfers_installed,
           (unsigned)c.transfers_refused, (unsigned)c.ecc_operations,
           (unsigned)c.sessions_active, (unsigned)c.sessions_installed,
           (unsigned)c.sessions_closed, (unsigned)c.sessions_expired,
           (unsigned)c.sessions_evicted, (unsigned)c.records_in, (unsigned)c.app_data_in,
           (unsigned)c.app_data_out, (unsigned)c.alerts_in, (unsigned)c.alerts_out,
           (unsigned)c.decrypt_failed, (unsigned)c.replayed, (unsigned)c.no_session,
           (unsigned)c.not_from_iotssp, coap_requests, echoes, (unsigned)c.connects_started,
           (unsigned)c.connects_completed, (unsigned)c.connects_failed,
           (unsigned)c.connects_timed_out, coap_requests_out, coap_responses_in,
           (unsigned)c.signatures, (unsigned)c.signatures_refused);
    MoteFootprint f = mote_footprint();
    printf("mote footprint slot=%u queues=%u resumption=%u state=%u storage=%u\n",
           (unsigned)f.slot_bytes, (unsigned)f.queue_bytes, (unsigned)f.resumption_bytes,
           (unsigned)f.state_bytes, (unsigned)f.storage_bytes);
}

static void on_stats(event_t *ev)
{
    (void)ev;
    print_counters();
}

static event_t stats_event = {.handler = on_stats};

static void on_start(event_t *ev)
{
    (void)ev;
    MoteConfig config = {0};
    netif_t *netif = netif_iter(NULL);
    if (netif == NULL ||
        netif_get_opt(netif, NETOPT_ADDRESS_LONG, 0, config.eui64, sizeof config.eui64) != 8) {
        puts("mote: no interface with an EUI-64");
        return;
    }
    config.psk = start_args.psk;
    config.psk_len = start_args.psk_len;
    config.has_iotssp = start_args.has_iotssp;
    config.iotssp = start_args.iotssp;
    config.suites = 0; /* every suite the library's record layer has */
    config.session_idle_ms = 0;
    MotePlatform platform = {
        .ctx = NULL,
        .aes128_encrypt = mote_soft_aes128_encrypt,
        .random = random_bytes,
        .now_ms = now_ms,
        .ecdsa_sign = ecdsa_sign,
    };
    int res = mote_init(&mote, &platform, &config);
    memset(start_args.psk, 0, sizeof start_args.psk);
    if (res != MOTE_OK) {
        printf("mote: mote_init failed (%d)\n", (int)res);
        return;
    }
    printf("mote: started, EUI-64 %02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x\n", config.eui64[0],
           config.eui64[1], config.eui64[2], config.eui64[3], config.eui64[4],
           config.eui64[5], config.eui64[6], config.eui64[7]);
    /* Associates at its first timeout. */
    mote_handle_timeout(&mote);
    pump();
}

static event_t start_event = {.handler = on_start};

static void on_key(event_t *ev)
{
    (void)ev;
    memcpy(signing_key, key_args.key, sizeof signing_key);
    memset(key_args.key, 0, sizeof key_args.key);
    has_signing_key = 1;
    puts("mote: signing key set (keyless delegation)");
}

static event_t key_event = {.handler = on_key};

/* What `mote report` asked for, handed to the mote's thread with its event. */
static struct {
    int has_server;
    MoteEndpoint server;
    char path[48];
    uint32_t interval_ms;
} report_args;

static void on_report_start(event_t *ev)
{
    (void)ev;
    report.enabled = report_args.has_server;
    report.server = report_args.server;
    memcpy(report.path, report_args.path, sizeof report.path);
    report.interval_ms = report_args.interval_ms;
    printf("mote: reporting to port %u every %u ms\n", report.server.port,
           (unsigned)report.interval_ms);
    report_tick();
    pump();
}

static event_t report_start_event = {.handler = on_report_start};

static void *mote_thread(void *arg)
{
    (void)arg;
    event_queue_claim(&queue);
    for (uint8_t local = 0; local < 2; local++) {
        sock_udp_ep_t ep = SOCK_IPV6_EP_ANY;
        ep.port = local == MOTE_LOCAL_ASSOCIATION ? MOTE_ASSOCIATION_PORT : MOTE_SESSION_PORT;
        if (sock_udp_create(&socks[local], &ep, NULL, 0) < 0) {
            printf("mote: cannot bind UDP port %u\n", ep.port);
            return NULL;
        }
        sock_udp_event_init(&socks[local], &queue, on_datagram, (void *)(uintptr_t)local);
    }
    event_timeout_ztimer_init(&timer, ZTIMER_MSEC, &queue, &timer_event);
    event_timeout_ztimer_init(&report_timer, ZTIMER_MSEC, &queue, &report_event);
    printf("mote: listening on UDP %u (association) and %u (sessions)\n",
           MOTE_ASSOCIATION_PORT, MOTE_SESSION_PORT);
    event_loop(&queue);
    return NULL;
}

static int parse_hex(const char *s, uint8_t *out, size_t max)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > max) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) {
            return -1;
        }
        out[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
    }
    return (int)(n / 2);
}

static int mote_cmd(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "stats") == 0) {
        event_post(&queue, &stats_event);
        return 0;
    }
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "report") == 0) {
        ipv6_addr_t addr;
        int seconds = argc == 6 ? atoi(argv[5]) : 5;
        if (ipv6_addr_from_str(&addr, argv[2]) == NULL || atoi(argv[3]) <= 0 ||
            strlen(argv[4]) >= sizeof report.path || seconds <= 0) {
            puts("mote: report SERVER_ADDR SERVER_PORT PATH [SECONDS]");
            return 1;
        }
        report_args.has_server = 1;
        memcpy(report_args.server.addr, addr.u8, 16);
        report_args.server.port = (uint16_t)atoi(argv[3]);
        strcpy(report_args.path, argv[4]);
        report_args.interval_ms = (uint32_t)seconds * 1000u;
        event_post(&queue, &report_start_event);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "key") == 0) {
        if (parse_hex(argv[2], key_args.key, sizeof key_args.key) != 32) {
            puts("mote: the key is 32 bytes in hex");
            return 1;
        }
        event_post(&queue, &key_event);
        return 0;
    }
    if (argc >= 3 && argc <= 5 && strcmp(argv[1], "start") == 0) {
        int psk_len = parse_hex(argv[2], start_args.psk, sizeof start_args.psk);
        if (psk_len < 16) {
            puts("mote: the PSK is 16 to 32 bytes in hex");
            return 1;
        }
        start_args.psk_len = (size_t)psk_len;
        start_args.has_iotssp = 0;
        if (argc >= 4) {
            ipv6_addr_t addr;
            if (ipv6_addr_from_str(&addr, argv[3]) == NULL) {
                puts("mote: bad IoTSSP address");
                return 1;
            }
            memcpy(start_args.iotssp.addr, addr.u8, 16);
            start_args.iotssp.port = argc == 5 ? (uint16_t)atoi(argv[4]) : DEFAULT_IOTSSP_PORT;
            start_args.has_iotssp = 1;
        }
        event_post(&queue, &start_event);
        return 0;
    }
    printf("usage: %s start PSK_HEX [IOTSSP_ADDR [IOTSSP_PORT]] | "
           "%s report SERVER_ADDR SERVER_PORT PATH [SECONDS] | %s key KEY_HEX | %s stats\n",
           argv[0], argv[0], argv[0], argv[0]);
    return 1;
}

SHELL_COMMAND(mote,
              "the delegated mote: start PSK [IOTSSP [PORT]] | report ADDR PORT PATH | key KEY | stats",
              mote_cmd);

int main(void)
{
    puts("delegated mote (mote-ffi over RIOT's sock_udp)");
    event_queue_init_detached(&queue);
    thread_create(mote_stack, sizeof mote_stack, THREAD_PRIORITY_MAIN - 1, 0, mote_thread,
                  NULL, "mote");
    char line_buf[SHELL_DEFAULT_BUFSIZE];
    shell_run(NULL, line_buf, SHELL_DEFAULT_BUFSIZE);
    return 0;
}
