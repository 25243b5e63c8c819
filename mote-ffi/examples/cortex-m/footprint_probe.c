/*
 * Prints mote_footprint() as the Cortex-M build of the library computes it (32-bit
 * pointers and alignment): scripts/mote-footprint --mcu runs it under qemu-arm, the Linux
 * user-mode emulator, through the two Linux system calls it makes (write and exit).
 */
#include <stddef.h>
#include <stdint.h>

#include "mote.h"

static long syscall3(long nr, long a, long b, long c)
{
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    register long r7 __asm__("r7") = nr;
    __asm__ volatile("svc 0" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r7) : "memory");
    return r0;
}

static char *decimal(char *p, size_t v)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) {
        *p++ = digits[--n];
    }
    return p;
}

static char *text(char *p, const char *s)
{
    while (*s) {
        *p++ = *s++;
    }
    return p;
}

void probe_start(void)
{
    MoteFootprint f = mote_footprint();
    char line[128];
    char *p = text(line, "footprint slot=");
    p = decimal(p, f.slot_bytes);
    p = text(p, " queues=");
    p = decimal(p, f.queue_bytes);
    p = text(p, " resumption=");
    p = decimal(p, f.resumption_bytes);
    p = text(p, " state=");
    p = decimal(p, f.state_bytes);
    p = text(p, " storage=");
    p = decimal(p, f.storage_bytes);
    *p++ = '\n';
    syscall3(4 /* write */, 1, (long)line, p - line);
    syscall3(1 /* exit */, 0, 0, 0);
    for (;;) {
    }
}
