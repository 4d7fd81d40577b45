package dev.steer4j.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** The {@code steer4j} command: parses arguments, runs one subcommand and maps failures to exit codes. */
@Command(name = "steer4j", mixinStandardHelpOptions = true, version = "steer4j 0.1.0",
        description = "Activation steering of GPT-2 on libtorch.",
        subcommands = {ConvertCommand.class, TokenizeCommand.class, LogitsCommand.class, GenerateCommand.class,
                ModulesCommand.class, ActivationsCommand.class, VectorCommand.class, DemoCommand.class, BenchCommand.class,
                ExportCommand.class, BatchCommand.class, SweepCommand.class, VectorInfoCommand.class, ServeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    private final PrintStream out;
    private final PrintStream err;

    @Spec
    CommandSpec spec;

    Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    /** Where results go (JSON or text); nothing else is written there. */
    PrintStream out() {
        return out;
    }

    /** Where summaries of side effects, progress and errors go. */
    PrintStream err() {
        return err;
    }

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(),
                "missing subcommand: use convert, tokenize, logits or generate");
    }

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /** Runs the command line and returns its exit code: 0 ok, 2 bad input, 1 internal failure. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            CommandLine cl = new CommandLine(new Main(out, err));
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            cl.setParameterExceptionHandler((ex, a) -> Failures.report(ex, err));
            cl.setExecutionExceptionHandler((ex, c, parsed) -> Failures.report(ex, err));
            int code = cl.execute(args);
            // a PrintStream keeps write errors to itself: without this, `> out.json` on a full disk would exit 0
            if (out.checkError()) {
                err.println("steer4j: cannot write standard output (is the disk full or the pipe closed?)");
                return code == 0 ? Failures.BAD_INPUT : code;
            }
            return code;
        } catch (Throwable t) {
            // Errors (e.g. a native library that fails to link) bypass picocli's handlers
            return Failures.report(t, err);
        } finally {
            out.flush();
            err.flush();
        }
    }
}
