package dev.steer4j;

/**
 * Told the text of a request as it is generated, token by token, on the engine's thread: keep it short and
 * never block (hand the text to another thread if it has far to go).
 */
@FunctionalInterface
public interface TextListener {
    /**
     * The text the newest token adds (empty while a character's bytes are still incomplete).
     *
     * @param delta new text
     * @return true to go on; false ends the request here, finish reason {@code STOP}
     */
    boolean onText(String delta);
}
