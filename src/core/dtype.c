/* dtype.c - dtype sizes and names, half and bfloat16 conversions. */
#include "pq_core.h"

#include <string.h>

size_t pq_dtype_size(pq_dtype dt)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: return 4;
    case PQ_DTYPE_UINT8: return 1;
    case PQ_DTYPE_INT8: return 1;
    case PQ_DTYPE_UINT16: return 2;
    case PQ_DTYPE_INT16: return 2;
    case PQ_DTYPE_INT32: return 4;
    case PQ_DTYPE_INT64: return 8;
    case PQ_DTYPE_STRING: return sizeof(char *);
    case PQ_DTYPE_BOOL: return 1;
    case PQ_DTYPE_FLOAT16: return 2;
    case PQ_DTYPE_FLOAT64: return 8;
    case PQ_DTYPE_UINT32: return 4;
    case PQ_DTYPE_UINT64: return 8;
    case PQ_DTYPE_COMPLEX64: return 8;
    case PQ_DTYPE_COMPLEX128: return 16;
    case PQ_DTYPE_BFLOAT16: return 2;
    default: return 0;
    }
}

const char *pq_dtype_name(pq_dtype dt)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: return "float32";
    case PQ_DTYPE_UINT8: return "uint8";
    case PQ_DTYPE_INT8: return "int8";
    case PQ_DTYPE_UINT16: return "uint16";
    case PQ_DTYPE_INT16: return "int16";
    case PQ_DTYPE_INT32: return "int32";
    case PQ_DTYPE_INT64: return "int64";
    case PQ_DTYPE_STRING: return "string";
    case PQ_DTYPE_BOOL: return "bool";
    case PQ_DTYPE_FLOAT16: return "float16";
    case PQ_DTYPE_FLOAT64: return "float64";
    case PQ_DTYPE_UINT32: return "uint32";
    case PQ_DTYPE_UINT64: return "uint64";
    case PQ_DTYPE_COMPLEX64: return "complex64";
    case PQ_DTYPE_COMPLEX128: return "complex128";
    case PQ_DTYPE_BFLOAT16: return "bfloat16";
    default: return "undefined";
    }
}

int pq_dtype_is_supported(pq_dtype dt)
{
    return dt > PQ_DTYPE_UNDEFINED && dt < PQ_DTYPE_COUNT && dt != PQ_DTYPE_COMPLEX64 &&
           dt != PQ_DTYPE_COMPLEX128;
}

int pq_dtype_is_float(pq_dtype dt)
{
    return dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT16 || dt == PQ_DTYPE_BFLOAT16 ||
           dt == PQ_DTYPE_FLOAT64;
}

int pq_dtype_is_integer(pq_dtype dt)
{
    switch (dt) {
    case PQ_DTYPE_UINT8: case PQ_DTYPE_INT8: case PQ_DTYPE_UINT16: case PQ_DTYPE_INT16:
    case PQ_DTYPE_INT32: case PQ_DTYPE_INT64: case PQ_DTYPE_UINT32: case PQ_DTYPE_UINT64:
        return 1;
    default:
        return 0;
    }
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float pq_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t pq_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (e <= 0) {
        if (e < -10) return sign; /* underflow to zero */
        /* subnormal: shift the full mantissa, round half to even */
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t half_val = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_val & 1u))) half_val++;
        return (uint16_t)(sign | half_val);
    }
    uint32_t half_val = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half_val & 1u))) half_val++; /* may carry into exp */
    return (uint16_t)(sign | half_val);
}

float pq_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t pq_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return (uint16_t)(u >> 16);
}
