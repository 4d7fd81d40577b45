package dev.steer4j;

/**
 * What steer4j's library throws when it cannot do what it was asked. Catch this to handle every steer4j
 * failure; {@link InvalidInputException} is the kind the caller can fix.
 */
public class Steer4jException extends RuntimeException {
    /**
     * A failure, said in one line.
     *
     * @param message what, and where
     */
    public Steer4jException(String message) {
        super(message);
    }

    /**
     * A failure, said in one line, with what caused it.
     *
     * @param message what, and where
     * @param cause the underlying failure
     */
    public Steer4jException(String message, Throwable cause) {
        super(message, cause);
    }
}
