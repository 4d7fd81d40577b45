package dev.steer4j.safetensors;

/**
 * Bit-exact IEEE half (binary16) and bfloat16 conversions. Java 17 has no
 * Float.float16ToFloat, so these are written out; rounding is to nearest, ties to even.
 */
public final class FloatConversions {
    private FloatConversions() {
    }

    /** binary16 bits (low 16 bits of {@code h}) to float; exact, incl. subnormals, inf and NaN. */
    public static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            // inf (mant 0) or NaN (payload kept in the top mantissa bits)
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            // zero or subnormal: mant * 2^-24, exact in float
            float f = mant * 0x1p-24f;
            return sign != 0 ? -f : f;
        }
        // rebias exponent 15 -> 127
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** float to binary16 bits, round to nearest even; overflow gives inf, NaN stays NaN. */
    public static short floatToHalf(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int exp = (x >>> 23) & 0xff;
        int mant = x & 0x7fffff;
        if (exp == 0xff) {
            if (mant == 0) {
                return (short) (sign | 0x7c00);
            }
            int m = mant >>> 13;
            return (short) (sign | 0x7c00 | (m == 0 ? 0x200 : m));
        }
        int e = exp - 112; // half biased exponent
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            // half subnormal: value = full * 2^(e-14) units of 2^-24
            int shift = 14 - e;
            if (shift > 24) {
                return (short) sign; // below half of the smallest subnormal
            }
            int full = mant | 0x800000;
            int m = full >>> shift;
            int rem = full & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rem > halfway || (rem == halfway && (m & 1) == 1)) {
                m++; // may carry into the smallest normal, which is the right encoding
            }
            return (short) (sign | m);
        }
        int h = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1)) {
            h++; // a carry into the exponent is correct, up to inf
        }
        return (short) (sign | h);
    }

    /** bfloat16 bits to float; exact (bfloat16 is the top half of a float). */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** float to bfloat16 bits, round to nearest even; NaN stays (quiet) NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((x >>> 16) | 0x0040);
        }
        int lsb = (x >>> 16) & 1;
        return (short) ((x + 0x7fff + lsb) >>> 16);
    }
}
