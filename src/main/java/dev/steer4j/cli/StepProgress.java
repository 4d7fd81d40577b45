package dev.steer4j.cli;

import java.io.PrintStream;
import java.util.function.IntConsumer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar over generation steps on stderr, or nothing when disabled. */
final class StepProgress implements IntConsumer, AutoCloseable {
    private final ProgressBar bar;

    StepProgress(PrintStream err, int steps, boolean enabled) {
        // a fixed width keeps the library from probing the terminal; no colour codes when piped
        ProgressBarStyle style = System.console() != null
                ? ProgressBarStyle.COLORFUL_UNICODE_BLOCK : ProgressBarStyle.ASCII;
        bar = enabled ? new ProgressBarBuilder().setTaskName("generating").setInitialMax(steps).setStyle(style)
                .setConsumer(new ConsoleProgressBarConsumer(err, 80)).build() : null;
    }

    @Override
    public void accept(int stepsDone) {
        if (bar != null) bar.stepTo(stepsDone);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
