/* 256 in x 256 out fully connected layer, batch 1, int32 bias: CMSIS-NN's per-channel and
 * per-tensor s8 kernels, each run once between bench_start() and bench_end(). */
#include <stdint.h>

#include "arm_nnfunctions.h"

#define N 256

void bench_start(void);
void bench_end(void);

static int8_t weights[N * N];
static int8_t input[N];
static int8_t output[N];
static int32_t bias[N];
static int32_t mult[N];
static int32_t shift[N];

static uint32_t rng = 0x9E3779B9u;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

int main(void) {
    for (int i = 0; i < N * N; i++) weights[i] = (int8_t)(next() >> 24);
    for (int i = 0; i < N; i++) {
        input[i] = (int8_t)(next() >> 24);
        mult[i] = 1 << 30;
        shift[i] = -8;
    }
    cmsis_nn_context ctx = {0, 0};
    cmsis_nn_fc_params fc = {.input_offset = 3, .filter_offset = 0, .output_offset = 5,
                             .activation = {-128, 127}};
    cmsis_nn_dims in_dims = {1, 1, 1, N}, filter_dims = {N, 1, 1, N}, bias_dims = {1, 1, 1, N},
                  out_dims = {1, 1, 1, N};
    cmsis_nn_per_channel_quant_params pc = {mult, shift};
    cmsis_nn_per_tensor_quant_params pt = {1 << 30, -8};

    bench_start();
    arm_cmsis_nn_status s1 = arm_fully_connected_per_channel_s8(
        &ctx, &fc, &pc, &in_dims, input, &filter_dims, weights, &bias_dims, bias, &out_dims, output);
    bench_end();
    bench_start();
    arm_cmsis_nn_status s2 = arm_fully_connected_s8(&ctx, &fc, &pt, &in_dims, input, &filter_dims,
                                                    weights, &bias_dims, bias, &out_dims, output);
    bench_end();
    return (s1 == ARM_CMSIS_NN_SUCCESS && s2 == ARM_CMSIS_NN_SUCCESS) ? 0 : 1;
}
