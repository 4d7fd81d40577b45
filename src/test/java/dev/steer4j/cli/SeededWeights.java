package dev.steer4j.cli;

import java.nio.charset.StandardCharsets;

/** The seeded fill of native/host/fill.h, written again from its documentation (not from its code). */
final class SeededWeights {
    private SeededWeights() {}

    static double[] values(String name, int rank, long seed, int count) {
        boolean layerNorm = rank == 1 && name.endsWith(".weight");
        double mean = layerNorm ? 1 : 0;
        double std = layerNorm ? 0.1 : 0.02;
        long key = fnv1a64(name) ^ (seed * 0x9E3779B97F4A7C15L);
        double[] out = new double[count];
        for (int i = 0; i < count; i++) {
            double u = (splitmix64(key + i) >>> 11) * 0x1.0p-53;
            out[i] = (float) (mean + std * Math.sqrt(3) * (2 * u - 1));
        }
        return out;
    }

    static long fnv1a64(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    static long splitmix64(long x) {
        x += 0x9E3779B97F4A7C15L;
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }
}
