package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.FileSystemException;
import picocli.CommandLine.ParameterException;

/**
 * Turns an exception into one line on stderr and an exit code: 2 for bad input (the user can fix it),
 * 1 for anything else. Stack traces only with {@code STEER4J_DEBUG=1}.
 */
final class Failures {
    static final int BAD_INPUT = 2;
    static final int INTERNAL = 1;

    private Failures() {}

    static int report(Throwable t, PrintStream err) {
        Throwable cause = t instanceof UncheckedIOException && t.getCause() != null ? t.getCause() : t;
        boolean user = isUserError(cause);
        err.println("steer4j: " + (user ? "" : "internal error: ") + message(cause, user));
        if ("1".equals(System.getenv("STEER4J_DEBUG"))) {
            t.printStackTrace(err);
        }
        return user ? BAD_INPUT : INTERNAL;
    }

    static boolean isUserError(Throwable t) {
        // IllegalArgumentException is not here: the library reports bad input as InvalidInputException, so an
        // IllegalArgumentException is a bug (exit 1), not something the user can fix
        return t instanceof InvalidInputException || t instanceof ParameterException || t instanceof FileSystemException
                || t instanceof CharacterCodingException;
    }

    private static String message(Throwable t, boolean user) {
        // the JDK's messages for these are a bare path or "Input length = 1": say what went wrong
        String msg = t instanceof FileSystemException fse ? IoErrors.reason(fse) + ": " + fse.getFile()
                : t instanceof CharacterCodingException cce ? "an input file is " + IoErrors.reason(cce)
                : firstLine(t.getMessage());
        if (t instanceof ParameterException pe && pe.getCommandLine() != null) {
            msg = msg + " (see " + pe.getCommandLine().getCommandSpec().qualifiedName() + " --help)";
        }
        return user ? msg : t.getClass().getSimpleName() + ": " + msg + " (STEER4J_DEBUG=1 shows the stack trace)";
    }

    static String firstLine(String s) {
        if (s == null || s.isBlank()) return "no details";
        String trimmed = s.strip();
        int nl = trimmed.indexOf('\n');
        return nl < 0 ? trimmed : trimmed.substring(0, nl).strip();
    }
}
