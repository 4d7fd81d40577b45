package dev.steer4j.bench;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Median, min and max of repeated measurements. */
record Stats(double median, double min, double max) {
    static Stats of(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        return new Stats(median, s[0], s[n - 1]);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("median", median);
        m.put("min", min);
        m.put("max", max);
        return m;
    }
}
