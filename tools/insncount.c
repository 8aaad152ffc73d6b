/*
 * insncount: a self-contained QEMU TCG plugin (plugin API v1, QEMU 7.2; no header, no glib)
 * counting guest instructions exactly, in total and inside a region delimited by two PCs.
 *
 * Build:  gcc -shared -fPIC -O2 -o tools/libinsncount.so tools/insncount.c
 * Use:    qemu-system-arm ... -icount shift=0 \
 *             -plugin tools/libinsncount.so,start=0xADDR,end=0xADDR[,verbose=on]
 * Output (written to stderr, at exit):  insncount: total=N region=R pairs=P [min=.. max=..]
 *
 * Every executed instruction adds 1 to a 64-bit counter (an inline add, so the count is exact and
 * deterministic). When the instruction at `start` executes, the counter is snapshotted; when the
 * instruction at `end` executes, the difference is added to `region` and `pairs` is incremented.
 * So one pair counts the instructions from the first instruction of `start` (inclusive) to the
 * first instruction of `end` (exclusive), e.g. the body of a `bench_start()` marker function, the
 * measured code, and the call into `bench_end()`. Divide `region` by `pairs` for a per-call figure.
 * Thumb symbol addresses have bit 0 set (readelf shows them odd); it is cleared here.
 * An `end` without a preceding `start` is ignored. Single vCPU guests only (a Cortex-M).
 *
 * QEMU >= 9 removed the v1 inline API (qemu_plugin_register_vcpu_insn_exec_inline); this file
 * targets the Debian 12 QEMU 7.2 this project uses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- The subset of qemu-plugin.h (API v1) used here, declared by hand. --- */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t; /* opaque: not read */

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                                  qemu_plugin_vcpu_tb_trans_cb_t cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                       enum qemu_plugin_op op, void *ptr,
                                                       uint64_t imm);
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                                   qemu_plugin_vcpu_udata_cb_t cb,
                                                   enum qemu_plugin_cb_flags flags,
                                                   void *userdata);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                           void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* --- State (single vCPU). --- */
static uint64_t total;
static uint64_t snapshot;
static int in_region;
static uint64_t region, pairs, min_pair = UINT64_MAX, max_pair;
static uint64_t start_pc, end_pc;
static int have_region, verbose;

static void on_start(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    snapshot = total;
    in_region = 1;
}

static void on_end(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (!in_region) return;
    uint64_t d = total - snapshot;
    region += d;
    pairs++;
    if (d < min_pair) min_pair = d;
    if (d > max_pair) max_pair = d;
    in_region = 0;
    if (verbose) {
        fprintf(stderr, "insncount: pair %llu: %llu\n", (unsigned long long)pairs,
                (unsigned long long)d);
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* Callbacks first: they see the counter before this instruction is counted. */
        if (have_region && pc == start_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (have_region && pc == end_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
    }
}

static void on_atexit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    char buf[256];
    if (have_region && pairs > 0)
        snprintf(buf, sizeof buf, "insncount: total=%llu region=%llu pairs=%llu min=%llu max=%llu\n",
                 (unsigned long long)total, (unsigned long long)region,
                 (unsigned long long)pairs, (unsigned long long)min_pair,
                 (unsigned long long)max_pair);
    else
        snprintf(buf, sizeof buf, "insncount: total=%llu region=%llu pairs=%llu\n",
                 (unsigned long long)total, (unsigned long long)region,
                 (unsigned long long)pairs);
    /* stderr directly: qemu_plugin_outs() only prints with `-d plugin`. */
    fputs(buf, stderr);
    fflush(stderr);
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info, int argc,
                                                               char **argv) {
    (void)info;
    int got_start = 0, got_end = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "start=", 6) == 0 && parse_u64(a + 6, &start_pc) == 0) {
            got_start = 1;
        } else if (strncmp(a, "end=", 4) == 0 && parse_u64(a + 4, &end_pc) == 0) {
            got_end = 1;
        } else if (strcmp(a, "verbose=on") == 0) {
            verbose = 1;
        } else {
            fprintf(stderr, "insncount: bad argument '%s' (expected start=ADDR, end=ADDR, verbose=on)\n", a);
            return -1;
        }
    }
    if (got_start != got_end) {
        fprintf(stderr, "insncount: give both start= and end=, or neither\n");
        return -1;
    }
    have_region = got_start;
    start_pc &= ~(uint64_t)1; /* Thumb bit */
    end_pc &= ~(uint64_t)1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
