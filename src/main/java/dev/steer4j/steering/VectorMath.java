package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;

/** Small float-vector arithmetic on the host, accumulated in double. */
public final class VectorMath {
    private VectorMath() {}

    public static float[] sub(float[] a, float[] b) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i] - b[i];
        return out;
    }

    public static float[][] sub(float[][] a, float[][] b) {
        float[][] out = new float[a.length][];
        for (int i = 0; i < a.length; i++) out[i] = sub(a[i], b[i]);
        return out;
    }

    public static float[] mean(float[][] rows) {
        double[] acc = new double[rows[0].length];
        for (float[] r : rows) for (int j = 0; j < r.length; j++) acc[j] += r[j];
        float[] out = new float[acc.length];
        for (int j = 0; j < acc.length; j++) out[j] = (float) (acc[j] / rows.length);
        return out;
    }

    public static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    public static float[] unit(float[] v) {
        double n = norm(v);
        if (n == 0) throw new InvalidInputException("cannot normalise a zero vector (the two prompts give the same activation)");
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (float) (v[i] / n);
        return out;
    }

    public static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    public static float[] flatten(float[][] m) {
        float[] out = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[i].length);
        return out;
    }
}
