/* Minimal bare-metal startup for the CMSIS-NN measurement: vector table, reset handler (copy
 * .data, zero .bss, call main), exit through semihosting, and the two region markers the
 * instruction-counting plugin (tools/insncount.c) keys on, as mote's firmware has them. */
#include <stddef.h>
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _stack_top;
int main(void);

__attribute__((noinline)) void bench_start(void) { __asm volatile("nop"); }
__attribute__((noinline)) void bench_end(void) { __asm volatile("nop\n nop"); }

/* SYS_EXIT_EXTENDED (0x20): exit status passed through to QEMU's exit code. */
__attribute__((noreturn)) void semihost_exit(int code) {
    volatile uint32_t block[2] = {0x20026 /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    register uint32_t r0 __asm("r0") = 0x20;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

/* Not turned back into calls to themselves by GCC's loop-to-memcpy pattern matching. */
#define NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
NO_LIBCALL void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}
NO_LIBCALL void *memset(void *d, int c, size_t n) {
    uint8_t *dp = d;
    while (n--) *dp++ = (uint8_t)c;
    return d;
}

NO_LIBCALL __attribute__((noreturn)) void reset(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88 |= 0xF << 20; /* CPACR: CP10/CP11 full access */
#endif
    semihost_exit(main());
}

__attribute__((noreturn)) void fault(void) { semihost_exit(3); }

__attribute__((section(".vectors"), used)) const void *vectors[16] = {
    &_stack_top, (void *)reset, (void *)fault, (void *)fault, (void *)fault, (void *)fault,
    (void *)fault, 0, 0, 0, 0, (void *)fault, (void *)fault, 0, (void *)fault, (void *)fault,
};
