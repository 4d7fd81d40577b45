package dev.steer4j.runtime;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * libtorch's error text, reduced to what a user can read. A C++ exception reaches Java as a plain
 * {@link RuntimeException} whose message is libtorch's whole report: "[enforce fail at inline_container.cc:180] ."
 * prefixes, "(Could this error message be improved? …)" boilerplate, "Exception raised from …" and a C++ stack of
 * "frame #N" lines, or the TorchScript interpreter's traceback with the real error on its last lines. None of that
 * is for users; {@link #reason} keeps the one sentence that says what went wrong, or nothing if there is none.
 */
public final class TorchErrors {
    private TorchErrors() {}

    private static final Pattern ENFORCE = Pattern.compile("^\\[enforce fail at [^\\]]*\\]\\s*\\.?\\s*");
    private static final Pattern IMPROVED = Pattern.compile("\\s*\\(Could this error message be improved\\?.*$");
    // a TORCH_CHECK without a message: it names a C++ expression, which tells a user nothing
    private static final Pattern BARE_CHECK = Pattern.compile("^Expected .* to be true, but got false\\.?$");
    // the interpreter's own error after its traceback: "RuntimeError: …", "builtins.ValueError: …"
    private static final Pattern ERROR_LINE = Pattern.compile("^(?:[A-Za-z_][\\w.]*)?(?:Error|Exception): (.+)$");
    private static final String INTERPRETER = "The following operation failed in the TorchScript interpreter";

    /** Whether {@code e} is a C++ exception thrown through JavaCPP (which throws exactly RuntimeException). */
    public static boolean isNative(Throwable e) {
        return e != null && e.getClass() == RuntimeException.class;
    }

    /**
     * The one meaningful line of libtorch's message, without its C++ decorations, or null when it has none (an
     * empty message, a bare {@code Expected … to be true} check, only file and line numbers).
     */
    public static String reason(String message) {
        if (message == null) return null;
        String[] lines = message.strip().split("\\R");
        String line = lines[0].strip();
        if (line.startsWith(INTERPRETER)) {
            line = null;
            for (String l : lines) {
                Matcher m = ERROR_LINE.matcher(l.stripTrailing()); // at column 0: the traceback's code is indented
                if (m.matches()) {
                    line = m.group(1).strip();
                    break;
                }
            }
            if (line == null) return null;
        }
        line = ENFORCE.matcher(line).replaceFirst("");
        line = IMPROVED.matcher(line).replaceFirst("").strip();
        if (line.isEmpty() || BARE_CHECK.matcher(line).matches() || line.startsWith("Exception raised from")
                || line.startsWith("frame #") || line.contains("inline_container") || line.contains(".cpp:")
                || line.contains(".cc:")) {
            return null;
        }
        return line;
    }
}
