package dev.steer4j;

/**
 * What the caller gave cannot be used: an argument, file, request or vector that is wrong, with a message
 * that says what and where. The CLI reports it as one line with exit status 2; anything else is a bug.
 */
public class InvalidInputException extends Steer4jException {
    /**
     * Bad input, said in one line.
     *
     * @param message what, and where
     */
    public InvalidInputException(String message) {
        super(message);
    }

    /**
     * Bad input, said in one line, with what caused it.
     *
     * @param message what, and where
     * @param cause the underlying failure
     */
    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
