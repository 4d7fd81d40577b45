package dev.steer4j;

/** A problem with what the user asked for or gave us: reported as one line, exit status 2. */
public class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
