package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.generate.Generator;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.Reduce;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The built-in model, through the public API, against data the training script wrote from the corpus
 * (src/test/resources/default-model: the held-out documents, the training split's token counts and words).
 */
class BuiltInModelTest {
    static final Path DATA = Path.of("src/test/resources/default-model");
    static final int EOT = 50256;
    /** The demo's settings for the built-in model: the pair, block and coefficient the sweep chose. */
    static final String MODULE = DemoCommand.BUILT_IN_MODULE;
    static final double COEFFICIENT = DemoCommand.BUILT_IN_COEFFICIENT;
    static final String[] PROMPTS = {"I think dogs are ", "My brother is", "The people said,", "And he said unto them,"};
    // the sweep's lists (scripts/sweep_default_demo.py), chosen by meaning
    static final String[] LOVE_WORDS = {" love", " loved", " beloved", " lovely", " kindness", " mercy", " joy", " sweet",
        " gentle", " tender"};
    static final String[] HATE_WORDS = {" hate", " hated", " hatred", " wrath", " anger", " wicked", " despise", " curse",
        " fury", " cruel"};

    static Gpt2Model model;

    @BeforeAll
    static void load() {
        model = Gpt2Model.embeddedDefault(Devices.parse("cpu"));
    }

    @Test
    void heldOutPerplexityIsFarBelowTheUnigramBaseline() throws IOException {
        List<Integer> tokens = new ArrayList<>();
        for (String doc : Files.readAllLines(DATA.resolve("held-out.txt"), StandardCharsets.UTF_8)) {
            for (int id : model.tokenizer().encode(doc)) tokens.add(id);
            tokens.add(EOT);
        }
        double[] logUnigram = smoothedUnigram(DATA.resolve("train-unigram.tsv"), model.vocabSize());

        // 2048 targets spread evenly over the held-out split, each predicted from the 64 tokens before it
        int ctx = 64, targets = 2048, batch = 64;
        Generator g = new Generator(model);
        double nll = 0, unigramNll = 0;
        for (int start = 0; start < targets; start += batch) {
            int[][] contexts = new int[batch][];
            int[] next = new int[batch];
            for (int b = 0; b < batch; b++) {
                int t = ctx + (int) ((long) (start + b) * (tokens.size() - ctx - 1) / targets);
                contexts[b] = tokens.subList(t - ctx, t).stream().mapToInt(Integer::intValue).toArray();
                next[b] = tokens.get(t);
            }
            float[][] logits = g.lastLogits(contexts);
            for (int b = 0; b < batch; b++) {
                nll -= logSoftmax(logits[b], next[b]);
                unigramNll -= logUnigram[next[b]];
            }
        }
        double ppl = Math.exp(nll / targets), unigramPpl = Math.exp(unigramNll / targets);
        System.out.printf("built-in model held-out perplexity %.2f, unigram baseline %.2f (%d targets)%n",
                ppl, unigramPpl, targets);
        assertTrue(ppl < unigramPpl / 4, "perplexity " + ppl + " is not far below the unigram baseline " + unigramPpl);
    }

    /**
     * Over -c..+c (c = half the demo's coefficient), on every prompt: the love words' summed next-token
     * probability rises, and rises faster than the hate words' (their ratio rises). Not tested, because it is
     * not so: that the hate words' probability falls. In this King James model love and hate are parallel
     * verbs ("a time to love, and a time to hate"): in its training text a love word nearby makes the next word
     * a hate word twice as often (scripts/love_hate_in_corpus.py), and steering toward " love" raises " hate"
     * too, if 5-10x less than " love" (docs/DEFAULT_MODEL.md).
     */
    @Test
    void loveMinusHateRaisesLoveWordsMonotonicallyAndFasterThanHateWords() {
        int[] love = singleTokens(LOVE_WORDS);
        int[] hate = singleTokens(HATE_WORDS);
        double c = COEFFICIENT / 2;
        double[] coefficients = {-c, -c / 2, 0, c / 2, c};
        try (HookedModel hm = new HookedModel(model)) {
            float[] v = ActAdd.vector(hm, DemoCommand.BUILT_IN_POSITIVE, DemoCommand.BUILT_IN_NEGATIVE, List.of(MODULE),
                    Reduce.LAST, ActAdd.DEFAULT_PAD, true).data(MODULE);
            try (HookHandle h = hm.hookOutput(MODULE, new HookOp.Add(
                    Tensors.floats(v, new long[]{v.length}, model.device(), model.dtype()), 0, Positions.ALL, false))) {
                for (String prompt : PROMPTS) {
                    double[] pLove = new double[coefficients.length];
                    double[] pHate = new double[coefficients.length];
                    for (int k = 0; k < coefficients.length; k++) {
                        h.setCoefficient(coefficients[k]);
                        Generator g = new Generator(hm.model(), hm);
                        float[] logits = g.lastLogits(g.encode(List.of(prompt), 0))[0];
                        pLove[k] = summedProbability(logits, love);
                        pHate[k] = summedProbability(logits, hate);
                    }
                    String where = prompt + " over " + Arrays.toString(coefficients) + ": love "
                            + Arrays.toString(pLove) + ", hate " + Arrays.toString(pHate);
                    for (int k = 1; k < coefficients.length; k++) {
                        assertTrue(pLove[k] > pLove[k - 1], "love words' probability rises: " + where);
                        assertTrue(pLove[k] / pHate[k] > pLove[k - 1] / pHate[k - 1], "love:hate rises: " + where);
                    }
                    assertTrue(pLove[4] > 1.5 * pLove[0], "a visible rise: " + where);
                }
            }
        }
    }

    @Test
    void unsteeredGreedyContinuationOfTheSeedPromptIsRealWords() throws IOException {
        Set<String> words = new HashSet<>(Files.readAllLines(DATA.resolve("train-words.txt"), StandardCharsets.UTF_8));
        String text;
        try (dev.steer4j.session.SteeringSession s = dev.steer4j.session.SteeringSession.open(model)) {
            text = s.generate(List.of("I think dogs are "), 10, Sampling.GREEDY).get(0).text();
        }
        List<String> found = new ArrayList<>();
        Matcher m = Pattern.compile("\\p{L}+").matcher(text);
        while (m.find()) {
            // the 10-token limit can cut the last word in two: judge it only if the text goes on after it
            if (m.end() < text.length() || !Character.isLetter(text.charAt(text.length() - 1))) found.add(m.group());
        }
        assertTrue(found.size() >= 3, "at least three words in " + text);
        for (String w : found) {
            assertTrue(words.contains(w.toLowerCase()), "\"" + w + "\" in \"" + text + "\" is a word of the corpus");
        }
    }

    @Test
    void demoSteersVisiblyOnEveryPrompt() {
        com.fasterxml.jackson.databind.JsonNode demo = Cli.run("demo", "--json").okJson();
        assertEquals(MODULE, demo.get("module").asText());
        assertEquals(COEFFICIENT, demo.get("coefficient").asDouble());
        assertEquals(DemoCommand.PROMPTS.size(), demo.get("prompts").size());
        for (com.fasterxml.jackson.databind.JsonNode p : demo.get("prompts")) {
            String plain = p.get("runs").get(0).get("text").asText();
            String up = p.get("runs").get(1).get("text").asText();
            String down = p.get("runs").get(2).get("text").asText();
            assertTrue(!up.equals(plain) && !down.equals(plain) && !up.equals(down),
                    p.get("prompt") + ": +c, -c and unsteered differ: " + plain + " | " + up + " | " + down);
        }
    }

    @Test
    void shapeIsWhatTheModelCardSays() {
        assertEquals(50257, model.vocabSize());
        assertEquals(4, model.layers());
        assertEquals(128, model.width());
        assertEquals(128, model.maxPositions());
    }

    private int[] singleTokens(String[] words) {
        int[] ids = new int[words.length];
        for (int i = 0; i < words.length; i++) {
            int[] t = model.tokenizer().encode(words[i]);
            assertEquals(1, t.length, words[i] + " is one token");
            ids[i] = t[0];
        }
        return ids;
    }

    static double summedProbability(float[] logits, int[] ids) {
        double logZ = logNormalizer(logits);
        double sum = 0;
        for (int id : ids) sum += Math.exp(logits[id] - logZ);
        return sum;
    }

    static double logSoftmax(float[] logits, int id) {
        return logits[id] - logNormalizer(logits);
    }

    /** log Σ exp(logits), computed stably. */
    static double logNormalizer(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double z = 0;
        for (float x : logits) z += Math.exp(x - max);
        return max + Math.log(z);
    }

    /** log p(token) of the training split's counts with add-one smoothing over the whole vocabulary. */
    static double[] smoothedUnigram(Path tsv, int vocab) {
        double[] counts = new double[vocab];
        Arrays.fill(counts, 1);
        try {
            for (String line : Files.readAllLines(tsv)) {
                String[] f = line.split("\t");
                counts[Integer.parseInt(f[0])] += Long.parseLong(f[1]);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        double total = Arrays.stream(counts).sum();
        double[] log = new double[vocab];
        for (int i = 0; i < vocab; i++) log[i] = Math.log(counts[i] / total);
        return log;
    }
}
