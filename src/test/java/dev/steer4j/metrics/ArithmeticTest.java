package dev.steer4j.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The metrics' formulas on inputs small enough to work out by hand. */
class ArithmeticTest {
    @Test
    void probabilityMassAndKlByHand() {
        // logits ln 1, ln 2, ln 3, ln 4: probabilities 0.1, 0.2, 0.3, 0.4
        float[] logits = {0f, (float) Math.log(2), (float) Math.log(3), (float) Math.log(4)};
        double[] logp = NextToken.logSoftmax(logits);
        assertEquals(0.1, Math.exp(logp[0]), 1e-7);
        assertEquals(0.6, NextToken.mass(logp, new int[]{1, 3}), 1e-7);
        double[] uniform = NextToken.logSoftmax(new float[]{5, 5, 5, 5});
        double kl = 0.1 * Math.log(0.4) + 0.2 * Math.log(0.8) + 0.3 * Math.log(1.2) + 0.4 * Math.log(1.6);
        assertEquals(kl, NextToken.kl(logp, uniform), 1e-7);
        assertEquals(0, NextToken.kl(logp, logp));
    }

    @Test
    void distinctBigramsByHand() {
        assertEquals(1.0, Repetition.distinct2(new int[]{7}));
        assertEquals(1.0, Repetition.distinct2(new int[]{1, 2, 3, 4}));
        assertEquals(1 / 4.0, Repetition.distinct2(new int[]{5, 5, 5, 5, 5}));
        assertEquals(2 / 4.0, Repetition.distinct2(new int[]{1, 2, 1, 2, 1})); // (1,2) (2,1) (1,2) (2,1)
    }

    @Test
    void aggregateIsAHarmonicMeanAndZeroWhenEitherIs() {
        assertEquals(0.48, Aggregate.harmonicMean(0.4, 0.6), 1e-12);
        assertEquals(0, Aggregate.harmonicMean(0, 1));
        assertEquals(0, Aggregate.harmonicMean(1, 0));
        Aggregate.Setting s = new Aggregate.Setting("m", 1);
        // rise 0.2 of a largest 0.4 → 0.5; perplexity 10 → 20 → fluency 0.5; harmonic mean 0.5
        Aggregate.Cell c = new Aggregate.Cell(s, 0, 0.3, 0.1, 20, 10);
        assertEquals(0.5, Aggregate.score(c, 0.4), 1e-12);
        // a concept that fell scores 0 however fluent
        assertEquals(0, Aggregate.score(new Aggregate.Cell(s, 0, 0.05, 0.1, 10, 10), 0.4));
    }

    /**
     * Setting A is best on the selection prompts (0, 2), B on the report prompts (1, 3): A is chosen; and whatever
     * the report half holds, the choice does not change.
     */
    @Test
    void theBestSettingIsChosenOnTheSelectionHalfOnly() {
        Aggregate.Setting a = new Aggregate.Setting("m", 1);
        Aggregate.Setting b = new Aggregate.Setting("m", 2);
        for (double reportB : new double[]{0.0, 0.5, 5.0}) {
            List<Aggregate.Cell> cells = new ArrayList<>();
            for (int p = 0; p < 4; p++) {
                boolean selection = p % 2 == 0;
                cells.add(new Aggregate.Cell(a, p, selection ? 1.0 : 0.1, 0, 10, 10));
                cells.add(new Aggregate.Cell(b, p, selection ? 0.5 : reportB, 0, 10, 10));
            }
            Aggregate.Choice choice = Aggregate.choose(cells, 4);
            assertEquals(a, choice.best(), "report B = " + reportB);
            assertEquals(1.0, choice.selectionScore(), 1e-12);
            // on the report half, rise 0.1 of the selection's largest 1.0: concept 0.1, fluency 1
            assertEquals(Aggregate.harmonicMean(0.1, 1), choice.reportScore(), 1e-12);
            assertEquals(true, choice.heldOut());
        }
        // one prompt: no other half to report on
        Aggregate.Choice one = Aggregate.choose(List.of(new Aggregate.Cell(a, 0, 1, 0, 10, 10)), 1);
        assertEquals(false, one.heldOut());
    }
}
