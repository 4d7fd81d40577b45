package dev.steer4j.sweep;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Positions;
import dev.steer4j.request.Sampling;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a sweep runs: every module × coefficient × prompt × sample. Coefficient 0 is always among them (added if
 * not asked for): the unsteered cell of a prompt and sample is every other cell's baseline. With one sample and
 * no seed the text is greedy; otherwise sample k of every cell draws from seed + k at the temperature, so that
 * cells differ by their steering, not by their random stream.
 *
 * @param modules where to steer
 * @param vectors each module's vector: {@code [d]}, or {@code [T, d]} row-major for the modules in {@code aligned}
 * @param aligned the modules whose vector is {@code [T, d]} ({@code vector --reduce none}): row p is added at the
 *                prompt's position p, as ActAdd adds it, instead of one vector at every position
 * @param coefficients ascending, 0 included
 * @param prompts the prompts
 * @param samples continuations per prompt and setting
 * @param seed the first sample's seed (null: greedy, one sample)
 * @param temperature when sampling
 * @param maxNewTokens per continuation, at least 1
 */
public record SweepPlan(List<String> modules, Map<String, float[]> vectors, Set<String> aligned, double[] coefficients,
                        List<String> prompts, int samples, Long seed, double temperature, int maxNewTokens) {
    public SweepPlan {
        if (modules.isEmpty()) throw new InvalidInputException("no modules to sweep");
        if (prompts.isEmpty()) throw new InvalidInputException("no prompts given");
        if (samples < 1) throw new InvalidInputException("--samples must be >= 1, got " + samples);
        if (maxNewTokens < 1) throw new InvalidInputException("--max-new-tokens must be >= 1, got " + maxNewTokens);
        if (samples > 1 && seed == null) seed = 0L;
        if (seed != null && !(temperature > 0)) throw new InvalidInputException("--temperature must be > 0, got " + temperature);
        for (String m : modules) {
            if (!vectors.containsKey(m)) throw new InvalidInputException("no vector for module " + m);
        }
        coefficients = withZero(coefficients);
        modules = List.copyOf(modules);
        prompts = List.copyOf(prompts);
        vectors = Map.copyOf(vectors);
        aligned = Set.copyOf(aligned);
    }

    /** Every vector {@code [d]}, added at every position. */
    public SweepPlan(List<String> modules, Map<String, float[]> vectors, double[] coefficients, List<String> prompts,
                     int samples, Long seed, double temperature, int maxNewTokens) {
        this(modules, vectors, Set.of(), coefficients, prompts, samples, seed, temperature, maxNewTokens);
    }

    /** Where {@code module}'s vector is added: aligned with the prompt's first T positions, or at every position. */
    public Positions positions(String module) {
        return aligned.contains(module) ? Positions.ALIGNED : Positions.ALL;
    }

    private static double[] withZero(double[] coefficients) {
        List<Double> l = new ArrayList<>();
        for (double c : coefficients) {
            if (!Double.isFinite(c)) throw new InvalidInputException("--coefs: " + c + " is not a finite number");
            if (!l.contains(c)) l.add(c);
        }
        if (!l.contains(0.0)) l.add(0.0);
        return l.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    }

    /** How sample {@code k} is drawn. */
    public Sampling sampling(int k) {
        return seed == null ? Sampling.GREEDY : Sampling.sample(temperature, 0, 1.0, seed + k);
    }

    public int cells() {
        return modules.size() * coefficients.length * prompts.size() * samples;
    }
}
