/*
 * insncount: a self-contained QEMU TCG plugin (plugin API v1, as in QEMU 7.2) that counts
 * executed guest instructions, in total and inside measured regions.
 *
 * A region starts when the instruction at address `start` executes and ends when the one at
 * `end` executes (mote's firmware marks them with `bench_start()` / `bench_end()`). Every
 * start..end pair is reported separately, so one firmware run can measure several kernels.
 *
 *   gcc -shared -fPIC -O2 -o libinsncount.so tools/insncount.c
 *   qemu-system-arm ... -plugin ./libinsncount.so,start=0x1234,end=0x1240 -kernel fw.elf
 *   -> stderr: "insncount: total=N pairs=P" then "insncount: region[i]=N" per pair
 *
 * The plugin API is a C ABI exported by the qemu binary; its declarations are restated here so
 * the plugin builds without QEMU's headers or glib.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                       void *ptr, uint64_t imm);
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                                   enum qemu_plugin_cb_flags flags, void *userdata);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
extern void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_PAIRS 256
static uint64_t total;
static uint64_t start_addr = UINT64_MAX, end_addr = UINT64_MAX;
static uint64_t open_at;
static int open;
static uint64_t regions[MAX_PAIRS];
static unsigned pairs;

static void on_start(unsigned int vcpu, void *u) {
    (void)vcpu; (void)u;
    open_at = total;
    open = 1;
}

static void on_end(unsigned int vcpu, void *u) {
    (void)vcpu; (void)u;
    if (open && pairs < MAX_PAIRS) regions[pairs++] = total - open_at;
    open = 0;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The callbacks are registered before the inline add of the same instruction, so a region
         * counts from the start marker (inclusive) to the end marker (exclusive). */
        if (pc == start_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == end_addr) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *u) {
    (void)id; (void)u;
    char line[96];
    snprintf(line, sizeof line, "insncount: total=%" PRIu64 " pairs=%u\n", total, pairs);
    qemu_plugin_outs(line);
    for (unsigned i = 0; i < pairs; i++) {
        snprintf(line, sizeof line, "insncount: region[%u]=%" PRIu64 "\n", i, regions[i]);
        qemu_plugin_outs(line);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0) start_addr = strtoull(argv[i] + 6, NULL, 0) & ~1ULL;
        else if (strncmp(argv[i], "end=", 4) == 0) end_addr = strtoull(argv[i] + 4, NULL, 0) & ~1ULL;
        else {
            fprintf(stderr, "insncount: unknown argument %s (expected start=ADDR end=ADDR)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
