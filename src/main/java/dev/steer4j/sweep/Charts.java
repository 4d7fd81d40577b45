package dev.steer4j.sweep;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.LookupPaintScale;
import org.jfree.chart.renderer.xy.DeviationRenderer;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.xy.DefaultXYZDataset;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/** The sweep's PNG plots, drawn by JFreeChart off screen (headless: no display needed). */
final class Charts {
    static final int WIDTH = 720;
    static final int HEIGHT = 420;

    static {
        System.setProperty("java.awt.headless", "true"); // before the first AWT class: no display is looked for
    }

    private Charts() {}

    /** A module × coefficient heat map of {@code values[module][coefficient]} (NaN cells left white). */
    static byte[] heatMap(String title, String legend, List<String> modules, double[] coefficients, double[][] values) {
        DefaultXYZDataset data = new DefaultXYZDataset();
        int n = modules.size() * coefficients.length;
        double[][] xyz = new double[3][n];
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        int i = 0;
        for (int m = 0; m < modules.size(); m++) {
            for (int c = 0; c < coefficients.length; c++, i++) {
                xyz[0][i] = c;
                xyz[1][i] = m;
                xyz[2][i] = values[m][c];
                if (Double.isFinite(values[m][c])) {
                    lo = Math.min(lo, values[m][c]);
                    hi = Math.max(hi, values[m][c]);
                }
            }
        }
        data.addSeries(legend, xyz);
        if (!(lo < hi)) { // one value (or none): any range that contains it
            lo = Double.isFinite(lo) ? lo - 1 : 0;
            hi = lo + 2;
        }
        LookupPaintScale scale = new LookupPaintScale(lo, hi + 1e-12 * Math.abs(hi) + 1e-300, Color.WHITE);
        for (int k = 0; k < 64; k++) {
            float t = k / 63f; // white-yellow to dark red, light to dark as the value grows
            scale.add(lo + (hi - lo) * k / 64.0, new Color(1f - 0.45f * t, 1f - 0.85f * t, 0.85f * (1 - t)));
        }
        XYBlockRenderer renderer = new XYBlockRenderer();
        renderer.setPaintScale(scale);
        String[] xLabels = new String[coefficients.length];
        for (int c = 0; c < xLabels.length; c++) xLabels[c] = number(coefficients[c]);
        SymbolAxis x = new SymbolAxis("coefficient", xLabels);
        SymbolAxis y = new SymbolAxis("module", modules.toArray(String[]::new));
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, false);
        NumberAxis legendAxis = new NumberAxis(legend);
        legendAxis.setRange(lo, hi);
        PaintScaleLegend key = new PaintScaleLegend(scale, legendAxis);
        key.setPosition(RectangleEdge.RIGHT);
        key.setMargin(4, 4, 4, 4);
        chart.addSubtitle(key);
        chart.setBackgroundPaint(Color.WHITE);
        return png(chart, WIDTH, Math.max(HEIGHT / 2, 120 + 28 * modules.size()));
    }

    /** A line with a band: the mean and mean ± one standard deviation of each coefficient's values. */
    record Band(String name, double[] coefficients, double[][] values) {}

    static byte[] curves(String title, String yLabel, List<Band> bands) {
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        for (Band b : bands) {
            YIntervalSeries s = new YIntervalSeries(b.name());
            for (int c = 0; c < b.coefficients().length; c++) {
                double[] v = b.values()[c];
                double mean = 0;
                for (double x : v) mean += x;
                mean /= v.length;
                double var = 0;
                for (double x : v) var += (x - mean) * (x - mean);
                double sd = v.length > 1 ? Math.sqrt(var / (v.length - 1)) : 0;
                s.add(b.coefficients()[c], mean, mean - sd, mean + sd);
            }
            data.addSeries(s);
        }
        DeviationRenderer renderer = new DeviationRenderer(true, true);
        Color[] colours = {new Color(0xC0392B), new Color(0x2E64C8), new Color(0x27AE60)};
        for (int i = 0; i < bands.size(); i++) {
            renderer.setSeriesPaint(i, colours[i % colours.length]);
            renderer.setSeriesFillPaint(i, colours[i % colours.length]);
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        renderer.setAlpha(0.2f);
        NumberAxis x = new NumberAxis("coefficient");
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis(yLabel);
        y.setAutoRangeIncludesZero(false);
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return png(chart, WIDTH, HEIGHT);
    }

    private static byte[] png(JFreeChart chart, int w, int h) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ChartUtils.writeChartAsPNG(out, chart, w, h);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array does not fail
        }
        return out.toByteArray();
    }

    static String number(double c) {
        return c == Math.rint(c) && Math.abs(c) < 1e15 ? String.valueOf((long) c) : String.valueOf(c);
    }
}
