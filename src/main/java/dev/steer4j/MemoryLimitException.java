package dev.steer4j;

import java.util.Locale;

/**
 * A size the caller chose (slots of an engine, rows of a batch) would allocate more memory than there is: refused
 * before allocating, with the bytes needed and the bytes available. It is bad input (exit 2), and its
 * {@link #subject()} is how the caller's user named the size, so a front end can word it in its own terms
 * ({@link #withSubject}: the CLI says {@code --max-batch 1000000} where the library says "an engine of 1000000 slots").
 */
public class MemoryLimitException extends InvalidInputException {
    /** How the size was named. */
    private final String subject;
    /** Bytes the allocation needs. */
    private final long needed;
    /** Bytes there are. */
    private final long available;
    /** Which memory: "host memory", "memory on cuda:0", "Java heap". */
    private final String where;
    /** What the bytes are for. */
    private final String what;

    /**
     * {@code subject} needs {@code needed} bytes of {@code where} ("host memory", "memory on cuda:0", "Java heap")
     * for {@code what}; {@code available} bytes are there.
     *
     * @param subject how the size was named ("an engine of 1000000 slots")
     * @param needed bytes the allocation needs
     * @param available bytes there are
     * @param where which memory
     * @param what what the bytes are for
     */
    public MemoryLimitException(String subject, long needed, long available, String where, String what) {
        super(message(subject, needed, available, where, what));
        this.subject = subject;
        this.needed = needed;
        this.available = available;
        this.where = where;
        this.what = what;
    }

    /**
     * The same refusal, its size named as {@code subject}.
     *
     * @param subject the size in the caller's terms ({@code --max-batch 1000000})
     * @return a new exception, caused by this one
     */
    public MemoryLimitException withSubject(String subject) {
        MemoryLimitException e = new MemoryLimitException(subject, needed, available, where, what);
        e.initCause(this);
        return e;
    }

    /**
     * How the size was named.
     *
     * @return the subject
     */
    public String subject() {
        return subject;
    }

    /**
     * Bytes the allocation needs.
     *
     * @return the bytes
     */
    public long needed() {
        return needed;
    }

    /**
     * Bytes there are.
     *
     * @return the bytes
     */
    public long available() {
        return available;
    }

    private static String message(String subject, long needed, long available, String where, String what) {
        String need = needed == Long.MAX_VALUE ? "more than " + human(needed) + " (over " + needed + " bytes)"
                : human(needed) + " (" + needed + " bytes)";
        return subject + " needs " + need + " of " + where + " for " + what + "; " + human(available) + " ("
                + available + " bytes) are available";
    }

    /**
     * Decimal units, as disks and {@code free -h --si} count: 32.8 GB.
     *
     * @param bytes a byte count
     * @return it in words
     */
    public static String human(long bytes) {
        String[] units = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
        double v = bytes;
        int u = 0;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return u == 0 ? bytes + " bytes" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
