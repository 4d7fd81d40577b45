package dev.steer4j;

/** An {@link Engine} refused a request because its queue is full; try again once some have finished. */
public class QueueFullException extends Steer4jException {
    /**
     * A refusal, said in one line.
     *
     * @param message how full, and what to do
     */
    public QueueFullException(String message) {
        super(message);
    }
}
