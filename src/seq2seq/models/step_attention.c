/* Scaled dot-product attention for a decoding step: a few queries per batch entry and head
 * over S keys and values, in one pass over each head's keys and one over its values.
 *
 * Built and loaded by step_attention.py (see its docstring for why this exists). Plain C11
 * with GCC/Clang vector extensions: `v16` is 16 floats, which the compiler maps to one
 * AVX-512 register, two AVX2 registers or four SSE/NEON registers for the machine it builds
 * on. No PyTorch headers, so it compiles in well under a second.
 *
 * Layouts (element strides; the last axis of every tensor is contiguous):
 *   q     [B, H, T, D]  strides (qb, qh, qt)
 *   k, v  [B, H, S, D]  strides (kb, kh, ks) and (vb, vh, vs); they may interleave in memory
 *   mask  [B, S] bytes, nonzero on positions that may be attended to; NULL: all of them
 *   out   [B, H, T, D]  strides (ob, oh, ot)
 * D must be a multiple of 16 and at most 256; T * D at most 4096.
 * A query whose every position is masked gets a zero context.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));

static inline v16 load16(const float* p) {
    v16 v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}

static inline void store16(float* p, v16 v) { memcpy(p, &v, sizeof v); }

static inline float sum16(v16 v) {
    float total = 0.f;
    for (int i = 0; i < 16; i++) total += v[i];
    return total;
}

/* scores[t * S + s] = scale * <q_t, k_s>, keys read row after row (one sequential pass). */
static void dot_scores(const float* q, int64_t qt, const float* k, int64_t ks, int64_t T,
                       int64_t S, int64_t chunks, float scale, float* scores) {
    for (int64_t s = 0; s < S; s++) {
        const float* key = k + s * ks;
        for (int64_t t = 0; t < T; t++) {
            const float* query = q + t * qt;
            v16 acc = load16(query) * load16(key);
            for (int64_t c = 1; c < chunks; c++) acc += load16(query + 16 * c) * load16(key + 16 * c);
            scores[t * S + s] = sum16(acc) * scale;
        }
    }
}

/* Each query's scores become softmax weights over the unmasked positions (0 elsewhere). */
static void softmax_rows(float* scores, int64_t T, int64_t S, const uint8_t* mask) {
    for (int64_t t = 0; t < T; t++) {
        float* row = scores + t * S;
        float top = -INFINITY;
        for (int64_t s = 0; s < S; s++)
            if ((!mask || mask[s]) && row[s] > top) top = row[s];
        float total = 0.f;
        for (int64_t s = 0; s < S; s++) {
            row[s] = (!mask || mask[s]) ? expf(row[s] - top) : 0.f;
            total += row[s];
        }
        float inv = total > 0.f ? 1.f / total : 0.f;
        for (int64_t s = 0; s < S; s++) row[s] *= inv;
    }
}

/* out_t = sum_s weights[t * S + s] * v_s, values read row after row (one sequential pass). */
static void weighted_values(const float* weights, const float* v, int64_t vs, int64_t T, int64_t S,
                            int64_t chunks, float* out, int64_t ot) {
    v16 acc[256]; /* T * chunks <= 256 */
    for (int64_t i = 0; i < T * chunks; i++) acc[i] = (v16){0};
    for (int64_t s = 0; s < S; s++) {
        const float* value = v + s * vs;
        for (int64_t c = 0; c < chunks; c++) {
            v16 x = load16(value + 16 * c);
            for (int64_t t = 0; t < T; t++) acc[t * chunks + c] += weights[t * S + s] * x;
        }
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < chunks; c++) store16(out + t * ot + 16 * c, acc[t * chunks + c]);
}

/* Returns 0, or 1 if the scratch buffer could not be allocated (nothing written then). */
int step_attention(const float* q, int64_t qb, int64_t qh, int64_t qt,
                   const float* k, int64_t kb, int64_t kh, int64_t ks,
                   const float* v, int64_t vb, int64_t vh, int64_t vs,
                   const uint8_t* mask, int64_t mb,
                   float* out, int64_t ob, int64_t oh, int64_t ot,
                   int64_t B, int64_t H, int64_t T, int64_t S, int64_t D, float scale) {
    int64_t chunks = D / 16;
    float* scores = malloc(sizeof(float) * (size_t)(T * S > 0 ? T * S : 1));
    if (!scores) return 1;
    for (int64_t b = 0; b < B; b++) {
        const uint8_t* row_mask = mask ? mask + b * mb : NULL;
        for (int64_t h = 0; h < H; h++) {
            dot_scores(q + b * qb + h * qh, qt, k + b * kb + h * kh, ks, T, S, chunks, scale, scores);
            softmax_rows(scores, T, S, row_mask);
            weighted_values(scores, v + b * vb + h * vh, vs, T, S, chunks, out + b * ob + h * oh, ot);
        }
    }
    free(scores);
    return 0;
}
